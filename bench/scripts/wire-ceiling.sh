#!/usr/bin/env bash
# Measures the wire's own ceiling: traffic through lab links that have no rate limit, delay or loss.
# Builds a lab with `OmniStore.Lab up` (the master and one site), then runs iperf3 over two paths:
#   one wire:  master host -> master gateway -> wire -> WAN core (iperf3 server on the core's end
#              of the master's link, 198.19.0.1)
#   site path: site host -> gateway -> wire -> core -> wire -> gateway -> master host (two wires in
#              series and four routers, all on the same two cores)
# each with TCP (1500-byte packets: the MTU) and UDP (1472-byte datagrams: 1500-byte IP packets,
# sent as fast as iperf3 can). Throughput and packets/s are what the wire delivered, read from the
# kernel counters of the device it writes into (IP bytes), over the run's wall-clock time; iperf3's
# own receiver line is printed too.
#
# Usage: sudo bash bench/scripts/wire-ceiling.sh [SECONDS=10]
# Needs root, iperf3, iproute2, nftables, procps. Removes the lab when it ends, however it ends.
set -euo pipefail
SECONDS_PER_RUN=${1:-10}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
dotnet build bench/OmniStore.Lab -c Release -v quiet -nologo >/dev/null
LAB=(dotnet "$PWD/bench/OmniStore.Lab/bin/Release/net10.0/OmniStore.Lab.dll")
WORK=$(mktemp -d /tmp/omnistore-wire-ceiling-XXXXXX)
UP_PID=

cleanup() {
  if [[ -n $UP_PID ]] && kill -0 "$UP_PID" 2>/dev/null; then
    # SIGTERM, not SIGINT: a background job of a non-interactive shell ignores SIGINT.
    kill -TERM "$UP_PID" # the lab removes itself on SIGTERM
    for _ in $(seq 1 300); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  if [[ -n ${PREFIX:-} ]] && ls /run/netns 2>/dev/null | grep -q "^$PREFIX\."; then
    echo "lab $PREFIX left namespaces behind: dotnet bench/OmniStore.Lab/bin/Release/net10.0/OmniStore.Lab.dll clean"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"${LAB[@]}" up --sites 1 >"$WORK/up.out" 2>"$WORK/up.err" &
UP_PID=$!
for _ in $(seq 1 600); do
  grep -q '^ready$' "$WORK/up.out" && break
  kill -0 "$UP_PID" 2>/dev/null || { cat "$WORK/up.err"; exit 1; }
  sleep 0.1
done
PREFIX=$(sed -n 's/^lab \(omnilab-[0-9a-f]*\) up.*/\1/p' "$WORK/up.out")
[[ -n $PREFIX ]] || { echo "the lab did not come up"; cat "$WORK/up.err"; exit 1; }
echo "lab $PREFIX; $(nproc) CPUs; $SECONDS_PER_RUN s per run"

counters() { # namespace device: "rx_bytes rx_packets"
  ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_bytes" "/sys/class/net/$2/statistics/rx_packets" | tr '\n' ' '
}

# run NAME CLIENT_NS SERVER_NS SERVER_ADDRESS COUNTED_NS COUNTED_DEVICE IPERF_ARGS...
run() {
  local name=$1 client=$2 server=$3 address=$4 counted_ns=$5 counted_dev=$6
  shift 6
  ip netns exec "$server" iperf3 -s -1 -B "$address" >"$WORK/server.out" 2>&1 &
  local server_pid=$!
  sleep 0.5
  local before after start end
  read -r -a before <<<"$(counters "$counted_ns" "$counted_dev")"
  start=$(date +%s.%N)
  ip netns exec "$client" iperf3 -c "$address" -t "$SECONDS_PER_RUN" "$@" >"$WORK/client.out" 2>&1 || true
  end=$(date +%s.%N)
  read -r -a after <<<"$(counters "$counted_ns" "$counted_dev")"
  wait "$server_pid" 2>/dev/null || true
  awk -v name="$name" -v b="$((after[0] - before[0]))" -v p="$((after[1] - before[1]))" -v s="$start" -v e="$end" \
    'BEGIN { t = e - s; printf "%-28s %6.3f Gbit/s  %9.0f packets/s  (wire delivered %d packets in %.2f s)\n", name, b * 8 / t / 1e9, p / t, p, t }'
  grep -E 'receiver' "$WORK/client.out" | sed 's/^/    iperf3: /' || true
}

run "one wire, TCP" "$PREFIX.master" "$PREFIX.core" 198.19.0.1 "$PREFIX.core" wan0
run "one wire, UDP 1472 B" "$PREFIX.master" "$PREFIX.core" 198.19.0.1 "$PREFIX.core" wan0 -u -b 0 -l 1472
run "site path (2 wires), TCP" "$PREFIX.site1" "$PREFIX.master" 198.18.0.2 "$PREFIX.master.gw" wan
run "site path (2 wires), UDP 1472 B" "$PREFIX.site1" "$PREFIX.master" 198.18.0.2 "$PREFIX.master.gw" wan -u -b 0 -l 1472
