#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the stock clients the compatibility
# tests drive (PyPI rocketmq 0.4.4, npm ali-ons, crates.io rocketmq-client-rust 1.0) and
# Debian's chromium for the console's browser test (each step is quick when already done),
# builds the server binaries (the tests start them as processes), then runs every crate's
# tests, then the fuzzing checks (docs/fuzzing.md): the replay of every seed and regression
# input, and a brief libFuzzer run of every target.
#
#   FUZZ_SECONDS   seconds per fuzz target (default 6; 0 runs the replay only)
set -euo pipefail
cd "$(dirname "$0")/.."

# PyPI rocketmq 0.4.4: Apache's C++ client; bundles librocketmq, needs only libstdc++/libgcc.
if ! python3 -c "import rocketmq.client" 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check rocketmq==0.4.4
    python3 -c "import rocketmq.client"
fi
# npm ali-ons, pinned by the lock file.
if [ ! -d compat-tests/clients/node/node_modules/ali-ons ]; then
    (cd compat-tests/clients/node && npm ci --no-audit --no-fund --loglevel=error)
fi
# Debian's chromium, for the web console's browser test (which prints SKIPPED without it).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends chromium fonts-dejavu-core >/dev/null; }; then
        echo "scripts/test.sh: could not install chromium; the console's browser test will be skipped" >&2
    fi
fi
# valgrind, whose callgrind counts instructions per operation (compat-tests instruction_counts).
if ! command -v valgrind >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends valgrind >/dev/null
fi
# crates.io rocketmq-client-rust 1.0, in its own Cargo project (its C parts need only gcc).
(cd compat-tests/clients/rust && CARGO_TARGET_DIR="$PWD/target" cargo build --locked --quiet)

cargo build --workspace --bins
cargo test --workspace --no-fail-fast

# Fuzzing: replay every committed seed and regression input (stable, no cargo-fuzz), then
# run each target briefly from those inputs. fuzz/run.sh installs cargo-fuzz when it is
# missing, builds all targets once and fails if any target crashes.
(cd fuzz && cargo test --quiet)
if [ "${FUZZ_SECONDS:-6}" != 0 ]; then
    fuzz/run.sh "${FUZZ_SECONDS:-6}"
fi
