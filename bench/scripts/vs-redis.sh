#!/usr/bin/env bash
# Small objects: OmniStore through a relay side by side with Redis, on one machine, in one run
# (issue #14, point 6). Both sides run 16 clients, each with a connection of its own, doing one
# operation after another on 4 KiB values:
#   redis      redis-server 7 on its own loopback port and directory (`--save ''`), measured with
#              `redis-benchmark -d 4096 -c 16 -r 1000 -t set,get --csv`, once with `appendonly no`
#              (GET, and SET as a reference) and once, restarted on an empty directory, with
#              `appendonly yes --appendfsync always` (durable SET: acknowledged once fsync'ed);
#   omnistore  a root (`omnistore relay` without a parent) and an `omnistore relay --parent ROOT`,
#              measured with `omnistore bench small --relay RELAY --clients 16 --size 4096`:
#              --op get (1000 objects put first, then read at random; every one a hit at the relay)
#              and --op put (distinct names and contents; a Put is acknowledged once the root has
#              committed it to disk, concurrent Puts sharing one commit), then
#              `omnistore bench gather`: 64 workers put 10,000 results of 4 KiB through the relay,
#              then a master at the root gets every one.
# Targets (issue #14): Get at least 0.5 x Redis GET's operations per second; durable Put at least
# 1 x Redis SET with appendfsync always.
#
# Usage: bash bench/scripts/vs-redis.sh [RUNS=3]
# Environment: OMNISTORE, the omnistore command (default: the Release build of src/OmniStore.Cli,
# built first, run with dotnet), e.g. OMNISTORE=dist/bin/omnistore for the NativeAOT binary;
# REDIS_SERVER, the redis-server binary (default: from PATH, else /usr/bin/redis-server; as root
# and missing, apt-get install redis-server); REDIS_OPS (default 200000) and REDIS_DURABLE_OPS
# (default 50000), the requests of each redis-benchmark test; OMNI_GET_OPS (default 200000) and
# OMNI_PUT_OPS (default 20000), the most operations of each bench small run, each also bounded by
# OMNI_SECONDS (default 20); GATHER_RESULTS (default 10000) and GATHER_WORKERS (default 64).
# Tables on stdout, progress on stderr; every process it starts is stopped by its pid at exit;
# temporary files in a mktemp directory under /tmp, removed at exit. Only 127.0.0.1 is used.
set -euo pipefail
export LC_ALL=C

usage() {
  echo "usage: bash bench/scripts/vs-redis.sh [RUNS=3]  (OMNISTORE=COMMAND, REDIS_SERVER=BINARY)" >&2
  exit 2
}

RUNS=3
case $# in
  0) ;;
  1)
    [[ $1 == -h || $1 == --help ]] && usage
    RUNS=$1
    ;;
  *) usage ;;
esac
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "$1 must be a positive integer, not '$2'" >&2; exit 2; }; }
positive RUNS "$RUNS"
CLIENTS=16
SIZE=4096
KEYS=1000
REDIS_OPS=${REDIS_OPS:-200000}
REDIS_DURABLE_OPS=${REDIS_DURABLE_OPS:-50000}
OMNI_GET_OPS=${OMNI_GET_OPS:-200000}
OMNI_PUT_OPS=${OMNI_PUT_OPS:-20000}
OMNI_SECONDS=${OMNI_SECONDS:-20}
GATHER_RESULTS=${GATHER_RESULTS:-10000}
GATHER_WORKERS=${GATHER_WORKERS:-64}
for v in REDIS_OPS REDIS_DURABLE_OPS OMNI_GET_OPS OMNI_PUT_OPS OMNI_SECONDS GATHER_RESULTS GATHER_WORKERS; do
  positive "$v" "${!v}"
done

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

log() { echo "[vs-redis] $*" >&2; }
die() {
  echo "[vs-redis] error: $*" >&2
  exit 1
}

# --- tools -------------------------------------------------------------------------------------
find_redis() {
  if [[ -n ${REDIS_SERVER:-} ]]; then
    echo "$REDIS_SERVER"
  elif command -v redis-server >/dev/null; then
    command -v redis-server
  elif [[ -x /usr/bin/redis-server ]]; then
    echo /usr/bin/redis-server
  fi
}
REDIS_BIN=$(find_redis)
if [[ -z $REDIS_BIN ]]; then
  if ((EUID == 0)) && command -v apt-get >/dev/null; then
    log "redis-server is missing: installing it (apt-get install redis-server)"
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server >&2
    REDIS_BIN=$(find_redis)
  fi
  [[ -n $REDIS_BIN ]] || { echo "redis-server is missing: install it (Debian/Ubuntu: apt-get install redis-server), or set REDIS_SERVER=/path/to/redis-server" >&2; exit 2; }
fi
[[ -x $REDIS_BIN ]] || { echo "REDIS_SERVER=$REDIS_BIN is not an executable file" >&2; exit 2; }
REDIS_DIR=$(dirname "$REDIS_BIN")
find_tool() { # name: next to redis-server, else from PATH
  if [[ -x $REDIS_DIR/$1 ]]; then echo "$REDIS_DIR/$1"; else command -v "$1" || true; fi
}
REDIS_BENCHMARK=$(find_tool redis-benchmark)
REDIS_CLI=$(find_tool redis-cli)
[[ -n $REDIS_BENCHMARK && -n $REDIS_CLI ]] || { echo "redis-benchmark and redis-cli are missing (Debian: apt-get install redis-tools)" >&2; exit 2; }
REDIS_VERSION=$("$REDIS_BIN" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')

if [[ -n ${OMNISTORE:-} ]]; then
  read -ra CLI <<<"$OMNISTORE"
else
  log "building the CLI (Release)"
  dotnet build src/OmniStore.Cli -c Release -v quiet -nologo >/dev/null
  CLI=(dotnet "$PWD/src/OmniStore.Cli/bin/Release/net10.0/OmniStore.Cli.dll")
fi

# --- processes ---------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/omnistore-vs-redis-XXXXXX)
REDIS_PID='' ROOT_PID='' RELAY_PID=''

stop_pid() { # pid [seconds]: SIGTERM, then SIGKILL after the grace
  local pid=$1 tenths=$((${2:-30} * 10))
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$tenths"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "process $pid did not stop within ${2:-30} s: killing it"
    kill -9 "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$REDIS_PID" 30
  stop_pid "$RELAY_PID" 60
  stop_pid "$ROOT_PID" 60
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pick_port() { # a loopback port nothing answers on, below the usual ephemeral range
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 12000))
    if ! (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "no free loopback port found"
}

# start_redis NAME ARGS...: a redis-server on a free loopback port with its own empty directory
# $WORK/NAME, in the foreground of a background job (so $! is the server); sets REDIS_PID and
# REDIS_PORT once it answers PING.
start_redis() {
  local name=$1 dir=$WORK/$1 port pid
  shift
  rm -rf "$dir"
  mkdir -p "$dir"
  for _ in $(seq 1 10); do
    port=$(pick_port)
    "$REDIS_BIN" --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --daemonize no --logfile "$dir/redis.log" "$@" &
    pid=$!
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      if [[ $("$REDIS_CLI" -h 127.0.0.1 -p "$port" ping 2>/dev/null || true) == PONG ]]; then
        REDIS_PID=$pid
        REDIS_PORT=$port
        return 0
      fi
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      stop_pid "$pid" 10
      die "redis-server $name did not answer on 127.0.0.1:$port: $(tail -n 5 "$dir/redis.log")"
    fi
    wait "$pid" 2>/dev/null || true
    grep -q 'Address already in use' "$dir/redis.log" || die "redis-server $name did not start: $(tail -n 5 "$dir/redis.log")"
    log "port $port was taken; trying another"
  done
  die "redis-server $name found no free port in 10 tries"
}
stop_redis() {
  local pid=$REDIS_PID
  REDIS_PID=
  stop_pid "$pid" 30
}

# start_omnistore NAME ARGS...: an `omnistore relay` on a free loopback port with its store in
# $WORK/NAME; sets OMNI_PID and OMNI_ADDR.
start_omnistore() {
  local name=$1 pid
  shift
  "${CLI[@]}" relay --listen tcp://127.0.0.1:0 --data-dir "$WORK/$name" --site "$name" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" &
  pid=$!
  for _ in $(seq 1 300); do
    if grep -qs '^listening on ' "$WORK/$name.out"; then
      OMNI_PID=$pid
      OMNI_ADDR=$(sed -n 's/^listening on //p' "$WORK/$name.out" | head -n 1)
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  stop_pid "$pid" 10
  die "the omnistore $name did not start: $(cat "$WORK/$name.err")"
}

# --- measurements ------------------------------------------------------------------------------
# VALUE["run case side metric"]: ops (per second), p50 and p99 (ms); gather: seconds, ops.
declare -A VALUE
LOAD=()

redis_benchmark() { # run side tests requests: runs redis-benchmark, records each test's line
  local run=$1 side=$2 tests=$3 requests=$4 test rps p50 p99
  "$REDIS_BENCHMARK" -h 127.0.0.1 -p "$REDIS_PORT" -c "$CLIENTS" -d "$SIZE" -r "$KEYS" -n "$requests" -t "$tests" --csv >"$WORK/redis.csv" ||
    die "redis-benchmark failed: $(cat "$WORK/redis.csv")"
  # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  while IFS=, read -r test rps _ _ p50 _ p99 _; do
    test=${test//\"/} rps=${rps//\"/} p50=${p50//\"/} p99=${p99//\"/}
    [[ $test == GET || $test == SET ]] || continue
    VALUE["$run $side-$test redis ops"]=$rps
    VALUE["$run $side-$test redis p50"]=$p50
    VALUE["$run $side-$test redis p99"]=$p99
    log "run $run, redis $side $test: $rps ops/s, p50 $p50 ms, p99 $p99 ms"
  done <"$WORK/redis.csv"
  for test in ${tests//,/ }; do
    [[ -n ${VALUE["$run $side-${test^^} redis ops"]:-} ]] || die "redis-benchmark printed no ${test^^} line: $(cat "$WORK/redis.csv")"
  done
}

json_number() { # file key: a number from the one-line JSON bench small/gather print
  sed -n "s/.*\"$2\":\\([-0-9.eE+]*\\).*/\\1/p" "$1"
}

omnistore_small() { # run case op ops: bench small through the relay, records ops/s, p50, p99
  local run=$1 case=$2 op=$3 ops=$4 out=$WORK/small.json
  "${CLI[@]}" bench small --relay "$RELAY_ADDR" --op "$op" --clients "$CLIENTS" --size "$SIZE" --keys "$KEYS" \
    --ops "$ops" --seconds "$OMNI_SECONDS" --json >"$out" 2>"$WORK/small.err" ||
    die "omnistore bench small --op $op failed: $(cat "$WORK/small.err" "$out")"
  [[ $(json_number "$out" errors) == 0 ]] || die "omnistore bench small --op $op had errors: $(cat "$out")"
  VALUE["$run $case omnistore ops"]=$(json_number "$out" opsPerSecond)
  VALUE["$run $case omnistore p50"]=$(awk -v u="$(json_number "$out" p50Us)" 'BEGIN {printf "%.3f", u / 1000}')
  VALUE["$run $case omnistore p99"]=$(awk -v u="$(json_number "$out" p99Us)" 'BEGIN {printf "%.3f", u / 1000}')
  log "run $run, omnistore $op: $(json_number "$out" operations) operations in $(json_number "$out" seconds) s, ${VALUE["$run $case omnistore ops"]} ops/s, p50 ${VALUE["$run $case omnistore p50"]} ms, p99 ${VALUE["$run $case omnistore p99"]} ms"
}

omnistore_gather() { # run: bench gather, workers through the relay, the master at the root
  local run=$1 out=$WORK/gather.json
  "${CLI[@]}" bench gather --relay "$RELAY_ADDR" --master "$ROOT_ADDR" --workers "$GATHER_WORKERS" --results "$GATHER_RESULTS" \
    --size "$SIZE" --json >"$out" 2>"$WORK/gather.err" ||
    die "omnistore bench gather failed: $(cat "$WORK/gather.err" "$out")"
  [[ $(json_number "$out" errors) == 0 ]] || die "omnistore bench gather had errors: $(cat "$out")"
  for key in putSeconds gatherSeconds totalSeconds objectsPerSecond putP50Us putP99Us getP50Us getP99Us; do
    VALUE["$run gather $key"]=$(json_number "$out" "$key")
  done
  log "run $run, omnistore gather: workers put in ${VALUE["$run gather putSeconds"]} s, the master got all in ${VALUE["$run gather gatherSeconds"]} s, ${VALUE["$run gather objectsPerSecond"]} objects/s overall"
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { awk -v o="$1" -v r="$2" 'BEGIN {if (r > 0) printf "%.2f", o / r; else print "?"}'; }
met() { awk -v x="$1" -v t="$2" 'BEGIN {print (x >= t) ? "met" : "not met"}'; }
ops_cell() { awk -v v="$1" 'BEGIN {printf "%.0f", v}'; }

# Rows: case, Redis test, OmniStore case, target ratio (empty: a reference).
ROWS=(
  "Get, 16 clients, 4 KiB (Redis GET)|plain-GET|get|0.5"
  "durable Put, 16 clients, 4 KiB (Redis SET, appendfsync always)|durable-SET|put|1"
  "Put, 16 clients, 4 KiB (Redis SET without AOF: a reference)|plain-SET|put|"
)
table() { # title, key prefix of VALUE ("1".."RUNS" or "median")
  local title=$1 k=$2 row label rcase ocase target ro oo r
  echo
  echo "### $title"
  echo
  echo "| case | Redis ops/s | p50 ms | p99 ms | OmniStore ops/s | p50 ms | p99 ms | ratio (OmniStore/Redis ops/s) | target |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
  for row in "${ROWS[@]}"; do
    IFS='|' read -r label rcase ocase target <<<"$row"
    ro=${VALUE["$k $rcase redis ops"]} oo=${VALUE["$k $ocase omnistore ops"]}
    r=$(ratio "$oo" "$ro")
    echo "| $label | $(ops_cell "$ro") | ${VALUE["$k $rcase redis p50"]} | ${VALUE["$k $rcase redis p99"]} | $(ops_cell "$oo") | ${VALUE["$k $ocase omnistore p50"]} | ${VALUE["$k $ocase omnistore p99"]} | $r | $(if [[ -n $target ]]; then echo "$target: $(met "$r" "$target")"; else echo "-"; fi) |"
  done
  echo
  echo "Gather: $GATHER_WORKERS workers put $GATHER_RESULTS results of $SIZE bytes through the relay in ${VALUE["$k gather putSeconds"]} s (Put p50 $(awk -v u="${VALUE["$k gather putP50Us"]}" 'BEGIN {printf "%.2f", u / 1000}') ms, p99 $(awk -v u="${VALUE["$k gather putP99Us"]}" 'BEGIN {printf "%.2f", u / 1000}') ms); the master at the root got them all in ${VALUE["$k gather gatherSeconds"]} s (Get p50 $(awk -v u="${VALUE["$k gather getP50Us"]}" 'BEGIN {printf "%.2f", u / 1000}') ms); total ${VALUE["$k gather totalSeconds"]} s, $(ops_cell "${VALUE["$k gather objectsPerSecond"]}") objects/s."
}

# --- setup -------------------------------------------------------------------------------------
(umask 077 && head -c 32 /dev/urandom | base64 >"$WORK/relay.secret") # the root accepts relays that prove it
start_omnistore omnistore-root --relay-secret-file "$WORK/relay.secret"
ROOT_PID=$OMNI_PID ROOT_ADDR=$OMNI_ADDR
start_omnistore omnistore-relay --parent "$ROOT_ADDR" --cache-size 4G --relay-secret-file "$WORK/relay.secret"
RELAY_PID=$OMNI_PID RELAY_ADDR=$OMNI_ADDR
log "omnistore root on $ROOT_ADDR (pid $ROOT_PID), relay on $RELAY_ADDR (pid $RELAY_PID)"

echo "# Small objects: OmniStore through a relay side by side with Redis"
echo
echo "RUNS=$RUNS, $CLIENTS clients, $SIZE-byte values, $(nproc) CPUs, $(uname -sr), redis $REDIS_VERSION, omnistore: ${CLI[*]}; store directories under $(df --output=source /tmp | tail -n 1) ($(findmnt -no FSTYPE -T /tmp 2>/dev/null || echo '?'))"
echo
echo "- Redis: \`redis-server --bind 127.0.0.1 --port PORT --dir DIR --save ''\` (GET, and SET as a reference), then restarted on an empty DIR with \`--appendonly yes --appendfsync always\` (durable SET); \`redis-benchmark -h 127.0.0.1 -p PORT -c $CLIENTS -d $SIZE -r $KEYS -n N -t set,get --csv\`, N = $REDIS_OPS ($REDIS_DURABLE_OPS for the durable SET)."
echo "- OmniStore: a root and a relay (\`omnistore relay\`); \`omnistore bench small --relay RELAY --op get|put --clients $CLIENTS --size $SIZE --keys $KEYS --ops N --seconds $OMNI_SECONDS\`, N = $OMNI_GET_OPS for get, $OMNI_PUT_OPS for put; \`omnistore bench gather --relay RELAY --master ROOT --workers $GATHER_WORKERS --results $GATHER_RESULTS --size $SIZE\`."

# --- runs --------------------------------------------------------------------------------------
for run in $(seq 1 "$RUNS"); do
  LOAD[run]=$(cut -d' ' -f1-3 /proc/loadavg)
  log "run $run of $RUNS (load average ${LOAD[run]})"

  start_redis redis-plain --appendonly no
  redis_benchmark "$run" plain set,get "$REDIS_OPS"
  stop_redis
  start_redis redis-durable --appendonly yes --appendfsync always
  redis_benchmark "$run" durable set "$REDIS_DURABLE_OPS"
  stop_redis

  omnistore_small "$run" get get "$OMNI_GET_OPS"
  omnistore_small "$run" put put "$OMNI_PUT_OPS"
  omnistore_gather "$run"

  table "run $run of $RUNS (load average before the run: ${LOAD[run]})" "$run"
done

# --- summary -----------------------------------------------------------------------------------
keys=()
for k in "${!VALUE[@]}"; do
  [[ $k == "1 "* ]] && keys+=("${k#1 }")
done
for k in "${keys[@]}"; do
  values=()
  for run in $(seq 1 "$RUNS"); do values+=("${VALUE["$run $k"]}"); done
  VALUE["median $k"]=$(median "${values[@]}")
done
table "summary: median of $RUNS run(s)" median
