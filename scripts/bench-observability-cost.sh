#!/usr/bin/env bash
# What metrics and the web console cost: sync sends (rmq-bench produce, 1 KiB) against a
# release `standalone`, alternating two set-ups on fresh data directories, PASSES pairs
# (the order flipped every pair, as the first run of a pair tends to be faster here):
#   off   no metrics endpoint, no console
#   on    --metrics-port and --dashboard-port, /metrics scraped and the console's topic
#         page and plot series fetched every second during the run
# Prints a Markdown table (medians) to stdout.
#
#   scripts/bench-observability-cost.sh      # PASSES=3 DURATION=15 PRODUCERS=64 SIZE=1024
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin="${BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}"
passes="${PASSES:-3}"
duration="${DURATION:-15}"
producers="${PRODUCERS:-64}"
size="${SIZE:-1024}"
if [ ! -x "$bin/standalone" ] || [ ! -x "$bin/rmq-bench" ]; then
  cargo build --release -p rocketmq-broker --bin standalone -p rmq-bench
fi
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

run() { # off|on -> "msg/s p99_ms scrapes"
  local mode=$1 extra=()
  rm -rf "${work:?}"/*
  [ "$mode" = on ] && extra=(--metrics-port 19557 --dashboard-port 19080)
  "$bin/standalone" --data "$work/data" --namesrv-port 19876 --broker-port 19911 "${extra[@]}" > "$work/sa.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do grep -q "boot success" "$work/sa.log" && break; sleep 0.1; done
  local scraper="" scrapes=0
  if [ "$mode" = on ]; then
    ( n=0; while :; do
        curl -sf http://127.0.0.1:19557/metrics > /dev/null && n=$((n + 1))
        curl -sf http://127.0.0.1:19080/topics > /dev/null
        curl -sf "http://127.0.0.1:19080/api/series" > /dev/null
        echo $n > "$work/scrapes"; sleep 1
      done ) &
    scraper=$!
  fi
  local out
  out=$("$bin/rmq-bench" produce --namesrv 127.0.0.1:19876 --topic ObsBench --queues 8 \
    --producers "$producers" --size "$size" --duration "$duration" 2>/dev/null | tail -1)
  if [ -n "$scraper" ]; then kill "$scraper" 2>/dev/null; wait "$scraper" 2>/dev/null || true; scrapes=$(cat "$work/scrapes" 2>/dev/null || echo 0); fi
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=""
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(round(d["tps"]), d["p99_ms"], sys.argv[2])' "$out" "$scrapes"
}

declare -A results
for pass in $(seq 1 "$passes"); do
  order="off on"; [ $((pass % 2)) = 0 ] && order="on off"
  for mode in $order; do
    r=$(run "$mode")
    echo "pass $pass $mode: $r" >&2
    results[$mode]+="$r;"
  done
done

echo "| set-up | msg/s (median) | p99 ms (median) | passes (msg/s) | scrapes per run |"
echo "|---|---|---|---|---|"
for mode in off on; do
  python3 - "$mode" "${results[$mode]}" <<'PY'
import sys, statistics
mode, raw = sys.argv[1], sys.argv[2]
rows = [r.split() for r in raw.split(';') if r.strip()]
tps = [float(r[0]) for r in rows]
p99 = [float(r[1]) for r in rows]
label = {"off": "metrics and console off", "on": "both on, scraped every second"}[mode]
print(f"| {label} | {statistics.median(tps):,.0f} | {round(statistics.median(p99), 2)} | {', '.join(f'{t:,.0f}' for t in tps)} | {', '.join(r[2] for r in rows)} |")
PY
done
