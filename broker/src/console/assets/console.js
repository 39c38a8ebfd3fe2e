// The console's only script, served from the binary: every few seconds it fetches
// /api/series and redraws each chart (<div class="chart" data-chart=NAME [data-key=KEY]>)
// as an SVG with the same layout the server draws (broker/src/console/plot.rs).
(function () {
  "use strict";
  var W = 760, H = 240, L = 60, R = 12, T = 10, B = 26;
  // The x axis spans the shortest of these (ms) that holds every sample: an hour at most.
  var WINDOWS = [60000, 120000, 180000, 300000, 600000, 900000, 1200000, 1800000, 3600000];
  var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
  var NS = "http://www.w3.org/2000/svg";

  function niceMax(x) {
    if (!isFinite(x) || x <= 1) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(x)));
    var m = [1, 2, 5, 10];
    for (var i = 0; i < m.length; i++) if (m[i] * p >= x) return m[i] * p;
    return 10 * p;
  }
  function short(x) {
    if (x === null || !isFinite(x)) return "-";
    if (Math.abs(x) >= 1e6) return (x / 1e6).toFixed(1) + "M";
    if (Math.abs(x) >= 1e4) return (x / 1e3).toFixed(1) + "k";
    return Math.abs(x - Math.round(x)) < 1e-9 ? String(Math.round(x)) : x.toFixed(2);
  }
  function windowMs(first, end) {
    var span = first === undefined ? 0 : end - first;
    for (var i = 0; i < WINDOWS.length; i++) if (WINDOWS[i] >= span) return WINDOWS[i];
    return 3600000;
  }
  function ago(ms) {
    if (ms === 0) return "now";
    if (ms % 60000 === 0) return "-" + ms / 60000 + "m";
    if (ms > 60000) return "-" + Math.floor(ms / 60000) + "m" + Math.floor((ms % 60000) / 1000) + "s";
    return "-" + Math.floor(ms / 1000) + "s";
  }
  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function draw(div, chart, title, times, series, now) {
    var keys = Object.keys(series);
    var only = div.getAttribute("data-key");
    if (only !== null) keys = keys.filter(function (k) { return k === only; });
    var end = Math.max(now, times.length ? times[times.length - 1] : now);
    var win = windowMs(times[0], end), start = end - win;
    var peak = 0;
    keys.forEach(function (k) { series[k].forEach(function (v) { if (v !== null && v > peak) peak = v; }); });
    var ymax = niceMax(peak), w = W - L - R, h = H - T - B;
    var x = function (t) { return L + w * Math.min(1, Math.max(0, (t - start) / win)); };
    var y = function (v) { return T + h * (1 - Math.min(1, Math.max(0, v / ymax))); };
    var svg = el("svg", { "class": "plot", "data-chart": chart, viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img", "aria-label": title });
    for (var i = 0; i <= 4; i++) {
      var v = ymax * i / 4, yy = y(v).toFixed(1);
      svg.appendChild(el("line", { "class": "grid", x1: L, y1: yy, x2: (L + w).toFixed(1), y2: yy }));
      svg.appendChild(el("text", { "class": "axis", x: (L - 6).toFixed(1), y: (y(v) + 4).toFixed(1), "text-anchor": "end" }, short(v)));
    }
    for (var j = 0; j <= 6; j++) {
      var xx = (L + w * j / 6).toFixed(1);
      svg.appendChild(el("line", { "class": "tick", x1: xx, y1: (T + h).toFixed(1), x2: xx, y2: (T + h + 4).toFixed(1) }));
      svg.appendChild(el("text", { "class": "axis", x: xx, y: (H - 8).toFixed(1), "text-anchor": "middle" }, ago(Math.round(win * (6 - j) / 6))));
    }
    var drawn = 0;
    var legend = document.createElement("ul");
    legend.className = "legend";
    keys.forEach(function (k, n) {
      var d = "", down = false, values = series[k], last = null;
      for (var i = 0; i < times.length && i < values.length; i++) {
        var val = values[i];
        last = val;
        if (val === null || times[i] < start) { down = false; continue; }
        d += (down ? " L" : " M") + x(times[i]).toFixed(1) + " " + y(val).toFixed(1);
        down = true;
      }
      if (d) drawn++;
      var colour = PALETTE[n % PALETTE.length];
      var path = el("path", { "class": "series", "data-key": k, stroke: colour, d: d.trim() });
      path.appendChild(el("title", {}, k));
      svg.appendChild(path);
      var li = document.createElement("li");
      var sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = colour;
      var b = document.createElement("b");
      b.textContent = short(last);
      li.appendChild(sw);
      li.appendChild(document.createTextNode(k + " "));
      li.appendChild(b);
      legend.appendChild(li);
    });
    if (!drawn) svg.appendChild(el("text", { "class": "empty", x: (L + w / 2).toFixed(1), y: (T + h / 2).toFixed(1), "text-anchor": "middle" }, "no data yet"));
    div.replaceChildren(svg, legend);
  }
  function refresh() {
    var charts = document.querySelectorAll("div.chart[data-chart]");
    if (!charts.length) return;
    var key = charts[0].getAttribute("data-key");
    var url = "/api/series" + (key !== null ? "?key=" + encodeURIComponent(key) : "");
    fetch(url, { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (data) {
      charts.forEach(function (div) {
        var name = div.getAttribute("data-chart"), c = data.charts[name];
        if (c) draw(div, name, c.title, data.times, c.series, data.now);
      });
      document.documentElement.setAttribute("data-refreshed", String(data.now));
    }).catch(function () {});
  }
  refresh();
  setInterval(refresh, 5000);
})();
