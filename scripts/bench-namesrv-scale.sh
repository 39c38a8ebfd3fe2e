#!/usr/bin/env bash
# Name server at cluster scale, ours and (optionally) Java's, one after the other, in
# alternating passes: rmq-bench namesrv-scale (brokers x topics registering, re-registration
# rounds with the data version changed and unchanged, route lookups), the name server's CPU
# seconds per phase from /proc, and its resident memory; for Java also its live heap after
# a full GC (jcmd GC.run + GC.heap_info).
#
#   BROKERS=100 TOPICS=10000 PASSES=2 scripts/bench-namesrv-scale.sh
#   ROCKETMQ_JAVA_HOME=/path/to/rocketmq-4.9.8 scripts/bench-namesrv-scale.sh
#       runs "$ROCKETMQ_JAVA_HOME/bin/mqnamesrv" too (JAVA_NAMESRV_CMD overrides the command;
#       it must start a name server in the foreground listening on port $JAVA_PORT, 9876
#       unless set; JAVA_OPT / heap settings are the command's own)
set -euo pipefail
cd "$(dirname "$0")/.."
BROKERS=${BROKERS:-100}
TOPICS=${TOPICS:-10000}
PASSES=${PASSES:-2}
ROUNDS=${ROUNDS:-3}
LOOKUPS=${LOOKUPS:-100000}
OUR_PORT=${OUR_PORT:-39876}
JAVA_PORT=${JAVA_PORT:-9876}
JAVA_CMD=${JAVA_NAMESRV_CMD:-}
if [ -z "$JAVA_CMD" ] && [ -n "${ROCKETMQ_JAVA_HOME:-}" ]; then
    JAVA_CMD="$ROCKETMQ_JAVA_HOME/bin/mqnamesrv"
fi
cargo build --release --quiet -p rocketmq-namesrv -p rmq-bench
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

. scripts/bench-lib.sh  # wait_port, listener_pid

run_ours() {
    rm -rf "$work/ours" && mkdir -p "$work/ours"
    target/release/namesrv -D listenPort="$OUR_PORT" -D bindAddress=127.0.0.1 \
        -D kvConfigPath="$work/ours/kv.json" -D configStorePath="$work/ours/ns.properties" \
        >"$work/ours/out" 2>&1 &
    local pid=$!
    wait_port "$OUR_PORT"
    target/release/rmq-bench namesrv-scale --namesrv "127.0.0.1:$OUR_PORT" --pid "$pid" \
        --brokers "$BROKERS" --topics "$TOPICS" --rounds "$ROUNDS" --lookups "$LOOKUPS" | tail -1 \
        | sed 's/^/ours /'
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_java() {
    $JAVA_CMD >"$work/java.out" 2>&1 &
    local wrapper=$!
    wait_port "$JAVA_PORT"
    local pid
    pid=$(listener_pid "$JAVA_PORT")
    local line
    line=$(target/release/rmq-bench namesrv-scale --namesrv "127.0.0.1:$JAVA_PORT" --pid "$pid" \
        --brokers "$BROKERS" --topics "$TOPICS" --rounds "$ROUNDS" --lookups "$LOOKUPS" | tail -1)
    local heap=""
    if command -v jcmd >/dev/null; then
        jcmd "$pid" GC.run >/dev/null 2>&1 || true
        heap=$(jcmd "$pid" GC.heap_info 2>/dev/null | sed -n 's/.*used \([0-9]*K\).*/\1/p' | head -1)
    fi
    echo "java $line live_heap_after_gc=${heap:-unknown}"
    kill "$pid" "$wrapper" 2>/dev/null || true
    wait "$wrapper" 2>/dev/null || true
    sleep 1
}

echo "# $BROKERS brokers x $TOPICS topics, $ROUNDS rounds of each kind, $LOOKUPS lookups; $(nproc) cores"
for pass in $(seq 1 "$PASSES"); do
    echo "# pass $pass"
    run_ours
    [ -n "$JAVA_CMD" ] && run_java
done
