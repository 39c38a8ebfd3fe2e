#!/usr/bin/env bash
# Starts a local RocketMQ-compatible name server and broker in one process, with data under
# ./data (or $DATA_DIR): name server on 127.0.0.1:9876, broker on 127.0.0.1:10911, topics
# and groups created on first use. Extra arguments go to the `standalone` binary (see
# --help), e.g. --namesrv-port 19876 --broker-port 20911.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
exec "${CARGO_TARGET_DIR:-target}/release/standalone" --data "${DATA_DIR:-./data}" "$@"
