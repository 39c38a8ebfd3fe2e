#!/usr/bin/env bash
# A local cluster of real processes: two name servers, two brokers (broker-a, broker-b)
# and a slave of broker-a (broker-a-s, brokerId 1), each with its own data directory and
# log under $CLUSTER_DIR (default ./cluster).
#
#   scripts/cluster.sh start     start whatever of the four is not running
#   scripts/cluster.sh stop      stop the processes this script started (SIGTERM)
#   scripts/cluster.sh status    one line per process: running or stopped
#
# Ports: NAMESRV_PORTS (default "9876 9877"), BROKER_A_PORT (10911), BROKER_B_PORT (10921),
# BROKER_A_SLAVE_PORT (10931; empty: no slave). Each broker also listens on its port + 1
# (HA, where slaves replicate from) and its port - 2 (Java's VIP port).
# BROKER_A_ROLE: ASYNC_MASTER (default) or SYNC_MASTER.
# Binaries: $BIN_DIR (default target/release, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir="${CLUSTER_DIR:-$root/cluster}"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
read -r -a ns_ports <<< "${NAMESRV_PORTS:-9876 9877}"
broker_a_port="${BROKER_A_PORT:-10911}"
broker_b_port="${BROKER_B_PORT:-10921}"
broker_a_slave_port="${BROKER_A_SLAVE_PORT-10931}"
broker_a_role="${BROKER_A_ROLE:-ASYNC_MASTER}"
bin="${BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}"

namesrv_addr() {
  local addrs=()
  for p in "${ns_ports[@]}"; do addrs+=("127.0.0.1:$p"); done
  (IFS=';'; echo "${addrs[*]}")
}

# name -> command line
declare -A commands
for i in "${!ns_ports[@]}"; do
  name="namesrv-$((i + 1))"
  mkdir -p "$dir/$name"
  commands[$name]="$bin/namesrv -D listenPort=${ns_ports[$i]} -D bindAddress=127.0.0.1 -D kvConfigPath=$dir/$name/kvConfig.json -D configStorePath=$dir/$name/namesrv.properties"
done
brokers=(broker-a broker-b)
[ -n "$broker_a_slave_port" ] && brokers+=(broker-a-s)
for broker in "${brokers[@]}"; do
  name=$broker; id=0; role=ASYNC_MASTER
  case $broker in
    broker-a) port=$broker_a_port; role=$broker_a_role ;;
    broker-b) port=$broker_b_port ;;
    broker-a-s) port=$broker_a_slave_port; name=broker-a; id=1; role=SLAVE ;;
  esac
  mkdir -p "$dir/$broker"
  cat > "$dir/$broker/broker.conf" <<CONF
brokerClusterName=DefaultCluster
brokerName=$name
brokerId=$id
brokerRole=$role
brokerIP1=127.0.0.1
brokerIP2=127.0.0.1
listenPort=$port
namesrvAddr=$(namesrv_addr)
storePathRootDir=$dir/$broker/store
flushDiskType=ASYNC_FLUSH
CONF
  commands[$broker]="$bin/broker -c $dir/$broker/broker.conf"
done
names=("${!commands[@]}")
IFS=$'\n' names=($(sort <<< "${names[*]}")); unset IFS

running() {
  local pidfile="$dir/$1/pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

case "${1:-}" in
  start)
    if [ ! -x "$bin/namesrv" ] || [ ! -x "$bin/broker" ]; then
      cargo build --release --bins
    fi
    # Name servers first, so brokers register at once.
    for kind in namesrv broker; do
      for name in "${names[@]}"; do
        [[ $name == "$kind"-* ]] || continue
        running "$name" && continue
        [ -f "$dir/$name/out.log" ] && mv "$dir/$name/out.log" "$dir/$name/out.log.1"
        nohup ${commands[$name]} > "$dir/$name/out.log" 2>&1 &
        echo $! > "$dir/$name/pid"
      done
    done
    # Wait until every process has printed its boot line for this start.
    for name in "${names[@]}"; do
      for _ in $(seq 1 100); do
        grep -q "boot success" "$dir/$name/out.log" 2>/dev/null && break
        sleep 0.1
      done
    done
    "$0" status
    ;;
  stop)
    for name in "${names[@]}"; do
      if running "$name"; then
        kill -TERM "$(cat "$dir/$name/pid")"
      fi
    done
    for name in "${names[@]}"; do
      for _ in $(seq 1 100); do running "$name" || break; sleep 0.1; done
      rm -f "$dir/$name/pid"
    done
    "$0" status
    ;;
  status)
    for name in "${names[@]}"; do
      if running "$name"; then
        echo "$name running pid $(cat "$dir/$name/pid") log $dir/$name/out.log"
      else
        echo "$name stopped"
      fi
    done
    echo "namesrvAddr=$(namesrv_addr)"
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
