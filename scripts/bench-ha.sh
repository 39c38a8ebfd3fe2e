#!/usr/bin/env bash
# Replication cost: sync sends (rmq-bench produce, 1 KiB) against one broker group in three
# set-ups, each on fresh stores, alternating, PASSES times:
#   alone        ASYNC_MASTER, no slave
#   async+slave  ASYNC_MASTER with a slave
#   sync+slave   SYNC_MASTER with a slave (every send waits for the slave)
# After each run with a slave, the slave's CommitLog must equal the master's byte for byte
# (cmp), and the messages counted. Prints a Markdown table (medians) to stdout.
#
#   scripts/bench-ha.sh                  # PASSES=3 DURATION=15 PRODUCERS=64 SIZE=1024
# Binaries from $BIN_DIR (default target/release, built if missing). Ports 19876 (name
# server), 19911 (master: HA 19912, VIP 19909), 19931 (slave).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin="${BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}"
passes="${PASSES:-3}"
duration="${DURATION:-15}"
producers="${PRODUCERS:-64}"
size="${SIZE:-1024}"
if [ ! -x "$bin/broker" ] || [ ! -x "$bin/namesrv" ] || [ ! -x "$bin/rmq-bench" ]; then
  cargo build --release -p rocketmq-broker -p rocketmq-namesrv -p rmq-bench
fi
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_line() { # file pattern
  for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

broker() { # name port role id
  local dir="$work/$1"
  mkdir -p "$dir"
  "$bin/broker" -n 127.0.0.1:19876 -D brokerName=broker-bench -D brokerId="$4" -D brokerRole="$3" \
    -D listenPort="$2" -D brokerIP1=127.0.0.1 -D brokerIP2=127.0.0.1 -D storePathRootDir="$dir/store" \
    -D flushDiskType=ASYNC_FLUSH > "$dir/out.log" 2>&1 &
  pids+=($!)
  wait_line "$dir/out.log" "boot success"
}

# one run: setup -> "msg/s p99_ms identical(yes/no/-) messages"
run() {
  local setup=$1
  rm -rf "${work:?}"/*
  pids=()
  "$bin/namesrv" -D listenPort=19876 -D bindAddress=127.0.0.1 -D kvConfigPath="$work/kv.json" \
    -D configStorePath="$work/ns.properties" > "$work/ns.log" 2>&1 &
  pids+=($!)
  wait_line "$work/ns.log" "boot success"
  local role=ASYNC_MASTER
  [ "$setup" = sync+slave ] && role=SYNC_MASTER
  broker master 19911 "$role" 0
  if [ "$setup" != alone ]; then
    broker slave 19931 SLAVE 1
    # Until the slave is connected a SYNC_MASTER answers SLAVE_NOT_AVAILABLE.
    for _ in $(seq 1 100); do
      ss -tn state established "( sport = :19912 )" | grep -q 19912 && break
      sleep 0.1
    done
  fi
  local out
  out=$("$bin/rmq-bench" produce --namesrv 127.0.0.1:19876 --topic HaBench --queues 8 \
    --producers "$producers" --size "$size" --duration "$duration" 2>/dev/null | tail -1)
  local tps p99 sent
  tps=$(python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["tps"]))' "$out")
  p99=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["p99_ms"])' "$out")
  sent=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["messages"])' "$out")
  local identical=-
  if [ "$setup" != alone ]; then
    identical=no
    for _ in $(seq 1 100); do
      if diff -rq "$work/master/store/commitlog" "$work/slave/store/commitlog" > /dev/null 2>&1; then
        identical=yes; break
      fi
      sleep 0.2
    done
  fi
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "$tps $p99 $identical $sent"
  echo "$setup: $out" >> "${RAW_LOG:-/dev/null}"
}

declare -A results
for pass in $(seq 1 "$passes"); do
  for setup in alone async+slave sync+slave; do
    r=$(run "$setup")
    echo "pass $pass $setup: $r" >&2
    results[$setup]+="$r;"
  done
done

echo "| set-up | msg/s (median) | p99 ms (median) | passes (msg/s) | slave identical | messages |"
echo "|---|---|---|---|---|---|"
for setup in alone async+slave sync+slave; do
  python3 - "$setup" "${results[$setup]}" <<'PY'
import sys, statistics
setup, raw = sys.argv[1], sys.argv[2]
rows = [r.split() for r in raw.split(';') if r.strip()]
tps = [float(r[0]) for r in rows]
p99 = [float(r[1]) for r in rows if r[1] not in ('?',)]
ident = ', '.join(r[2] for r in rows)
sent = ', '.join(r[3] for r in rows)
print(f"| {setup} | {statistics.median(tps):,.0f} | {round(statistics.median(p99), 2) if p99 else '?'} | {', '.join(f'{t:,.0f}' for t in tps)} | {ident} | {sent} |")
PY
done
