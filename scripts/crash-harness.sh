#!/usr/bin/env bash
# Kills the broker with SIGKILL over and over while producers send, then checks that every
# acknowledged message is still there (docs/crash-harness.md).
#
#   scripts/crash-harness.sh [KILLS] [MODE...]     defaults: 100 kills; sync async staged batch transaction
#
# Builds the release binaries if missing (crash-harness, broker, namesrv under
# ${CARGO_TARGET_DIR:-target}/release), runs the modes one after another under
# `nice -n ${NICE:-5}`, and writes each run's summary into the results table of
# docs/crash-harness.md (a row per date, mode and kill count; a rerun replaces its row).
# BIN_DIR=dir takes the broker and namesrv binaries from elsewhere; extra harness flags go
# in HARNESS_ARGS (e.g. HARNESS_ARGS="--producers 4 --seed 7"). Logs and summaries:
# ${LOG_DIR:-$TARGET/crash-harness}/MODE.log and MODE.json.
# Exit status: non-zero if a mode other than `staged` failed (staged writes may lose
# acknowledged messages on a crash by design; its figures are recorded all the same).
set -uo pipefail
cd "$(dirname "$0")/.."

KILLS="${1:-100}"
shift || true
MODES=("$@")
if [ ${#MODES[@]} -eq 0 ]; then
    MODES=(sync async staged batch transaction)
fi
TARGET="${CARGO_TARGET_DIR:-target}"
RELEASE="$TARGET/release"
LOG_DIR="${LOG_DIR:-$TARGET/crash-harness}"
DOC=docs/crash-harness.md
mkdir -p "$LOG_DIR"

need_build=0
for b in crash-harness broker namesrv; do
    [ -x "$RELEASE/$b" ] || need_build=1
done
if [ "$need_build" = 1 ]; then
    cargo build --release -p rmq-bench -p rocketmq-broker -p rocketmq-namesrv || exit 1
fi
BIN_ARGS=()
if [ -n "${BIN_DIR:-}" ]; then
    BIN_ARGS=(--bin-dir "$BIN_DIR")
fi

failed=0
for mode in "${MODES[@]}"; do
    echo "== crash-harness: mode $mode, $KILLS kills (log: $LOG_DIR/$mode.log)" >&2
    # shellcheck disable=SC2086
    nice -n "${NICE:-5}" "$RELEASE/crash-harness" --mode "$mode" --kills "$KILLS" "${BIN_ARGS[@]}" \
        ${HARNESS_ARGS:-} >"$LOG_DIR/$mode.json" 2>"$LOG_DIR/$mode.log"
    status=$?
    summary="$(tail -n 1 "$LOG_DIR/$mode.json")"
    echo "$summary"
    if [ "$status" != 0 ]; then
        echo "== mode $mode FAILED (exit $status); see $LOG_DIR/$mode.log" >&2
        [ "$mode" = staged ] || failed=1
    fi
    SUMMARY="$summary" STATUS="$status" DOC="$DOC" DATE="$(date +%F)" python3 - <<'PY'
import json, os
doc, date = os.environ["DOC"], os.environ["DATE"]
try:
    s = json.loads(os.environ["SUMMARY"])
except ValueError:
    s = {"error": "no summary"}
ok = os.environ["STATUS"] == "0"
start, end = "<!-- results:start -->", "<!-- results:end -->"
header = ["| date | mode | kills | acked | missing | shared offsets | duplicates | unacked but stored | time | result |",
          "|---|---|---|---|---|---|---|---|---|---|"]
def cell(k):
    v = s.get(k, "-")
    return str(v)
dups = cell("duplicates")
if "duplicates_tx" in s:
    dups += " (%s delayed, %s transactional)" % (s.get("duplicates_delayed", "-"), s["duplicates_tx"])
elif "duplicates_delayed" in s:
    dups += " (%s delayed)" % s["duplicates_delayed"]
elapsed = s.get("elapsed")
row = "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
    date, s.get("mode", "?"), cell("kills"), cell("acked"), cell("missing"), cell("shared_offsets"), dups,
    cell("unacked_but_stored"), ("%d s" % round(elapsed)) if isinstance(elapsed, (int, float)) else "-",
    "ok" if ok else ("FAIL: " + s["error"] if "error" in s else "FAIL"))
text = open(doc).read() if os.path.exists(doc) else "# Crash harness\n\n## Results\n\n%s\n%s\n" % (start, end)
if start not in text:
    text = text.rstrip("\n") + "\n\n## Results\n\n%s\n%s\n" % (start, end)
before, rest = text.split(start, 1)
table, after = rest.split(end, 1)
rows = [l for l in table.strip("\n").splitlines() if l.startswith("| ") and not l.startswith("| date")]
key = row.split("|")[1:4]
rows = [r for r in rows if r.split("|")[1:4] != key] + [row]
text = before + start + "\n" + "\n".join(header + rows) + "\n" + end + after
open(doc, "w").write(text)
PY
done
exit "$failed"
