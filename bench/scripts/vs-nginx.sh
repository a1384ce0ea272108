#!/usr/bin/env bash
# OmniStore's relay and CLI side by side with nginx and curl, on one machine, in one run.
#
# Two stacks on loopback, each an origin and a caching relay in front of it:
#   nginx      an origin nginx serving the objects from a directory, and a relay nginx with
#              proxy_cache in front of it (bench/scripts/nginx/origin.conf, relay.conf); the
#              clients are `curl -sS -o /dev/null` against the relay nginx;
#   omnistore  a root (`omnistore relay` without a parent) holding the objects, and an
#              `omnistore relay --parent ROOT`; the clients are
#              `omnistore get NAME -o /dev/null --relay RELAY --quiet`.
# Both serve the same SIZE bytes of pseudo-random data. Each case runs nginx first, then OmniStore,
# and the whole sequence RUNS times:
#   1. cold: the relay restarted on an empty cache, then 1 client;
#   2. hit: the relay restarted on its existing cache, then the first client (first Get after the
#      daemon started), and the third consecutive hit (steady state);
#   3. hit with 1, 4 and 8 clients started together, aggregate throughput (time until the last ends);
#   4. a 3-byte object (a hit), whole process wall time, median of 20; and the start time of
#      `curl --version` and `omnistore get --help` for reference.
# Every client is a whole process, timed by wall clock (bash's EPOCHREALTIME, no fork); MB/s is
# bytes / seconds / 10^6. curl's byte count and HTTP status are checked on every transfer, as is
# every omnistore get's exit status; at the end of each run one Get of each stack writes to a
# tmpfs file compared with the original (cmp). nginx's X-Cache-Status and the omnistore relay's
# chunk fetches from its parent (/metrics) are printed for every large transfer, so that a "hit"
# that was not one shows.
#
# Usage: bash bench/scripts/vs-nginx.sh [SIZE=1G] [RUNS=3] [--csv FILE]
# Environment: OMNISTORE, the omnistore command (default: the Release build of src/OmniStore.Cli,
# built first, run with dotnet), e.g. OMNISTORE=/path/to/omnistore for a NativeAOT binary;
# NGINX, the nginx binary (default: nginx from PATH or /usr/sbin/nginx).
# Needs nginx (as root and missing, it is installed with apt-get: nginx-light, else nginx), curl
# and openssl. Tables on stdout, progress on stderr; temporary files under /tmp (and /dev/shm for
# the check), every process it starts stopped by its pid at exit.
set -euo pipefail
export LC_ALL=C

usage() {
  echo "usage: bash bench/scripts/vs-nginx.sh [SIZE=1G] [RUNS=3] [--csv FILE]  (OMNISTORE=COMMAND, NGINX=BINARY)" >&2
  exit 2
}

SIZE=1G
RUNS=3
CSV=
positional=0
while (($# > 0)); do
  case $1 in
    --csv)
      (($# >= 2)) || usage
      CSV=$(realpath -m "$2")
      shift 2
      ;;
    --csv=*)
      CSV=$(realpath -m "${1#--csv=}")
      shift
      ;;
    -h | --help) usage ;;
    -*) usage ;;
    *)
      case $positional in
        0) SIZE=$1 ;;
        1) RUNS=$1 ;;
        *) usage ;;
      esac
      positional=$((positional + 1))
      shift
      ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be a positive integer, not '$RUNS'" >&2; exit 2; }
BYTES=$(numfmt --from=iec "$SIZE") || { echo "SIZE must be a size such as 1G or 256M, not '$SIZE'" >&2; exit 2; }
((BYTES > 0)) || { echo "SIZE must be more than 0" >&2; exit 2; }
SMALL_REPEATS=20
CONCURRENCY=(1 4 8)

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
TEMPLATES=$PWD/bench/scripts/nginx

log() { echo "[vs-nginx] $*" >&2; }
die() {
  echo "[vs-nginx] error: $*" >&2
  exit 1
}

# --- tools -------------------------------------------------------------------------------------
for tool in curl openssl cmp numfmt; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: install it (Debian: apt-get install curl openssl diffutils coreutils)" >&2; exit 2; }
done
find_nginx() {
  if [[ -n ${NGINX:-} ]]; then
    echo "$NGINX"
  elif command -v nginx >/dev/null; then
    command -v nginx
  elif [[ -x /usr/sbin/nginx ]]; then
    echo /usr/sbin/nginx
  fi
}
NGINX_BIN=$(find_nginx)
if [[ -z $NGINX_BIN ]]; then
  if ((EUID == 0)) && command -v apt-get >/dev/null; then
    log "nginx is missing: installing it (apt-get install nginx-light, else nginx)"
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light >&2 ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >&2
    NGINX_BIN=$(find_nginx)
  fi
  [[ -n $NGINX_BIN ]] || { echo "nginx is missing: install it (Debian/Ubuntu: apt-get install nginx-light), or set NGINX=/path/to/nginx" >&2; exit 2; }
fi
[[ -x $NGINX_BIN ]] || { echo "NGINX=$NGINX_BIN is not an executable file" >&2; exit 2; }
NGINX_VERSION=$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')

if [[ -n ${OMNISTORE:-} ]]; then
  read -ra CLI <<<"$OMNISTORE"
else
  log "building the CLI (Release)"
  dotnet build src/OmniStore.Cli -c Release -v quiet -nologo >/dev/null
  CLI=(dotnet "$PWD/src/OmniStore.Cli/bin/Release/net10.0/OmniStore.Cli.dll")
fi

# --- processes ---------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/omnistore-vs-nginx-XXXXXX)
CHECK_DIR=
ORIGIN_PID='' NRELAY_PID='' ROOT_PID='' ORELAY_PID=''
CLIENTS=()

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
  local pid
  for pid in "${CLIENTS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${CLIENTS[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_pid "$NRELAY_PID" 10
  stop_pid "$ORIGIN_PID" 10
  stop_pid "$ORELAY_PID" 60
  stop_pid "$ROOT_PID" 60
  [[ -z $CHECK_DIR ]] || rm -rf "$CHECK_DIR"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# nginx's workers run as nobody when it is started as root; they read the origin's files.
chmod 755 "$WORK"
if ((EUID == 0)); then
  USER_LINE="user nobody $(id -gn nobody);"
else
  USER_LINE="# (not root: the workers run as the invoking user)"
fi

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

# start_nginx NAME TEMPLATE [ORIGIN]: renders the template into $WORK/NAME/nginx.conf on a free
# port and starts nginx there (its own prefix, pid and logs, in the foreground of a background
# job, so $! is the master); sets NGINX_PID and NGINX_PORT.
start_nginx() {
  local name=$1 template=$2 origin=${3:-} prefix=$WORK/$1 port pid code
  mkdir -p "$prefix"
  for _ in $(seq 1 10); do
    port=$(pick_port)
    sed -e "s|@USER_LINE@|$USER_LINE|" -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$port|g" \
      -e "s|@DOCROOT@|$WORK/www|g" -e "s|@ORIGIN@|$origin|g" -e "s|@MAX_SIZE@|$CACHE_BYTES|g" \
      "$template" >"$prefix/nginx.conf"
    : >"$prefix/error.log"
    "$NGINX_BIN" -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" -g 'daemon off;' >"$prefix/stdout" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/ready" || true)
      if [[ $code == 204 ]]; then
        NGINX_PID=$pid
        NGINX_PORT=$port
        return 0
      fi
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      stop_pid "$pid" 10
      die "nginx $name did not answer on 127.0.0.1:$port: $(cat "$prefix/error.log" "$prefix/stdout")"
    fi
    wait "$pid" 2>/dev/null || true
    grep -q 'Address already in use' "$prefix/error.log" "$prefix/stdout" ||
      die "nginx $name did not start: $(cat "$prefix/error.log" "$prefix/stdout")"
    log "port $port was taken; trying another"
  done
  die "nginx $name found no free port in 10 tries"
}

# start_omnistore NAME ARGS...: an `omnistore relay` on a free loopback port with its store in
# $WORK/NAME, and a status listener; sets OMNI_PID, OMNI_ADDR and OMNI_STATUS.
start_omnistore() {
  local name=$1 pid
  shift
  "${CLI[@]}" relay --listen tcp://127.0.0.1:0 --status-listen http://127.0.0.1:0 --data-dir "$WORK/$name" --site "$name" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" &
  pid=$!
  for _ in $(seq 1 300); do
    if grep -qs '^status on ' "$WORK/$name.out"; then
      OMNI_PID=$pid
      OMNI_ADDR=$(sed -n 's/^listening on //p' "$WORK/$name.out" | head -n 1)
      OMNI_STATUS=$(sed -n 's/^status on //p' "$WORK/$name.out" | head -n 1)
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  stop_pid "$pid" 10
  die "the omnistore $name did not start: $(cat "$WORK/$name.err")"
}

start_origin() {
  start_nginx nginx-origin "$TEMPLATES/origin.conf"
  ORIGIN_PID=$NGINX_PID ORIGIN_PORT=$NGINX_PORT
}
start_nginx_relay() {
  start_nginx nginx-relay "$TEMPLATES/relay.conf" "127.0.0.1:$ORIGIN_PORT"
  NRELAY_PID=$NGINX_PID NRELAY_URL=http://127.0.0.1:$NGINX_PORT
}
restart_nginx_relay() { # [empty]: stops the relay nginx, with "empty" drops its cache, starts it
  local pid=$NRELAY_PID
  NRELAY_PID=
  stop_pid "$pid" 10
  [[ ${1:-} != empty ]] || rm -rf "$WORK/nginx-relay/cache"
  start_nginx_relay
}
start_root() {
  start_omnistore omnistore-root --relay-secret-file "$WORK/relay.secret"
  ROOT_PID=$OMNI_PID ROOT_ADDR=$OMNI_ADDR
}
start_omnistore_relay() {
  start_omnistore omnistore-relay --parent "$ROOT_ADDR" --cache-size "$CACHE_BYTES" --relay-secret-file "$WORK/relay.secret"
  ORELAY_PID=$OMNI_PID ORELAY_ADDR=$OMNI_ADDR ORELAY_STATUS=$OMNI_STATUS
}
restart_omnistore_relay() { # [empty]
  local pid=$ORELAY_PID
  ORELAY_PID=
  stop_pid "$pid" 60
  [[ ${1:-} != empty ]] || rm -rf "$WORK/omnistore-relay"
  start_omnistore_relay
}
upstream_fetches() { # the omnistore relay's chunk fetches from its parent since it started
  { curl -s --max-time 5 "$ORELAY_STATUS/metrics" || true; } | awk '$1 == "omnistore_upstream_chunk_fetches_total" {print $2; found = 1} END {if (!found) print "?"}'
}

# --- measurements ------------------------------------------------------------------------------
# Each sets ELAPSED (seconds, wall clock from before the first client starts until the last ends)
# and NOTE (what the relay did: cache status, chunk fetches from the parent).

nginx_clients() { # N URL-PATH: N curl processes at once; each must get BYTES bytes with status 200
  local n=$1 path=$2 i start end statuses
  CLIENTS=()
  start=$EPOCHREALTIME
  for ((i = 0; i < n; i++)); do
    curl -sS -o /dev/null -w '%{http_code} %{size_download} %header{x-cache-status}\n' "$NRELAY_URL$path" >"$WORK/curl.$i" &
    CLIENTS+=($!)
  done
  for i in "${!CLIENTS[@]}"; do
    wait "${CLIENTS[$i]}" || die "curl client $i failed (exit $?)"
  done
  end=$EPOCHREALTIME
  CLIENTS=()
  ELAPSED=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.6f", b - a}')
  for ((i = 0; i < n; i++)); do
    read -r code got _ <"$WORK/curl.$i"
    [[ $code == 200 && $got == "$EXPECT" ]] || die "curl client $i got status $code and $got bytes, not 200 and $EXPECT"
  done
  statuses=$(awk '{print $3}' "$WORK"/curl.* | sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep = ", "}')
  NOTE="X-Cache-Status $statuses"
  rm -f "$WORK"/curl.*
}

omnistore_clients() { # N NAME: N omnistore get processes at once; each must exit 0
  local n=$1 name=$2 i start end before after
  before=$(upstream_fetches)
  CLIENTS=()
  start=$EPOCHREALTIME
  for ((i = 0; i < n; i++)); do
    "${CLI[@]}" get "$name" -o /dev/null --relay "$ORELAY_ADDR" --quiet 2>"$WORK/get.$i.err" &
    CLIENTS+=($!)
  done
  for i in "${!CLIENTS[@]}"; do
    wait "${CLIENTS[$i]}" || die "omnistore get client $i failed (exit $?): $(cat "$WORK/get.$i.err")"
  done
  end=$EPOCHREALTIME
  CLIENTS=()
  ELAPSED=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.6f", b - a}')
  after=$(upstream_fetches)
  NOTE="chunk fetches from the root: $(awk -v a="$before" -v b="$after" 'BEGIN {if (a == "?" || b == "?") print "?"; else print b - a}')"
  rm -f "$WORK"/get.*.err
}

time_command() { # COMMAND...: ELAPSED of one run, stdout discarded; must exit 0
  local start end
  start=$EPOCHREALTIME
  "$@" >/dev/null || die "'$*' failed (exit $?)"
  end=$EPOCHREALTIME
  ELAPSED=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.6f", b - a}')
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# Results: SECONDS_OF["run case stack"], bytes per client and clients per case.
declare -A SECONDS_OF
CASES=(cold restart steady c1 c4 c8 small start)
declare -A LABEL=(
  [cold]="cold (relay restarted with an empty cache), 1 client"
  [restart]="hit, first Get after the relay restarted on its cache"
  [steady]="hit, steady state (3rd consecutive hit)"
  [c1]="hit, 1 client"
  [c4]="hit, 4 concurrent clients (aggregate)"
  [c8]="hit, 8 concurrent clients (aggregate)"
  [small]="3-byte object, hit, whole process (median of $SMALL_REPEATS)"
  [start]="start only: curl --version / omnistore get --help (median of $SMALL_REPEATS)"
)
case_bytes() { # the bytes all clients of a case move together
  case $1 in
    c4) echo $((4 * BYTES)) ;;
    c8) echo $((8 * BYTES)) ;;
    small) echo 3 ;;
    start) echo 0 ;;
    *) echo "$BYTES" ;;
  esac
}
record() { # run case stack
  SECONDS_OF["$1 $2 $3"]=$ELAPSED
  if [[ $2 == small || $2 == start ]]; then
    log "run $1, $2, $3: $(awk -v s="$ELAPSED" 'BEGIN {printf "%.1f ms", s * 1000}')"
  else
    log "run $1, $2, $3: $(cell "$2" "$ELAPSED") -- $NOTE"
  fi
}
cell() { # case seconds: what a table shows
  local bytes
  bytes=$(case_bytes "$1")
  if [[ $1 == small || $1 == start ]]; then
    awk -v s="$2" 'BEGIN {printf "%.1f ms", s * 1000}'
  else
    awk -v b="$bytes" -v s="$2" 'BEGIN {printf "%.0f MB/s (%.2f s)", b / s / 1e6, s}'
  fi
}
table() { # title, then "case nginx-seconds omnistore-seconds" lines on stdin
  local title=$1 c n o
  echo
  echo "### $title"
  echo
  echo "| case | nginx + curl | omnistore relay + CLI | ratio (omnistore/nginx throughput) |"
  echo "|---|---:|---:|---:|"
  while read -r c n o; do
    echo "| ${LABEL[$c]} | $(cell "$c" "$n") | $(cell "$c" "$o") | $(awk -v n="$n" -v o="$o" 'BEGIN {printf "%.2f", n / o}') |"
  done
}

# --- setup -------------------------------------------------------------------------------------
CACHE_BYTES=$((4 * BYTES > (1 << 30) ? 4 * BYTES : (1 << 30)))
mkdir -p "$WORK/www"
chmod 755 "$WORK/www"
log "writing $SIZE ($BYTES bytes) of pseudo-random data"
# openssl dies of SIGPIPE when head has enough: that is the normal end, not a failure.
{ openssl enc -aes-128-ctr -pass pass:omnistore-vs-nginx -nosalt -pbkdf2 </dev/zero 2>/dev/null || true; } |
  head -c "$BYTES" >"$WORK/www/object"
printf abc >"$WORK/www/small"
chmod 644 "$WORK/www/object" "$WORK/www/small"
[[ $(stat -c %s "$WORK/www/object") == "$BYTES" ]] || die "the data file is not $BYTES bytes"

(umask 077 && head -c 32 /dev/urandom | base64 >"$WORK/relay.secret") # the root accepts relays that prove it
start_root
log "omnistore root on $ROOT_ADDR: putting the objects"
"${CLI[@]}" put object "$WORK/www/object" --relay "$ROOT_ADDR" --quiet >/dev/null
"${CLI[@]}" put small "$WORK/www/small" --relay "$ROOT_ADDR" --quiet >/dev/null
start_omnistore_relay
start_origin
start_nginx_relay
log "nginx origin on 127.0.0.1:$ORIGIN_PORT, nginx relay on $NRELAY_URL, omnistore relay on $ORELAY_ADDR"

CPUS=$(nproc)
echo "# OmniStore relay + CLI side by side with nginx + curl"
echo
echo "SIZE=$SIZE ($BYTES bytes), RUNS=$RUNS, $CPUS CPUs, $(uname -sr), $NGINX_VERSION, $(curl --version | head -n 1 | cut -d' ' -f1-2), omnistore: ${CLI[*]}"
echo "MB/s = bytes / wall seconds / 10^6; ratio = omnistore throughput / nginx throughput (= nginx time / omnistore time; above 1, omnistore is faster)."
echo
echo "nginx configuration: bench/scripts/nginx/origin.conf and relay.conf, rendered for this run as"
for conf in nginx-origin nginx-relay; do
  echo
  echo "\`$conf/nginx.conf\`:"
  echo '```nginx'
  grep -v '^ *#' "$WORK/$conf/nginx.conf" | sed '/^$/d'
  echo '```'
done

# --- runs --------------------------------------------------------------------------------------
for run in $(seq 1 "$RUNS"); do
  log "run $run of $RUNS"
  EXPECT=$BYTES

  # 1. cold
  restart_nginx_relay empty
  nginx_clients 1 /object
  record "$run" cold nginx
  restart_omnistore_relay empty
  omnistore_clients 1 object
  record "$run" cold omnistore

  # 2. the first hit after a restart on the cache, then the 2nd and 3rd hits
  restart_nginx_relay
  nginx_clients 1 /object
  record "$run" restart nginx
  restart_omnistore_relay
  omnistore_clients 1 object
  record "$run" restart omnistore
  nginx_clients 1 /object
  omnistore_clients 1 object
  nginx_clients 1 /object
  record "$run" steady nginx
  omnistore_clients 1 object
  record "$run" steady omnistore

  # 3. concurrent hits
  for n in "${CONCURRENCY[@]}"; do
    nginx_clients "$n" /object
    record "$run" "c$n" nginx
    omnistore_clients "$n" object
    record "$run" "c$n" omnistore
  done

  # 4. a 3-byte object (warmed once, content checked), and the start time alone
  EXPECT=3
  [[ $(curl -sS "$NRELAY_URL/small") == abc ]] || die "curl got the wrong small object"
  [[ $("${CLI[@]}" get small -o - --relay "$ORELAY_ADDR" --quiet) == abc ]] || die "omnistore get got the wrong small object"
  small_n=() small_o=() start_n=() start_o=()
  for _ in $(seq 1 "$SMALL_REPEATS"); do
    nginx_clients 1 /small
    small_n+=("$ELAPSED")
    time_command "${CLI[@]}" get small -o /dev/null --relay "$ORELAY_ADDR" --quiet
    small_o+=("$ELAPSED")
  done
  for _ in $(seq 1 "$SMALL_REPEATS"); do
    time_command curl --version
    start_n+=("$ELAPSED")
    time_command "${CLI[@]}" get --help
    start_o+=("$ELAPSED")
  done
  ELAPSED=$(median "${small_n[@]}") && record "$run" small nginx
  ELAPSED=$(median "${small_o[@]}") && record "$run" small omnistore
  ELAPSED=$(median "${start_n[@]}") && record "$run" start nginx
  ELAPSED=$(median "${start_o[@]}") && record "$run" start omnistore

  # The check: one Get of each stack into a tmpfs file, compared with the original.
  if [[ -z $CHECK_DIR ]]; then
    if [[ -d /dev/shm && -w /dev/shm ]]; then CHECK_DIR=$(mktemp -d /dev/shm/omnistore-vs-nginx-XXXXXX); else CHECK_DIR=$(mktemp -d "$WORK/check-XXXXXX"); fi
  fi
  curl -sS -o "$CHECK_DIR/object" "$NRELAY_URL/object"
  cmp -s "$CHECK_DIR/object" "$WORK/www/object" || die "run $run: the object curl got from the nginx relay differs from the original"
  rm -f "$CHECK_DIR/object"
  "${CLI[@]}" get object -o "$CHECK_DIR/object" --relay "$ORELAY_ADDR" --quiet
  cmp -s "$CHECK_DIR/object" "$WORK/www/object" || die "run $run: the object omnistore get wrote differs from the original"
  rm -f "$CHECK_DIR/object"
  log "run $run: both stacks delivered the object intact (cmp)"

  for c in "${CASES[@]}"; do
    echo "$c ${SECONDS_OF["$run $c nginx"]} ${SECONDS_OF["$run $c omnistore"]}"
  done | table "run $run of $RUNS"
done

# --- summary -----------------------------------------------------------------------------------
declare -A MEDIAN_OF
for c in "${CASES[@]}"; do
  for s in nginx omnistore; do
    values=()
    for run in $(seq 1 "$RUNS"); do values+=("${SECONDS_OF["$run $c $s"]}"); done
    MEDIAN_OF["$c $s"]=$(median "${values[@]}")
  done
done
for c in "${CASES[@]}"; do
  echo "$c ${MEDIAN_OF["$c nginx"]} ${MEDIAN_OF["$c omnistore"]}"
done | table "summary: median of $RUNS run(s), SIZE=$SIZE"

if [[ -n $CSV ]]; then
  {
    echo "run,case,stack,clients,bytes,seconds,mb_per_s"
    for run in $(seq 1 "$RUNS") median; do
      for c in "${CASES[@]}"; do
        for s in nginx omnistore; do
          if [[ $run == median ]]; then secs=${MEDIAN_OF["$c $s"]}; else secs=${SECONDS_OF["$run $c $s"]}; fi
          clients=1
          [[ $c == c4 ]] && clients=4
          [[ $c == c8 ]] && clients=8
          bytes=$(case_bytes "$c")
          echo "$run,$c,$s,$clients,$bytes,$secs,$(awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.1f", b / s / 1e6}')"
        done
      done
    done
  } >"$CSV"
  log "CSV written to $CSV"
fi
