#!/usr/bin/env bash
# Broker benchmark, ours and (optionally) Java's, side by side in one run: the same load
# against our name server + broker and against Java's, one after the other, in alternating
# passes (ours first in odd passes, Java first in even ones), each pass on fresh processes
# and a fresh store. Every row records throughput, latency, the broker's CPU seconds from
# /proc/<pid>/stat (so CPU per message) and its resident memory; the summary (medians over
# the passes, and the median of the per-pass ratios) replaces the part of
# docs/benchmarks.md between the bench-vs markers.
#
#   scripts/bench-vs.sh                                   # our rows only
#   ROCKETMQ_JAVA_HOME=/path/to/rocketmq-4.9.8 scripts/bench-vs.sh
#       runs "$ROCKETMQ_JAVA_HOME/bin/mqnamesrv -c F" and "bin/mqbroker -c F" too (override
#       with JAVA_NAMESRV_CMD / JAVA_BROKER_CMD, each given "-c <file>" and expected to run
#       in the foreground; heap and GC are the command's own), and, from the classpath
#       JAVA_BENCH_CP (default "$ROCKETMQ_JAVA_HOME/lib/*"), the distribution's benchmark
#       Producer and Consumer (org.apache.rocketmq.example.benchmark) against both servers.
#
# PASSES (default 3), SECS (default 10: each rmq-bench row), JAVA_BENCH_SECS (default 32: the
# Java tools print a 10 s average every 10 s; the first print, which includes start-up, is
# dropped), CATCHUP (default 1000000 messages), REPORT=0 leaves docs/benchmarks.md alone.
set -euo pipefail
cd "$(dirname "$0")/.."
PASSES=${PASSES:-3}
SECS=${SECS:-10}
JAVA_BENCH_SECS=${JAVA_BENCH_SECS:-32}
CATCHUP=${CATCHUP:-1000000}
REPORT=${REPORT:-1}
JAVA_NS_CMD=${JAVA_NAMESRV_CMD:-}
JAVA_BROKER_CMD=${JAVA_BROKER_CMD:-}
if [ -n "${ROCKETMQ_JAVA_HOME:-}" ]; then
    export ROCKETMQ_HOME="$ROCKETMQ_JAVA_HOME"
    JAVA_NS_CMD=${JAVA_NS_CMD:-"sh $ROCKETMQ_JAVA_HOME/bin/mqnamesrv"}
    JAVA_BROKER_CMD=${JAVA_BROKER_CMD:-"sh $ROCKETMQ_JAVA_HOME/bin/mqbroker"}
    JAVA_BENCH_CP=${JAVA_BENCH_CP:-"$ROCKETMQ_JAVA_HOME/lib/*"}
fi
JAVA_BENCH_CP=${JAVA_BENCH_CP:-}
sides="ours"
[ -n "$JAVA_NS_CMD" ] && [ -n "$JAVA_BROKER_CMD" ] && sides="ours java"

cargo build --release --quiet -p rocketmq-namesrv -p rocketmq-broker -p rmq-bench
bin="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
results="$work/results.jsonl"
: > "$results"
trap 'stop_servers; rm -rf "$work"' EXIT

ns_pid= broker_pid=
stop_servers() {
    local p
    for p in $broker_pid $ns_pid; do kill "$p" 2>/dev/null || true; done
    for p in $broker_pid $ns_pid; do
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    # A wrapper's JVM may outlive the wrapper: whatever still listens on our ports goes too.
    local port
    for port in ${ns_port:-} ${broker_port:-}; do
        p=$(listener_pid "$port")
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
    done
    ns_pid= broker_pid=
}

. scripts/bench-lib.sh  # wait_port, listener_pid

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# Starts a name server and a broker of one side with the same broker.conf keys.
start_servers() { # side, flush type, directory
    local side=$1 flush=$2 dir=$3
    if [ "$side" = ours ]; then ns_port=39876; broker_port=40911; else ns_port=49876; broker_port=50911; fi
    mkdir -p "$dir/store"
    cat > "$dir/namesrv.conf" <<EOF
listenPort=$ns_port
kvConfigPath=$dir/kvConfig.json
configStorePath=$dir/namesrv.properties
EOF
    cat > "$dir/broker.conf" <<EOF
brokerClusterName=BenchCluster
brokerName=bench-$side
brokerId=0
brokerRole=ASYNC_MASTER
flushDiskType=$flush
namesrvAddr=127.0.0.1:$ns_port
listenPort=$broker_port
brokerIP1=127.0.0.1
storePathRootDir=$dir/store
storePathCommitLog=$dir/store/commitlog
autoCreateTopicEnable=true
deleteWhen=04
fileReservedTime=48
EOF
    if [ "$side" = ours ]; then
        "$bin/namesrv" -c "$dir/namesrv.conf" > "$dir/namesrv.log" 2>&1 &
        ns_pid=$!
        wait_port "$ns_port" 60
        "$bin/broker" -c "$dir/broker.conf" > "$dir/broker.log" 2>&1 &
        broker_pid=$!
        wait_port "$broker_port" 60
    else
        $JAVA_NS_CMD -c "$dir/namesrv.conf" > "$dir/namesrv.log" 2>&1 &
        wait_port "$ns_port" 60
        ns_pid=$(listener_pid "$ns_port")
        $JAVA_BROKER_CMD -c "$dir/broker.conf" > "$dir/broker.log" 2>&1 &
        wait_port "$broker_port" 60
        broker_pid=$(listener_pid "$broker_port")
    fi
    # Until the broker is in the name server's cluster table (its first registration).
    for _ in $(seq 1 100); do
        "$bin/rmq-bench" produce --namesrv "127.0.0.1:$ns_port" --topic BenchWarmUp --count 100 \
            --duration 5 > /dev/null 2>&1 && break
        sleep 0.3
    done
}

record() { # side, pass, row, tool summary JSON, broker CPU ticks used, load generator CPU s
    python3 - "$@" >> "$results" <<'PY'
import json, sys
side, pass_no, row, summary, ticks, tool_cpu = sys.argv[1:]
s = json.loads(summary)
cpu = int(ticks) / 100
msgs = float(s.get("messages", 0))
print(json.dumps({
    "side": side, "pass": int(pass_no), "row": row,
    "tps": s.get("tps", 0), "p50_ms": s.get("p50_ms"), "p99_ms": s.get("p99_ms"),
    "errors": sum(s.get("errors", {}).values()) if isinstance(s.get("errors"), dict) else s.get("errors", 0),
    "cpu_s": cpu,
    "cpu_us_per_msg": 1e6 * cpu / msgs if msgs else None,
    "tool_cpu_us_per_msg": 1e6 * float(tool_cpu) / msgs if msgs else None,
}))
PY
}

# One rmq-bench run as a row: throughput and latency from its summary, the broker's CPU.
bench_row() { # side, pass, row label, rmq-bench arguments...
    local side=$1 pass=$2 label=$3; shift 3
    local c0 c1 summary
    c0=$(cpu_ticks "$broker_pid")
    summary=$(/usr/bin/time -f "%U %S" -o "$work/tool_cpu" "$bin/rmq-bench" "$@" 2> "$work/tool_err" | tail -n 1)
    c1=$(cpu_ticks "$broker_pid")
    if [ -z "$summary" ]; then
        echo "  $label: rmq-bench failed: $(grep -v '^ ' "$work/tool_err" | grep -v '^{' | head -3)" >&2
        summary='{}'
    fi
    record "$side" "$pass" "$label" "$summary" $((c1 - c0)) "$(awk '{print $1 + $2}' "$work/tool_cpu" 2>/dev/null || echo 0)"
}

# Runs a Java benchmark tool for JAVA_BENCH_SECS and notes the broker's CPU ticks at each of
# its 10 s prints; the row is the prints after the first (TPS averaged, CPU between them).
java_tool_row() { # side, pass, row label, what to parse (Send TPS|TPS), log, command...
    local side=$1 pass=$2 label=$3 key=$4 log=$5; shift 5
    "$@" > "$log" 2>&1 &
    local tool=$! seen=0 t_end=$((SECONDS + JAVA_BENCH_SECS)) marks="$log.cpu"
    : > "$marks"
    while [ $SECONDS -lt $t_end ] && kill -0 $tool 2>/dev/null; do
        local n
        n=$(grep -c "Current Time" "$log" 2>/dev/null || true)
        if [ "${n:-0}" -gt "$seen" ]; then
            echo "$n $(cpu_ticks "$broker_pid") $(cpu_ticks "$tool" 2>/dev/null || echo 0)" >> "$marks"
            seen=$n
        fi
        sleep 0.1
    done
    kill $tool 2>/dev/null || true; wait $tool 2>/dev/null || true
    python3 - "$side" "$pass" "$label" "$key" "$log" "$marks" >> "$results" <<'PY'
import json, re, sys
side, pass_no, label, key, log, marks = sys.argv[1:]
lines = [l for l in open(log) if l.startswith("Current Time")]
tps = [int(re.search(re.escape(key) + r": (\d+)", l).group(1)) for l in lines if re.search(re.escape(key) + r": (\d+)", l)]
cpu = [int(l.split()[1]) for l in open(marks)]
tool_cpu = [int(l.split()[2]) for l in open(marks)]
row = {"side": side, "pass": int(pass_no), "row": label, "tps": None, "cpu_us_per_msg": None, "errors": 0}
if len(tps) >= 2 and len(cpu) >= 2:
    steady = tps[1:]
    row["tps"] = sum(steady) / len(steady)
    # CPU between the first and the last print, against the messages of those windows.
    msgs = sum(steady) * 10
    row["cpu_s"] = (cpu[-1] - cpu[0]) / 100
    row["cpu_us_per_msg"] = 1e6 * row["cpu_s"] / msgs if msgs else None
    # The load generator's own CPU: on a small machine it competes with the broker.
    row["tool_cpu_us_per_msg"] = 1e4 * (tool_cpu[-1] - tool_cpu[0]) / msgs if msgs else None
fails = re.findall(r"Send Failed: (\d+)", open(log).read())
row["errors"] = sum(int(f) for f in fails)
print(json.dumps(row))
PY
}

run_side() { # side, pass
    local side=$1 pass=$2
    local dir="$work/$side-$pass" ns
    echo "pass $pass: $side" >&2
    start_servers "$side" ASYNC_FLUSH "$dir"
    ns="127.0.0.1:$ns_port"
    local rss0; rss0=$(rss_kib "$broker_pid")
    ( peak=0; while kill -0 "$broker_pid" 2>/dev/null; do
        r=$(rss_kib "$broker_pid" 2>/dev/null || echo 0)
        [ "${r:-0}" -gt "$peak" ] && peak=$r && echo "$peak" > "$dir/peak_rss"
        sleep 0.5
      done ) &
    local sampler=$!
    local common=(--namesrv "$ns" --duration "$SECS")
    bench_row "$side" "$pass" "sync send 1 KiB, 32 producers" produce "${common[@]}" --topic T1k --size 1024 --producers 32
    bench_row "$side" "$pass" "sync send 1 KiB, 128 producers" produce "${common[@]}" --topic T1k --size 1024 --producers 128
    bench_row "$side" "$pass" "sync send 128 B, 32 producers" produce "${common[@]}" --topic T128 --size 128 --producers 32
    bench_row "$side" "$pass" "async send 1 KiB, 4 producers x 64 in flight" produce "${common[@]}" --topic T1k --size 1024 --producers 4 --window 64
    bench_row "$side" "$pass" "batch send 16 x 1 KiB, 8 producers" produce "${common[@]}" --topic TBatch --size 1024 --producers 8 --batch 16
    "$bin/rmq-bench" produce --namesrv "$ns" --topic TCatch --size 128 --producers 32 --window 4 --count "$CATCHUP" --duration 300 > /dev/null 2>&1
    bench_row "$side" "$pass" "consume catch-up, $(printf "%'d" "$CATCHUP") x 128 B" consume --namesrv "$ns" --topic TCatch --duration 120 --group catchup_cg
    # The same paced sends without consumers: what a send costs the broker at this rate,
    # the base the end-to-end row's cost per message is set against.
    bench_row "$side" "$pass" "paced send at 10,000 msg/s, 1 KiB, no consumer" e2e "${common[@]}" --topic TPaced --rate 10000 --size 1024 --send-only
    bench_row "$side" "$pass" "end to end at 10,000 msg/s, 1 KiB" e2e "${common[@]}" --topic TE2e --rate 10000 --size 1024
    if [ -n "$JAVA_BENCH_CP" ]; then
        local bench_jvm=(java -Xms512m -Xmx512m -cp "$JAVA_BENCH_CP" -Drocketmq.client.logRoot="$dir/clientlogs")
        # The topics exist before the tools start: a push consumer that finds no route
        # only asks again 30 s later.
        "$bin/rmq-bench" produce --namesrv "$ns" --topic JBench --count 1 > /dev/null 2>&1
        "$bin/rmq-bench" produce --namesrv "$ns" --topic JPair --count 1 > /dev/null 2>&1
        java_tool_row "$side" "$pass" "Java benchmark Producer, 32 threads, 1 KiB" "Send TPS" "$dir/jprod.log" \
            "${bench_jvm[@]}" org.apache.rocketmq.example.benchmark.Producer -n "$ns" -t JBench -w 32 -s 1024
        # Producer and Consumer together, as users run the pair: delivered messages per second.
        "${bench_jvm[@]}" org.apache.rocketmq.example.benchmark.Producer -n "$ns" -t JPair -w 32 -s 1024 \
            > "$dir/jpair-prod.log" 2>&1 &
        local jprod=$!
        java_tool_row "$side" "$pass" "Java benchmark Consumer (push, 20 threads) beside the Producer (32 threads, 1 KiB)" "TPS" "$dir/jcons.log" \
            "${bench_jvm[@]}" org.apache.rocketmq.example.benchmark.Consumer -n "$ns" -t JPair -w 20
        kill $jprod 2>/dev/null || true; wait $jprod 2>/dev/null || true
    fi
    # Last on this server: creating 8,000 queues leaves the Java broker dispatching behind
    # for a while (a new topic's messages were not delivered to pulls in the next rows).
    # The row measures steady traffic over 8,000 queues, as the single-topic rows measure
    # traffic on queues that exist: every queue gets messages (its ConsumeQueue file is
    # created) before the measured seconds. Producer p sends to queues p, p+32, ..., so
    # 16,000 messages reach all 8,000.
    "$bin/rmq-bench" produce --namesrv "$ns" --topic TSpread --topics 1000 --producers 32 --count 16000 --duration 300 > /dev/null 2>&1
    bench_row "$side" "$pass" "sync send 1 KiB over 1,000 topics x 8 queues, 32 producers" produce "${common[@]}" --topic TSpread --topics 1000 --size 1024 --producers 32
    echo "{\"side\": \"$side\", \"pass\": $pass, \"row\": \"broker RSS\", \"rss_idle_kib\": $rss0, \"rss_peak_kib\": $(cat "$dir/peak_rss" 2>/dev/null || echo 0)}" >> "$results"
    kill $sampler 2>/dev/null || true
    stop_servers
    rm -rf "$dir/store"

    start_servers "$side" SYNC_FLUSH "$dir"
    bench_row "$side" "$pass" "SYNC_FLUSH sync send 1 KiB, 32 producers" produce --namesrv "127.0.0.1:$ns_port" --duration "$SECS" --topic T1k --size 1024 --producers 32
    stop_servers
    rm -rf "$dir"
}

for pass in $(seq 1 "$PASSES"); do
    order=$sides
    [ $((pass % 2)) -eq 0 ] && order=$(echo "$sides" | tr ' ' '\n' | tac | tr '\n' ' ')
    for side in $order; do run_side "$side" "$pass"; done
done

python3 - "$results" "$REPORT" "$PASSES" "${JAVA_BROKER_CMD:+yes}" "${JAVA_BENCH_CP:+yes}" <<'PY'
import json, statistics, subprocess, sys, datetime
path, report, passes, have_java, have_tools = sys.argv[1:]
rows = [json.loads(l) for l in open(path) if l.strip()]
order = []
for r in rows:
    if r["row"] not in order and r["row"] != "broker RSS":
        order.append(r["row"])
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
def get(side, row, key):
    return {r["pass"]: r.get(key) for r in rows if r["side"] == side and r["row"] == row}
def fmt(x, nd=0):
    if x is None: return "-"
    return f"{x:,.{nd}f}"
def ratio(a, b, nd=2):
    pairs = [a[p] / b[p] for p in a if p in b and a[p] and b[p]]
    return (f"{statistics.median(pairs):.{nd}f}" + ("" if len(pairs) < 2 else f" ({min(pairs):.{nd}f}-{max(pairs):.{nd}f})")) if pairs else "-"
out = []
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
out.append(f"Run of {datetime.date.today()} by `scripts/bench-vs.sh`, {passes} passes, {cpu}, "
           f"{'our servers and Java 4.9.8' if have_java else 'our servers only (no Java distribution given)'}; "
           "medians over the passes, ratios are the median (and range) of the per-pass ratios ours / Java. "
           "CPU is the broker process's user + system time per message.")
out.append("")
out.append("| row | msg/s ours | msg/s Java | throughput ours / Java | broker CPU µs/msg ours | Java | CPU ours / Java | p99 ms ours | Java | load generator CPU µs/msg, against ours / Java | errors ours / Java |")
out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
for row in order:
    ot, jt = get("ours", row, "tps"), get("java", row, "tps")
    oc, jc = get("ours", row, "cpu_us_per_msg"), get("java", row, "cpu_us_per_msg")
    op, jp = get("ours", row, "p99_ms"), get("java", row, "p99_ms")
    oe, je = get("ours", row, "errors"), get("java", row, "errors")
    og, jg = get("ours", row, "tool_cpu_us_per_msg"), get("java", row, "tool_cpu_us_per_msg")
    out.append(f"| {row} | {fmt(med(ot.values()))} | {fmt(med(jt.values()))} | {ratio(ot, jt)} | "
               f"{fmt(med(oc.values()), 1)} | {fmt(med(jc.values()), 1)} | {ratio(oc, jc)} | "
               f"{fmt(med(op.values()), 2)} | {fmt(med(jp.values()), 2)} | "
               f"{fmt(med(og.values()), 1)} / {fmt(med(jg.values()), 1)} | "
               f"{sum(e or 0 for e in oe.values())} / {sum(e or 0 for e in je.values()) if je else '-'} |")
oi, ji = get("ours", "broker RSS", "rss_idle_kib"), get("java", "broker RSS", "rss_idle_kib")
op, jp = get("ours", "broker RSS", "rss_peak_kib"), get("java", "broker RSS", "rss_peak_kib")
mib = lambda x: None if x is None else x / 1024
out.append("")
out.append(f"Broker resident memory (VmRSS, MiB): ours {fmt(mib(med(oi.values())))} idle, {fmt(mib(med(op.values())))} peak; "
           f"Java {fmt(mib(med(ji.values())))} idle, {fmt(mib(med(jp.values())))} peak.")
table = "\n".join(out)
print(table)
if report == "1":
    doc = "docs/benchmarks.md"
    text = open(doc).read()
    start, end = "<!-- bench-vs:start -->", "<!-- bench-vs:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + start + "\n" + table + "\n" + end + tail
    else:
        text += f"\n{start}\n{table}\n{end}\n"
    open(doc, "w").write(text)
PY
