#!/usr/bin/env bash
# Builds every fuzz target and runs each one briefly, one after another, starting from the
# committed seeds (and any regression inputs). Exits non-zero if any target crashes.
#
#   fuzz/run.sh [seconds-per-target]        default 20
#
# Environment:
#   FUZZ_SANITIZER   none (default) or address: the sanitizer cargo fuzz builds with (-s).
#   FUZZ_TARGETS     space-separated subset of targets to run (default: all).
#   FUZZ_NICE        nice level for the fuzzing processes (default 10).
#   FUZZ_NO_BROKER   set to 1 to build without the broker crate (--no-default-features):
#                    request_body then skips the broker's bodies (see docs/fuzzing.md).
# Crashing inputs land in fuzz/artifacts/<target>/; the corpus libFuzzer grows is kept in
# fuzz/corpus/<target>/ (ignored by git) and reused by the next run.
set -euo pipefail

seconds="${1:-20}"
sanitizer="${FUZZ_SANITIZER:-none}"
nice_level="${FUZZ_NICE:-10}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if ! command -v cargo-fuzz >/dev/null 2>&1 && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo-fuzz" ]; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# cargo fuzz passes -Z flags to rustc; a stable toolchain accepts them with RUSTC_BOOTSTRAP.
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi

# Release build with debug assertions (integer overflow checks on), as the long runs use.
flags=(-O -a -s "$sanitizer")
if [ "${FUZZ_NO_BROKER:-0}" = 1 ]; then
    flags+=(--no-default-features)
fi
targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"

echo "== building (sanitizer: $sanitizer)"
nice -n "$nice_level" cargo fuzz build "${flags[@]}"

failed=()
for target in $targets; do
    mkdir -p "corpus/$target"
    inputs=("corpus/$target")
    for dir in "seeds/$target" "regressions/$target"; do
        [ -d "$dir" ] && inputs+=("$dir")
    done
    echo "== $target (${seconds}s)"
    if ! nice -n "$nice_level" cargo fuzz run "${flags[@]}" "$target" "${inputs[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>"corpus/$target.log"; then
        failed+=("$target")
        tail -n 40 "corpus/$target.log" >&2
    fi
    grep -E '^(Done|#[0-9]+ +DONE)|stat::number_of_executed_units|stat::average_exec_per_sec' "corpus/$target.log" || true
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "== FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "== all targets ran without a crash"
