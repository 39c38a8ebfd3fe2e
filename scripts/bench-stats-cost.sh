#!/usr/bin/env bash
# The cost of the broker statistics on the send path: 64 producers, 1 KiB sync sends, against
# a release `standalone` server with enableBrokerStats=true and =false, alternating, each run
# on a fresh server and data directory. Prints one JSON line per run and a markdown table of
# the medians (docs/benchmarks.md, "Statistics cost").
#   scripts/bench-stats-cost.sh            # 3 runs each, 20 s per run
# STATS_RUNS (default 3) runs per setting, STATS_SECONDS (default 20) per run. STATS_WORK_DIR
# (default: a new directory under $TMPDIR) holds each run's store, deleted after the run;
# /dev/shm keeps the disk (and its disk-full check) out of the comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${STATS_RUNS:-3}"
secs="${STATS_SECONDS:-20}"
bin="${CARGO_TARGET_DIR:-target}/release"
[ -x "$bin/standalone" ] && [ -x "$bin/rmq-bench" ] || {
  echo "build first: cargo build --release -p rocketmq-broker --bin standalone -p rmq-bench --bin rmq-bench" >&2
  exit 1
}
work=$(mktemp -d "${STATS_WORK_DIR:-${TMPDIR:-/tmp}}/stats-cost.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '/^cpu / {t=0; for (i=2;i<=NF;i++) t+=$i; print $9, t}' /proc/stat; }

one_run() { # enableBrokerStats value, run number
  local stats=$1 n=$2
  local dir="$work/$stats-$n"
  mkdir -p "$dir"
  local ns_port broker_port
  ns_port=$(free_port)
  broker_port=$(free_port)
  "$bin/standalone" --data "$dir/data" --namesrv-port "$ns_port" --broker-port "$broker_port" \
    -D "enableBrokerStats=$stats" > "$dir/out.log" 2> "$dir/err.log" &
  pid=$!
  until (exec 3<>"/dev/tcp/127.0.0.1/$broker_port") 2>/dev/null; do sleep 0.01; done
  sleep 1
  local cpu0 ticks0 cpu1 ticks1 summary
  cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  ticks0=$(cpu_ticks)
  summary=$("$bin/rmq-bench" produce --namesrv "127.0.0.1:$ns_port" --topic BenchStatsCost \
    --size 1024 --producers 64 --duration "$secs" 2> /dev/null | tail -n 1)
  cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  ticks1=$(cpu_ticks)
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  # A run with send errors keeps its server log.
  if ! python3 -c 'import json,sys; sys.exit(1 if json.loads(sys.argv[1])["errors"] else 0)' "$summary"; then
    cp "$dir/err.log" "${STATS_LOG_DIR:-/tmp}/stats-cost-$stats-$n.err.log"
  fi
  rm -rf "$dir/data"
  python3 - "$stats" "$n" "$summary" "$cpu0" "$cpu1" "$ticks0" "$ticks1" <<'PY'
import json, sys
stats, n, summary, cpu0, cpu1, t0, t1 = sys.argv[1:]
s = json.loads(summary)
steal0, total0 = map(int, t0.split()); steal1, total1 = map(int, t1.split())
print(json.dumps({"enableBrokerStats": stats, "run": int(n), "seconds": s["seconds"],
                  "tps": s["tps"], "mb_s": s["mb_s"],
                  "p50_ms": s.get("p50_ms"), "p99_ms": s.get("p99_ms"), "errors": s["errors"],
                  "server_cpu_s": (int(cpu1) - int(cpu0)) / 100,
                  "steal_pct": 100 * (steal1 - steal0) / max(1, total1 - total0)}))
PY
}

results="$work/results.jsonl"
# Alternating, and the order flips every pair (on off, off on, on off, ...), so a drift in the
# machine's background load does not favour one setting.
for n in $(seq 1 "$runs"); do
  if [ $((n % 2)) -eq 1 ]; then order="true false"; else order="false true"; fi
  for stats in $order; do one_run "$stats" "$n" | tee -a "$results"; done
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(setting, key):
    return statistics.median(r[key] for r in rows if r["enableBrokerStats"] == setting)
print()
for r in rows:
    r["cpu_us_per_msg"] = 1e6 * r["server_cpu_s"] / max(1.0, r["tps"] * r["seconds"])
print("| enableBrokerStats | runs (msg/s) | median msg/s | median p50 ms | median p99 ms | median server CPU s | median server CPU us/msg | median steal |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for setting in ("true", "false"):
    runs = ", ".join(f"{r['tps']:,.0f}" + (" (errors)" if r["errors"] else "")
                     for r in rows if r["enableBrokerStats"] == setting)
    print(f"| {setting} | {runs} | {med(setting, 'tps'):,.0f} | {med(setting, 'p50_ms'):.2f} | "
          f"{med(setting, 'p99_ms'):.2f} | {med(setting, 'server_cpu_s'):.1f} | "
          f"{med(setting, 'cpu_us_per_msg'):.1f} | {med(setting, 'steal_pct'):.1f}% |")
on, off = med("true", "tps"), med("false", "tps")
print(f"\nWith statistics: {100 * (on - off) / off:+.1f}% msg/s against without (medians).")
PY
