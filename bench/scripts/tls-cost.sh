#!/usr/bin/env bash
# What TLS costs a hit at the relay, as a worker sees it: two trees on loopback, each a root and a
# relay (NativeAOT daemons), one with plain tcp:// links, one with tls+tcp:// links and
# certificates of a CA made for the run (omnistore ca init|issue). An object of SIZE is put through
# each relay and read once (so the relay holds it); then `omnistore get NAME -o /dev/null --relay
# ...` is timed COUNT times against each relay, interleaved: the whole process, handshake
# included. Prints medians, MB/s and the ratio TLS / plain.
# Usage: bash bench/scripts/tls-cost.sh [COUNT=7] [SIZE=1G]   (builds dist/ with eng/publish.sh if missing)
# Traffic only on 127.0.0.1; every daemon it starts is stopped by its pid at exit, and its files
# (under a mktemp directory in /tmp) removed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/timing.sh"
COUNT=${1:-7}
SIZE=${2:-1G}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[[ -x dist/bin/omnistore ]] || bash eng/publish.sh dist >/dev/null
OMNISTORE=("$PWD/dist/bin/omnistore")
WORK=$(mktemp -d /tmp/omnistore-tls-cost-XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

# start NAME ARGS...: a daemon in the background; prints the address it listens on.
start() {
  local name=$1
  shift
  "${OMNISTORE[@]}" relay "$@" >"$name.out" 2>"$name.err" &
  PIDS+=($!)
  for _ in $(seq 1 200); do grep -q '^listening on ' "$name.out" && break; sleep 0.05; done
  sed -n 's/^listening on //p' "$name.out" | head -n 1
}

"${OMNISTORE[@]}" ca init --dir ca --name tls-cost >/dev/null
for who in root relay; do "${OMNISTORE[@]}" ca issue --dir ca --role "$who" --name "$who" --host 127.0.0.1 >/dev/null; done
"${OMNISTORE[@]}" ca issue --dir ca --role client --name worker --write "" >/dev/null
TLS=(--tls-ca ca/ca.pem)

plain_root=$(start plain-root --listen tcp://127.0.0.1:0 --data-dir plain-root --site root --open-relays)
plain_relay=$(start plain-relay --listen tcp://127.0.0.1:0 --parent "$plain_root" --data-dir plain-relay --site relay --cache-size 4G)
tls_root=$(start tls-root --listen tls+tcp://127.0.0.1:0 --data-dir tls-root --site root --tls-cert root.pem --tls-key root.key "${TLS[@]}")
tls_relay=$(start tls-relay --listen tls+tcp://127.0.0.1:0 --parent "$tls_root" --data-dir tls-relay --site relay --cache-size 4G --tls-cert relay.pem --tls-key relay.key "${TLS[@]}")
CLIENT_TLS=(--tls-cert worker.pem --tls-key worker.key "${TLS[@]}")

head -c "$SIZE" /dev/urandom >object
bytes=$(stat -c %s object)
"${OMNISTORE[@]}" put object-1 object --relay "$plain_relay" --quiet
"${OMNISTORE[@]}" put object-1 object --relay "$tls_relay" --quiet "${CLIENT_TLS[@]}"
"${OMNISTORE[@]}" get object-1 -o /dev/null --relay "$plain_relay" --quiet
"${OMNISTORE[@]}" get object-1 -o /dev/null --relay "$tls_relay" --quiet "${CLIENT_TLS[@]}"


plain=() tls=()
for ((i = 0; i < COUNT; i++)); do
  plain+=("$(time_ms "${OMNISTORE[@]}" get object-1 -o /dev/null --relay "$plain_relay" --quiet)")
  tls+=("$(time_ms "${OMNISTORE[@]}" get object-1 -o /dev/null --relay "$tls_relay" --quiet "${CLIENT_TLS[@]}")")
done
p=$(printf '%s\n' "${plain[@]}" | median)
t=$(printf '%s\n' "${tls[@]}" | median)
printf '| hit at the relay, %s bytes | median ms | MB/s |\n|---|---:|---:|\n' "$bytes"
printf '| plain tcp:// | %s | %s |\n' "$p" "$(awk -v b="$bytes" -v ms="$p" 'BEGIN {printf "%.0f", b / 1e6 / (ms / 1000)}')"
printf '| tls+tcp:// | %s | %s |\n' "$t" "$(awk -v b="$bytes" -v ms="$t" 'BEGIN {printf "%.0f", b / 1e6 / (ms / 1000)}')"
printf 'TLS / plain (throughput): %s; medians of %s runs each, interleaved; %s cores; plain runs: %s; TLS runs: %s\n' \
  "$(awk -v p="$p" -v t="$t" 'BEGIN {printf "%.2f", p / t}')" "$COUNT" "$(nproc)" "${plain[*]}" "${tls[*]}"
