#!/usr/bin/env bash
# Reliable UDP against TCP: bulk goodput of one connection (or two) between two hosts, with rudp
# (`omnistore bench link` over rudp://, BBR and CUBIC), with OmniStore's TCP transport
# (`omnistore bench link` over tcp://) and with the kernel's TCP through iperf3 (CUBIC and BBR).
# Every case but (a) runs in a lab of its own (`OmniStore.Lab up --sites 1`, removed after the
# case): the client runs on site1's host, the server on the master's host (198.18.0.2), so the
# bytes cross the site's shaped link (rate, delay, loss each way) and the master's unshaped one.
# The lab's delay is one-way per link, and the master's link has none: a round trip of R is
# `--delay R/2` on the site's link (docs/lab.md).
#
#   a  loopback, no lab: 127.0.0.1, nothing shaped (what the hosts' CPUs allow)
#   b  1 Gbit/s, 40 ms RTT, no loss
#   c  1 Gbit/s, 40 ms RTT, 1% loss each way
#   d  100 Mbit/s, 200 ms RTT, 0.1% loss each way
#   e  100 Mbit/s, 40 ms RTT: two rudp flows at once (bench link --parallel 2): each one's goodput
#      and Jain's fairness index
#   f  100 Mbit/s, 40 ms RTT: one rudp flow (BBR) and one iperf3 TCP flow (CUBIC) at once: each
#      one's goodput and TCP's share
#
# In (a)-(d) the tools run one after the other in the same lab: iperf3 -C cubic, iperf3 -C bbr,
# bench link tcp://, bench link rudp:// (BBR, rudp's default), bench link rudp:// with
# OMNISTORE_RUDP_CC=cubic. The table gives goodput (bytes the receiver read, per second), its share
# of the link's rate and of rate x (1 - loss) (the link's rate counts IP bytes, so a full link
# carries about 96% of it as TCP payload), CPU seconds per GB at the sender and the receiver
# (bench link: process CPU, user + system, of each end; iperf3: its cpu_utilization_percent times
# the run's length), and the share retransmitted (iperf3: retransmitted segments x MSS / bytes sent;
# rudp: bytes sent again / stream bytes, and packets lost / packets sent).
#
# Usage: sudo bash bench/scripts/rudp-vs-tcp.sh [SECONDS=10]
# Environment:
#   CASES="a b c d e f"  the cases to run, in order
#   SECONDS_A .. SECONDS_F  seconds of each run of that case (default: SECONDS)
#   RATE_SCALE=1         multiplies every link rate (e.g. 0.5 where the lab's wire cannot carry
#                        1 Gbit/s: docs/performance.md, "WAN lab wire"); said in the output
#   OMNISTORE            the omnistore command (default: the Release build of src/OmniStore.Cli,
#                        built first, run with dotnet), e.g. OMNISTORE=dist/bin/omnistore
#   RESULTS              also write the report (markdown) to this file
# Needs root (the lab; case a alone does not), iperf3, jq, iproute2, nftables. Table on stdout,
# progress on stderr. Every process it starts is stopped by its pid at exit, and each lab is removed
# (SIGTERM) after its case; temporary files live in a mktemp directory under /tmp, removed at exit.
# Traffic only on 127.0.0.1 and inside the lab's namespaces (198.18.0.0/15).
set -euo pipefail
export LC_ALL=C

usage() {
  echo "usage: sudo bash bench/scripts/rudp-vs-tcp.sh [SECONDS=10]  (CASES=\"a b c d e f\", SECONDS_A..SECONDS_F, RATE_SCALE=1, OMNISTORE=COMMAND, RESULTS=FILE)" >&2
  exit 2
}
case $# in
  0) RUN_SECONDS=10 ;;
  1)
    [[ $1 == -h || $1 == --help ]] && usage
    RUN_SECONDS=$1
    ;;
  *) usage ;;
esac
positive() { [[ $2 =~ ^[1-9][0-9]*$ && $2 -le 600 ]] || { echo "$1 must be a whole number of seconds, 1..600, not '$2'" >&2; exit 2; }; }
positive SECONDS "$RUN_SECONDS"
CASES=${CASES:-a b c d e f}
for c in $CASES; do
  [[ $c =~ ^[a-f]$ ]] || { echo "CASES: '$c' is not one of a b c d e f" >&2; exit 2; }
  v=SECONDS_${c^^}
  [[ -z ${!v:-} ]] || positive "$v" "${!v}"
done
RATE_SCALE=${RATE_SCALE:-1}
awk -v s="$RATE_SCALE" 'BEGIN {exit !(s ~ /^[0-9]*\.?[0-9]+$/ && s + 0 > 0 && s + 0 <= 10)}' ||
  { echo "RATE_SCALE must be a number above 0 and at most 10, not '$RATE_SCALE'" >&2; exit 2; }
NEEDS_LAB=0
for c in $CASES; do [[ $c == a ]] || NEEDS_LAB=1; done
if ((NEEDS_LAB)) && ((EUID != 0)); then
  echo "cases ${CASES// /,} need the lab, which needs root: sudo bash $0 (or CASES=a)" >&2
  exit 2
fi
for tool in iperf3 jq; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (Debian/Ubuntu: apt-get install $tool)" >&2; exit 2; }
done

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
log() { echo "[rudp-vs-tcp] $*" >&2; }
die() {
  echo "[rudp-vs-tcp] error: $*" >&2
  exit 1
}

# --- tools -------------------------------------------------------------------------------------
if [[ -n ${OMNISTORE:-} ]]; then
  read -ra CLI <<<"$OMNISTORE"
else
  log "building the CLI (Release)"
  dotnet build src/OmniStore.Cli -c Release -v quiet -nologo >/dev/null
  CLI=(dotnet "$PWD/src/OmniStore.Cli/bin/Release/net10.0/OmniStore.Cli.dll")
fi
if ((NEEDS_LAB)); then
  log "building the lab (Release)"
  dotnet build bench/OmniStore.Lab -c Release -v quiet -nologo >/dev/null
  LAB=(dotnet "$PWD/bench/OmniStore.Lab/bin/Release/net10.0/OmniStore.Lab.dll")
  if ! grep -qw bbr /proc/sys/net/ipv4/tcp_available_congestion_control; then
    modprobe tcp_bbr 2>/dev/null || log "TCP BBR is not available (modprobe tcp_bbr failed): the iperf3 -C bbr rows will fail"
  fi
fi

# --- processes ---------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/omnistore-rudp-vs-tcp-XXXXXX)
UP_PID='' PREFIX=''
PIDS=() # servers and clients started in the background

stop_pid() { # pid [seconds] [signal]: the signal (TERM), then SIGKILL after the grace
  local pid=$1 tenths=$((${2:-10} * 10))
  [[ -n $pid ]] || return 0
  kill -"${3:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$tenths"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "process $pid did not stop within ${2:-10} s: killing it"
    kill -9 "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid" 5; done
  PIDS=()
}
lab_down() {
  if [[ -n $UP_PID ]]; then
    # SIGTERM, not SIGINT: a background job of a non-interactive shell ignores SIGINT.
    stop_pid "$UP_PID" 30 TERM # the lab removes itself (namespaces, wire) on SIGTERM
    UP_PID=''
  fi
  if [[ -n $PREFIX ]] && compgen -G "/run/netns/$PREFIX.*" >/dev/null; then
    log "lab $PREFIX left namespaces behind: ${LAB[*]} clean"
  fi
  PREFIX=''
}
cleanup() {
  stop_all
  lab_down
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the path ----------------------------------------------------------------------------------
# Where the current case runs: the client's and the server's command prefixes (ip netns exec NS,
# or nothing: this namespace) and the server's address. Commands started in the background are
# simple commands (ip netns exec and env exec theirs), so $! is the process itself.
CLIENT=() SERVER=() GATEWAY=() SERVER_ADDR=127.0.0.1

lab_up() { # rate_bits delay loss
  local rate=$1 delay=$2 loss=$3
  "${LAB[@]}" up --sites 1 --rate "$rate" --delay "$delay" --loss "$loss" >"$WORK/up.out" 2>"$WORK/up.err" &
  UP_PID=$!
  for _ in $(seq 1 600); do
    grep -q '^ready$' "$WORK/up.out" && break
    kill -0 "$UP_PID" 2>/dev/null || die "the lab did not come up: $(cat "$WORK/up.err")"
    sleep 0.1
  done
  PREFIX=$(sed -n 's/^lab \(omnilab-[0-9a-f]*\) up.*/\1/p' "$WORK/up.out")
  [[ -n $PREFIX ]] || die "the lab did not come up in 60 s: $(cat "$WORK/up.err")"
  CLIENT=(ip netns exec "$PREFIX.site1") SERVER=(ip netns exec "$PREFIX.master") GATEWAY=(ip netns exec "$PREFIX.site1.gw") SERVER_ADDR=198.18.0.2
  log "lab $PREFIX: $(grep -E '^  site1 ' "$WORK/up.out" | sed 's/.*link: //')"
}
no_lab() { CLIENT=() SERVER=() GATEWAY=() SERVER_ADDR=127.0.0.1; }

# Where packets were dropped other than by the lab's loss: datagrams the receiving host's UDP
# sockets had no buffer room for (RcvbufErrors of the server's namespace) and the sending host's
# could not queue (SndbufErrors of the client's; on loopback both are the whole host's), packets the
# site link's queue dropped (tc on the gateway's wan device: the site's upload), and packets the
# lab's devices dropped (rx and tx drops of every device in the lab's namespaces: a TUN device's
# queue overflows when the wire's pump cannot keep up). "rcvbuf sndbuf queue devices".
snmp_udp() { # field, with a namespace prefix before it: one of /proc/net/snmp's Udp counters
  local field=$1
  shift
  # shellcheck disable=SC2016 # awk's own fields
  "$@" awk -v f="$field" '/^Udp:/ {if (!h) {for (i = 1; i <= NF; i++) k[i] = $i; h = 1} else for (i = 1; i <= NF; i++) if (k[i] == f) print $i}' /proc/net/snmp
}
drop_counters() {
  local rcvbuf sndbuf queue=- devices=- ns
  rcvbuf=$(snmp_udp RcvbufErrors "${SERVER[@]}")
  sndbuf=$(snmp_udp SndbufErrors "${CLIENT[@]}")
  if ((${#GATEWAY[@]})); then
    queue=$("${GATEWAY[@]}" tc -s qdisc show dev wan | grep -o 'dropped [0-9]*' | awk '{s += $2} END {print s + 0}')
    devices=0
    for ns in "$PREFIX.site1" "$PREFIX.site1.gw" "$PREFIX.core" "$PREFIX.master.gw" "$PREFIX.master"; do
      devices=$((devices + $(ip netns exec "$ns" sh -c 'cat /sys/class/net/*/statistics/rx_dropped /sys/class/net/*/statistics/tx_dropped' | awk '{s += $1} END {print s + 0}')))
    done
  fi
  echo "${rcvbuf:-0} ${sndbuf:-0} $queue $devices"
}
drops_note() { # "rcvbuf sndbuf queue devices" before: what changed since
  local before after
  read -r -a before <<<"$1"
  read -r -a after <<<"$(drop_counters)"
  local text="UDP drops: receiver buffer $((after[0] - before[0])), sender buffer $((after[1] - before[1]))"
  [[ ${after[2]} == - ]] || text+="; link queue drops $((after[2] - before[2])), lab device drops $((after[3] - before[3]))"
  echo "$text"
}

# --- one run of each tool ----------------------------------------------------------------------
# ROWS: "case|tool|goodput Mbit/s|CPU s/GB sender|CPU s/GB receiver|retransmitted|loss|note"
ROWS=()
RUN=0
num() { awk -v v="$1" -v f="${2:-%.1f}" 'BEGIN {if (v == "" || v == "null") print "-"; else printf f, v}'; }

# in_background COMMAND...: runs it as a background job and waits for it, so that a signal's trap
# runs at once (bash defers traps while a foreground command runs) and the cleanup can stop it.
in_background() {
  "$@" &
  local pid=$!
  PIDS+=("$pid")
  wait "$pid"
}

iperf3_server() { # port: an iperf3 server for one test on SERVER_ADDR:port, in the server's namespace
  "${SERVER[@]}" iperf3 -s -1 -B "$SERVER_ADDR" -p "$1" >"$WORK/iperf3-server-$1.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 50); do
    "${SERVER[@]}" ss -ltnH "sport = :$1" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  die "iperf3 did not listen on $SERVER_ADDR:$1: $(cat "$WORK/iperf3-server-$1.out")"
}
iperf3_client() { # seconds port cc out: iperf3 -c, JSON into out
  in_background timeout $(($1 + 60)) "${CLIENT[@]}" iperf3 -c "$SERVER_ADDR" -p "$2" -t "$1" -C "$3" -J >"$4" 2>"$4.err" || true
}
iperf3_row() { # case tool seconds out: a row from iperf3's JSON
  local case=$1 tool=$2 seconds=$3 out=$4 error
  error=$(jq -r '.error // empty' "$out" 2>/dev/null || echo "no JSON: $(head -c 300 "$out" "$out.err")")
  if [[ -n $error ]]; then
    log "$case $tool failed: $error"
    ROWS+=("$case|$tool|failed|||||$error")
    return
  fi
  local mbps sender receiver retrans
  mbps=$(jq '.end.sum_received.bits_per_second / 1e6' "$out")
  # CPU: percent of the run's wall time, at each end; per GB of what the receiver got.
  sender=$(jq '(.end.cpu_utilization_percent.host_total / 100 * .end.sum_sent.seconds) / (.end.sum_received.bytes / 1e9)' "$out")
  receiver=$(jq '(.end.cpu_utilization_percent.remote_total / 100 * .end.sum_sent.seconds) / (.end.sum_received.bytes / 1e9)' "$out")
  retrans=$(jq '(.end.sum_sent.retransmits // 0) * (.start.tcp_mss_default // 1448) / .end.sum_sent.bytes' "$out")
  ROWS+=("$case|$tool|$mbps|$sender|$receiver|$retrans||${DROPS:-}")
  log "$case $tool: $(num "$mbps") Mbit/s, retransmits $(jq '.end.sum_sent.retransmits // 0' "$out")"
}

link_server() { # scheme port: bench link --listen ... --once in the server's namespace; waits until it listens
  local out=$WORK/link-server-$2.out
  "${SERVER[@]}" env ${CC_ENV:+"$CC_ENV"} "${CLI[@]}" bench link --listen "$1://$SERVER_ADDR:$2" --once --json >"$out" 2>"$out.err" &
  PIDS+=($!)
  for _ in $(seq 1 300); do
    grep -qs '^listening on ' "$out" && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  die "bench link did not listen on $1://$SERVER_ADDR:$2: $(cat "$out.err")"
}
link_client() { # seconds scheme port out [args...]
  local seconds=$1 scheme=$2 port=$3 out=$4
  shift 4
  in_background timeout $((seconds + 90)) "${CLIENT[@]}" env ${CC_ENV:+"$CC_ENV"} "${CLI[@]}" bench link --connect "$scheme://$SERVER_ADDR:$port" --seconds "$seconds" --json "$@" >"$out" 2>"$out.err" || true
}
link_row() { # case tool out: a row from bench link's JSON
  local case=$1 tool=$2 out=$3
  if ! [[ -s $out ]] || ! jq -e '.operation == "link"' "$out" >/dev/null 2>&1; then
    local error
    error=$(tr '\n' ' ' <"$out.err" | cut -c1-1000)
    log "$case $tool failed: $error"
    ROWS+=("$case|$tool|failed|||||${error//|/ }; ${DROPS:-}")
    return
  fi
  local mbps sender receiver retrans loss note
  mbps=$(jq '.goodputMbps' "$out")
  sender=$(jq '.cpuSecondsPerGB' "$out")
  receiver=$(jq '.serverCpuSecondsPerGB' "$out")
  retrans=$(jq '.retransmittedRatio // empty' "$out")
  loss=$(jq '.lossRatio // empty' "$out")
  note=$(jq -r 'if .flows[0].transportStatistics then (.flows[0].transportStatistics | "rtt \(.rttMs) ms (min \(.minRttMs)), MTU \(.pathMtu), \(.congestion)") else "" end' "$out")
  if [[ $(jq -r '.transport' "$out") == tcp ]]; then
    note="the kernel's TCP, $("${CLIENT[@]}" cat /proc/sys/net/ipv4/tcp_congestion_control) (the namespace's default)"
  fi
  if [[ $(jq '.connections' "$out") -gt 1 ]]; then
    note="flows $(jq -r '[.flows[].goodputMbps | (. * 10 | round / 10 | tostring)] | join(" + ")' "$out") Mbit/s, Jain $(jq '.jainIndex * 10000 | round / 10000' "$out"); $note"
  fi
  ROWS+=("$case|$tool|$mbps|$sender|$receiver|$retrans|$loss|${note:+$note; }${DROPS:-}")
  log "$case $tool: $(num "$mbps") Mbit/s${loss:+, loss $loss}${note:+ ($note)}"
}

next_port() { RUN=$((RUN + 1)); PORT=$((5300 + RUN)); }

run_iperf3() { # case seconds cc
  next_port
  iperf3_server "$PORT"
  local counters
  counters=$(drop_counters)
  iperf3_client "$2" "$PORT" "$3" "$WORK/run$RUN.json"
  DROPS=$(drops_note "$counters")
  stop_all
  iperf3_row "$1" "iperf3 TCP $3" "$2" "$WORK/run$RUN.json"
}
run_link() { # case seconds scheme cc(empty: default) [client args...]
  local case=$1 seconds=$2 scheme=$3 cc=$4 tool
  shift 4
  next_port
  CC_ENV=${cc:+OMNISTORE_RUDP_CC=$cc}
  link_server "$scheme" "$PORT"
  local counters
  counters=$(drop_counters)
  link_client "$seconds" "$scheme" "$PORT" "$WORK/run$RUN.json" "$@"
  DROPS=$(drops_note "$counters")
  stop_all
  tool="bench link $scheme"
  [[ $scheme == rudp ]] && tool+=" ${cc:-bbr}"
  [[ $# -gt 0 ]] && tool+=" $*"
  link_row "$case" "$tool" "$WORK/run$RUN.json"
  CC_ENV=''
}
CC_ENV='' DROPS=''

all_tools() { # case seconds
  run_iperf3 "$1" "$2" cubic
  run_iperf3 "$1" "$2" bbr
  run_link "$1" "$2" tcp ''
  run_link "$1" "$2" rudp ''
  run_link "$1" "$2" rudp cubic
}

shared_with_tcp() { # case seconds: one rudp (BBR) flow and one iperf3 TCP (CUBIC) flow at once
  local case=$1 seconds=$2 tcp_out rudp_out tcp_pid rudp_pid
  next_port
  local tcp_port=$PORT
  next_port
  local rudp_port=$PORT
  tcp_out=$WORK/run$((RUN - 1)).json rudp_out=$WORK/run$RUN.json
  iperf3_server "$tcp_port"
  link_server rudp "$rudp_port"
  local counters
  counters=$(drop_counters)
  timeout $((seconds + 60)) "${CLIENT[@]}" iperf3 -c "$SERVER_ADDR" -p "$tcp_port" -t "$seconds" -C cubic -J >"$tcp_out" 2>"$tcp_out.err" &
  tcp_pid=$!
  PIDS+=("$tcp_pid")
  timeout $((seconds + 90)) "${CLIENT[@]}" "${CLI[@]}" bench link --connect "rudp://$SERVER_ADDR:$rudp_port" --seconds "$seconds" --json >"$rudp_out" 2>"$rudp_out.err" &
  rudp_pid=$!
  PIDS+=("$rudp_pid")
  wait "$tcp_pid" "$rudp_pid" || true
  DROPS="both flows: $(drops_note "$counters")"
  stop_all
  iperf3_row "$case" "iperf3 TCP cubic (shared)" "$seconds" "$tcp_out"
  link_row "$case" "bench link rudp bbr (shared)" "$rudp_out"
  local tcp rudp
  tcp=$(jq '.end.sum_received.bits_per_second / 1e6' "$tcp_out" 2>/dev/null || echo 0)
  rudp=$(jq '.goodputMbps' "$rudp_out" 2>/dev/null || echo 0)
  ROWS+=("$case|both together|$(awk -v t="$tcp" -v r="$rudp" 'BEGIN {print t + r}')|||||TCP's share $(awk -v t="$tcp" -v r="$rudp" 'BEGIN {if (t + r > 0) printf "%.1f%%", 100 * t / (t + r); else print "?"}'), Jain $(awk -v t="$tcp" -v r="$rudp" 'BEGIN {if (t * t + r * r > 0) printf "%.4f", (t + r) ^ 2 / (2 * (t * t + r * r)); else print "?"}')")
}

# --- the cases ---------------------------------------------------------------------------------
declare -A RATE LOSS DESCRIPTION
scaled() { awk -v r="$1" -v s="$RATE_SCALE" 'BEGIN {printf "%.0f", r * s}'; } # bits per second
RATE[a]='' LOSS[a]=0
RATE[b]=$(scaled 1e9) LOSS[b]=0
RATE[c]=$(scaled 1e9) LOSS[c]=0.01
RATE[d]=$(scaled 1e8) LOSS[d]=0.001
RATE[e]=$(scaled 1e8) LOSS[e]=0
RATE[f]=$(scaled 1e8) LOSS[f]=0
mbit() { awk -v r="$1" 'BEGIN {printf "%g Mbit/s", r / 1e6}'; }
DESCRIPTION[a]="loopback (127.0.0.1), nothing shaped"
DESCRIPTION[b]="$(mbit "${RATE[b]}"), 40 ms RTT, no loss"
DESCRIPTION[c]="$(mbit "${RATE[c]}"), 40 ms RTT, 1% loss each way"
DESCRIPTION[d]="$(mbit "${RATE[d]}"), 200 ms RTT, 0.1% loss each way"
DESCRIPTION[e]="$(mbit "${RATE[e]}"), 40 ms RTT, two rudp flows at once"
DESCRIPTION[f]="$(mbit "${RATE[f]}"), 40 ms RTT, rudp (BBR) and iperf3 TCP (CUBIC) at once"

run_case() {
  local c=$1 v=SECONDS_${1^^} seconds
  seconds=${!v:-$RUN_SECONDS}
  log "case $c: ${DESCRIPTION[$c]}; $seconds s per run"
  case $c in
    a) no_lab; all_tools a "$seconds" ;;
    b | c) lab_up "${RATE[$c]}" 20ms "${LOSS[$c]}"; all_tools "$c" "$seconds"; lab_down ;;
    d) lab_up "${RATE[$c]}" 100ms "${LOSS[$c]}"; all_tools d "$seconds"; lab_down ;;
    e) lab_up "${RATE[$c]}" 20ms 0; run_link e "$seconds" rudp '' --parallel 2; lab_down ;;
    f) lab_up "${RATE[$c]}" 20ms 0; shared_with_tcp f "$seconds"; lab_down ;;
  esac
}

START=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
for c in $CASES; do run_case "$c"; done

# --- the table ---------------------------------------------------------------------------------
report() {
  echo "# Reliable UDP against TCP"
  echo
  echo "Started $START; cases: $CASES; $RUN_SECONDS s per run unless SECONDS_X says otherwise; $(nproc) CPUs, $(uname -sr), load average before: $LOAD; $(iperf3 --version | head -n 1); omnistore: ${CLI[*]}."
  if [[ $RATE_SCALE != 1 ]]; then
    echo
    echo "**RATE_SCALE=$RATE_SCALE: every link rate is scaled by $RATE_SCALE** (the lab's wire on this machine cannot carry the nominal rate; see docs/performance.md, \"WAN lab wire\")."
  fi
  echo
  for c in $CASES; do echo "- ($c) ${DESCRIPTION[$c]}"; done
  echo
  echo "| case | tool | goodput Mbit/s | % of link rate | % of rate x (1 - loss) | CPU s/GB sender / receiver | retransmitted | packets lost | notes |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
  local row c tool mbps sender receiver retrans loss note rate pct pct_loss cpu
  for row in "${ROWS[@]}"; do
    IFS='|' read -r c tool mbps sender receiver retrans loss note <<<"$row"
    rate=${RATE[$c]}
    if [[ -n $rate && $mbps != failed ]]; then
      pct=$(awk -v g="$mbps" -v r="$rate" 'BEGIN {printf "%.1f%%", 100 * g * 1e6 / r}')
      pct_loss=$(awk -v g="$mbps" -v r="$rate" -v l="${LOSS[$c]}" 'BEGIN {printf "%.1f%%", 100 * g * 1e6 / (r * (1 - l))}')
    else
      pct=- pct_loss=-
    fi
    if [[ -n $sender ]]; then cpu="$(num "$sender" %.2f) / $(num "$receiver" %.2f)"; else cpu=-; fi
    [[ $mbps == failed ]] || mbps=$(num "$mbps")
    echo "| $c | $tool | $mbps | $pct | $pct_loss | $cpu | $(if [[ -n $retrans ]]; then num "$retrans" %.4f; else echo -; fi) | $(if [[ -n $loss ]]; then num "$loss" %.4f; else echo -; fi) | ${note:--} |"
  done
}
report | tee "${RESULTS:-/dev/null}"
