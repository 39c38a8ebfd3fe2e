#!/usr/bin/env bash
# Smoke run of a stock client against any RocketMQ name server: sends 10 messages and
# consumes them with a push consumer.
#   scripts/smoke.sh [NAMESRV_ADDR] [cpp|node]     (default 127.0.0.1:9876, cpp)
# cpp needs `pip install rocketmq==0.4.4`; node needs `npm ci` in compat-tests/clients/node.
# ali-ons (node) does not create topics through TBW102 as the other clients do: on a fresh
# server run the cpp smoke first, or create SmokeTopic (mqadmin updateTopic).
set -euo pipefail
cd "$(dirname "$0")/.."
ns="${1:-127.0.0.1:9876}"
client="${2:-cpp}"
topic="SmokeTopic"
run=$(date +%s)
case "$client" in
  cpp) driver=(python3 compat-tests/clients/python/rmq_client.py) ;;
  node) driver=(node compat-tests/clients/node/rmq_client.js) ;;
  *) echo "client must be cpp or node" >&2; exit 2 ;;
esac
"${driver[@]}" send --namesrv "$ns" --topic "$topic" --group "smoke_pg" --count 10 --key-prefix "smoke-$run-"
"${driver[@]}" push-consume --namesrv "$ns" --topic "$topic" --group "smoke_cg_$run" --expect 10 --timeout 60
