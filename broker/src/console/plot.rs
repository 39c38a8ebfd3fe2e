//! Hand-drawn SVG line charts of the last hour. The page's script (assets/console.js)
//! draws the same chart from `/api/series` when it refreshes; both follow this layout.

use std::fmt::Write;

use super::html::esc;
use super::samples::{Chart, ChartData};

pub const WIDTH: f64 = 760.0;
pub const HEIGHT: f64 = 240.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;
/// The x axis spans the shortest of these (ms) that holds every sample: an hour at most.
pub const WINDOWS_MS: [i64; 9] = [
    60_000, 120_000, 180_000, 300_000, 600_000, 900_000, 1_200_000, 1_800_000, 3_600_000,
];

/// The time span drawn for samples from `first` to `end`.
pub fn window_ms(first: Option<i64>, end: i64) -> i64 {
    let span = first.map_or(0, |f| end - f);
    WINDOWS_MS.into_iter().find(|w| *w >= span).unwrap_or(3_600_000)
}

/// A tick's label: how long before the end, in minutes when whole, else seconds.
pub fn ago(ms: i64) -> String {
    if ms == 0 {
        "now".into()
    } else if ms % 60_000 == 0 {
        format!("-{}m", ms / 60_000)
    } else if ms > 60_000 {
        format!("-{}m{}s", ms / 60_000, ms % 60_000 / 1000)
    } else {
        format!("-{}s", ms / 1000)
    }
}

pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
];

/// The smallest 1, 2 or 5 times a power of ten at or above `x` (at least 1).
pub fn nice_max(x: f64) -> f64 {
    if !x.is_finite() || x <= 1.0 {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= x {
            return m * p;
        }
    }
    10.0 * p
}

/// A number as the axis and legend show it.
pub fn short(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x.abs() >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x.abs() >= 1e4 {
        format!("{:.1}k", x / 1e3)
    } else if x.fract().abs() < 1e-9 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// The chart as an `<svg>` element followed by its legend.
pub fn render(chart: Chart, data: &ChartData, now: i64) -> String {
    let mut out = String::new();
    let end = data.times.last().copied().unwrap_or(now).max(now);
    let window = window_ms(data.times.first().copied(), end);
    let start = end - window;
    let peak = data
        .series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max);
    let ymax = nice_max(peak);
    let (w, h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x_of = |t: i64| LEFT + w * ((t - start) as f64 / window as f64).clamp(0.0, 1.0);
    let y_of = |v: f64| TOP + h * (1.0 - (v / ymax).clamp(0.0, 1.0));
    let _ = write!(
        out,
        r#"<svg class="plot" data-chart="{}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}">"#,
        chart.name(),
        esc(chart.title())
    );
    // Grid and axes.
    for i in 0..=4 {
        let v = ymax * i as f64 / 4.0;
        let y = y_of(v);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT + w,
            LEFT - 6.0,
            y + 4.0,
            short(v)
        );
    }
    for i in 0..=6 {
        let x = LEFT + w * i as f64 / 6.0;
        let label = ago(window * (6 - i) / 6);
        let _ = write!(
            out,
            r#"<line class="tick" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}"/><text class="axis" x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            TOP + h,
            TOP + h + 4.0,
            HEIGHT - 8.0
        );
    }
    let drawn = data
        .series
        .iter()
        .filter(|(_, v)| v.iter().any(|x| x.is_finite()))
        .count();
    if drawn == 0 {
        let _ = write!(
            out,
            r#"<text class="empty" x="{:.1}" y="{:.1}" text-anchor="middle">no data yet</text>"#,
            LEFT + w / 2.0,
            TOP + h / 2.0
        );
    }
    for (i, (key, values)) in data.series.iter().enumerate() {
        let mut d = String::new();
        let mut pen_down = false;
        for (t, v) in data.times.iter().zip(values) {
            if !v.is_finite() || *t < start {
                pen_down = false;
                continue;
            }
            let _ = write!(
                d,
                "{}{:.1} {:.1}",
                if pen_down { " L" } else { " M" },
                x_of(*t),
                y_of(*v)
            );
            pen_down = true;
        }
        let _ = write!(
            out,
            r#"<path class="series" data-key="{}" stroke="{}" d="{}"><title>{}</title></path>"#,
            esc(key),
            PALETTE[i % PALETTE.len()],
            d.trim(),
            esc(key)
        );
    }
    out.push_str("</svg>");
    out.push_str(r#"<ul class="legend">"#);
    for (i, (key, values)) in data.series.iter().enumerate() {
        let last = values.last().copied().unwrap_or(f64::NAN);
        let _ = write!(
            out,
            r#"<li><span class="swatch" style="background:{}"></span>{} <b>{}</b></li>"#,
            PALETTE[i % PALETTE.len()],
            esc(key),
            short(last)
        );
    }
    out.push_str("</ul>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_and_paths() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.2), 5.0);
        assert_eq!(nice_max(10.0), 10.0);
        assert_eq!(nice_max(11.0), 20.0);
        assert_eq!(window_ms(None, 5), 60_000);
        assert_eq!(window_ms(Some(0), 150_000), 180_000);
        assert_eq!(window_ms(Some(0), 9_000_000), 3_600_000);
        assert_eq!(
            (ago(0), ago(600_000), ago(30_000)),
            ("now".into(), "-10m".into(), "-30s".into())
        );
        assert_eq!(ago(150_000), "-2m30s");
        let data = ChartData {
            times: vec![1_000_000, 1_010_000, 1_020_000],
            series: vec![("T<1>".into(), vec![f64::NAN, 2.0, 4.0])],
        };
        let svg = render(Chart::Put, &data, 1_020_000);
        assert!(svg.contains(r#"data-key="T&lt;1&gt;""#), "{svg}");
        assert!(svg.contains(" L"), "a line is drawn: {svg}");
        assert!(!svg.contains("no data yet"));
        let empty = render(Chart::Lag, &ChartData::default(), 0);
        assert!(empty.contains("no data yet"));
    }
}
