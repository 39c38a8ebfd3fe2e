#!/usr/bin/env bash
# Runs the whole test suite: builds the server binaries (the compatibility tests start them
# as processes), then every crate's tests. The stock clients must be installed first
# (.ci/run does that: pip install rocketmq==0.4.4, npm ci in compat-tests/clients/node).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins
cargo test --workspace
