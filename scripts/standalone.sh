#!/usr/bin/env bash
# Starts a local RocketMQ-compatible server with its data under ./data.
# Name server on 127.0.0.1:9876 (override with NAMESRV_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
data="${DATA_DIR:-$PWD/data}"
mkdir -p "$data/namesrv"
cargo build --release --bins
exec target/release/namesrv \
  -D "listenPort=${NAMESRV_PORT:-9876}" \
  -D "kvConfigPath=$data/namesrv/kvConfig.json" \
  -D "configStorePath=$data/namesrv/namesrv.properties"
