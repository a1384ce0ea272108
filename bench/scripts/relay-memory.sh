#!/usr/bin/env bash
# Measures a relay's resident memory while it serves one object to several workers at once.
# Starts a root and a relay (omnistore relay, loopback, temporary stores), puts SIZE bytes of
# distinct pseudo-random data at the root, then runs WORKERS concurrent `omnistore get` through
# the relay (the relay fetches each chunk from the root once), sampling the relay's VmRSS.
#
# Usage: [OMNISTORE=dist/bin/omnistore] bash bench/scripts/relay-memory.sh [SIZE=4G] [WORKERS=8]
# Prints the relay's peak VmRSS (and VmHWM) in MB. Needs openssl (fast pseudo-random bytes).
set -euo pipefail
SIZE=${1:-4G}
WORKERS=${2:-8}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# OMNISTORE=path/to/omnistore (e.g. dist/bin/omnistore from eng/publish.sh) runs that build instead.
if [[ -n ${OMNISTORE:-} ]]; then
  CLI=("$OMNISTORE")
else
  dotnet build src/OmniStore.Cli -c Release -v quiet -nologo >/dev/null
  CLI=(dotnet "$PWD/src/OmniStore.Cli/bin/Release/net10.0/OmniStore.Cli.dll")
fi
WORK=$(mktemp -d /tmp/omnistore-relay-memory-XXXXXX)
cleanup() {
  # start_node runs in a command substitution (a subshell), so the daemons' ids are in files.
  for pidfile in "$WORK"/*.pid; do
    [[ -e $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  for pidfile in "$WORK"/*.pid; do
    [[ -e $pidfile ]] || continue
    for _ in $(seq 1 300); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$(cat "$pidfile")" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

start_node() { # name, extra args...; echoes the listen address
  local name=$1
  shift
  "${CLI[@]}" relay --listen tcp://127.0.0.1:0 --data-dir "$WORK/$name" --site "$name" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  echo $! >"$WORK/$name.pid"
  for _ in $(seq 1 200); do
    if grep -q '^listening on ' "$WORK/$name.out"; then
      sed -n 's/^listening on //p' "$WORK/$name.out"
      return 0
    fi
    sleep 0.1
  done
  echo "the $name did not start: $(cat "$WORK/$name.err")" >&2
  return 1
}

(umask 077 && head -c 32 /dev/urandom | base64 >"$WORK/relay.secret") # the root accepts relays that prove it
ROOT=$(start_node root --relay-secret-file "$WORK/relay.secret")
RELAY=$(start_node relay --parent "$ROOT" --cache-size 16G --relay-secret-file "$WORK/relay.secret")
RELAY_PID=$(cat "$WORK/relay.pid")

echo "putting $SIZE at the root ($ROOT)"
# openssl dies of SIGPIPE when head has enough: that is the normal end, not a failure.
{ openssl enc -aes-128-ctr -pass pass:omnistore -nosalt -pbkdf2 </dev/zero 2>/dev/null || true; } |
  head -c "$(numfmt --from=iec "$SIZE")" | "${CLI[@]}" put object - --relay "$ROOT" --quiet

peak=0
sample() {
  local rss
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$RELAY_PID/status")
  ((rss > peak)) && peak=$rss
  return 0
}

echo "$WORKERS workers get it through the relay ($RELAY)"
start=$(date +%s.%N)
GETS=()
for w in $(seq 1 "$WORKERS"); do
  "${CLI[@]}" get object --relay "$RELAY" --quiet >/dev/null &
  GETS+=($!)
done
while kill -0 "${GETS[@]}" 2>/dev/null; do
  sample
  sleep 0.1
done
status=0
for pid in "${GETS[@]}"; do wait "$pid" || status=1; done
end=$(date +%s.%N)
sample
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$RELAY_PID/status")
echo "workers finished in $(echo "$end - $start" | bc) s (exit status $status)"
echo "relay peak VmRSS: $((peak / 1024)) MB (VmHWM $((hwm / 1024)) MB) while serving $SIZE to $WORKERS workers"
exit $status
