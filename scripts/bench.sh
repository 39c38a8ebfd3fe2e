#!/usr/bin/env bash
# Standard benchmark matrix against our standalone server (fresh data directory), written as
# a markdown table into docs/benchmarks.md (between the broker-bench markers).
#   scripts/bench.sh                 # about 4 minutes on 2 cores
# BENCH_SECONDS (default 10) sets each produce run's length.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${BENCH_SECONDS:-10}"
cargo build --release --bins >&2
bin="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
ns_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
broker_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ns="127.0.0.1:$ns_port"

# Start-up: from spawn to the first accepted connection on the name server port.
t0=$(date +%s%N)
"$bin/standalone" --data "$work/data" --namesrv-port "$ns_port" --broker-port "$broker_port" > "$work/out.log" 2> "$work/err.log" &
pid=$!
until (exec 3<>"/dev/tcp/127.0.0.1/$ns_port") 2>/dev/null; do sleep 0.002; done
startup_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
until (exec 3<>"/dev/tcp/127.0.0.1/$broker_port") 2>/dev/null; do sleep 0.01; done
sleep 1

# The server's peak RSS while the matrix runs, and its CPU seconds per run.
# RssAnon is the server's own memory; VmRSS also counts CommitLog pages it has mapped.
( peak=0; peak_anon=0; while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    anon=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss && echo "$peak" > "$work/peak_rss"
    [ "${anon:-0}" -gt "$peak_anon" ] && peak_anon=$anon && echo "$peak_anon" > "$work/peak_anon"
    sleep 0.2
  done ) &
cpu_secs() { awk '{printf "%.1f", ($14 + $15) / 100}' "/proc/$pid/stat"; }

rows=()
run() { # label, then rmq-bench arguments
  local label=$1; shift
  local before; before=$(cpu_secs)
  local summary; summary=$("$bin/rmq-bench" "$@" 2> /dev/null | tail -n 1)
  echo "$summary" > "$work/$(printf '%s' "$label" | tr -c 'A-Za-z0-9' '_').json"
  local after; after=$(cpu_secs)
  rows+=("$(python3 - "$label" "$summary" "$before" "$after" <<'PY'
import json, sys
label, s, before, after = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
errors = ", ".join(f"{k}: {v}" for k, v in s["errors"].items()) or "none"
print(f"| {label} | {s['tps']:,.0f} | {s['mb_s']:.1f} | {s['p50_ms']:.2f} | {s['p90_ms']:.2f} | {s['p99_ms']:.2f} | {s['p999_ms']:.2f} | {s['max_ms']:.2f} | {after - before:.1f} | {errors} |")
PY
)")
  echo "${rows[-1]}" >&2
}

for size in 128 1024; do
  for producers in 1 8 64; do
    run "sync send ${size} B, ${producers} producers" produce --namesrv "$ns" --topic "Bench${size}" --size "$size" --producers "$producers" --duration "$secs"
  done
done
# Fill a topic with 1,000,000 messages (batched), then read it all back.
"$bin/rmq-bench" produce --namesrv "$ns" --topic BenchCatchUp --size 128 --producers 8 --window 4 --batch 32 --count 1000000 --duration 120 > /dev/null 2>&1
run "consume catch-up, 1,000,000 x 128 B" consume --namesrv "$ns" --topic BenchCatchUp --duration 60
run "end to end at 10,000 msg/s, 1 KiB" e2e --namesrv "$ns" --topic BenchE2e --size 1024 --rate 10000 --duration 20

peak_mib=$(( $(cat "$work/peak_rss" 2>/dev/null || echo 0) / 1024 ))
anon_mib=$(( $(cat "$work/peak_anon" 2>/dev/null || echo 0) / 1024 ))
targets=$(python3 - "$work" "$startup_ms" "$anon_mib" "$peak_mib" <<'PY'
import json, re, sys
work, startup, anon, rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def get(label):
    return json.load(open(f"{work}/{re.sub('[^A-Za-z0-9]', '_', label)}.json"))
send = get("sync send 1024 B, 64 producers")["tps"]
p99 = get("end to end at 10,000 msg/s, 1 KiB")["p99_ms"]
catch = get("consume catch-up, 1,000,000 x 128 B")["tps"]
rows = [
    ("sync send 1 KiB, 64 producers", ">= 50,000 msg/s", f"{send:,.0f} msg/s", send >= 50000),
    ("p99 end to end at 10k msg/s", "<= 2 ms", f"{p99:.2f} ms", p99 <= 2),
    ("consume catch-up", ">= 300,000 msg/s", f"{catch:,.0f} msg/s", catch >= 300000),
    ("server RSS under load", "<= 150 MiB", f"{anon} MiB anonymous, {rss} MiB with mapped CommitLog pages", anon <= 150),
    ("start to first accepted connection", "<= 100 ms", f"{startup} ms", startup <= 100),
]
print("| target | goal | measured | met |\n|---|---|---|---|")
for name, goal, got, ok in rows:
    print(f"| {name} | {goal} | {got} | {'yes' if ok else 'no'} |")
PY
)
report=$(cat <<MD
<!-- broker-bench:start -->
## Broker

\`scripts/bench.sh\` on $(nproc) cores, $(date -u +%Y-%m-%d), benchmark client and server on the
same machine: our \`standalone\` server (name server + broker, ASYNC_FLUSH, fresh data
directory) driven by \`rmq-bench\` (\`bench/\`). Latency is per request (send or pull) and,
for end to end, from the born timestamp to receipt (millisecond resolution).

| run | msg/s | MB/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | server CPU s | errors |
|---|---|---|---|---|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

Targets (issue 6; measured in this run):

$targets
<!-- broker-bench:end -->
MD
)
python3 - "$report" <<'PY'
import re, sys
path = "docs/benchmarks.md"
text = open(path).read()
block = sys.argv[1]
pattern = re.compile(r"<!-- broker-bench:start -->.*?<!-- broker-bench:end -->", re.S)
text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
open(path, "w").write(text)
PY
echo "wrote docs/benchmarks.md" >&2
