#!/usr/bin/env bash
# The C API against the C# API: Put and Get of one object (1 GiB by default) through
# libomnistore (native/bench/omst_bench.c) and through OmniStoreClient (bench/OmniStore.Benchmarks
# api-put-get), same data, same warm-up, same kind of store, in one run. A run is one process per
# API, each with a fresh store, timing ITERATIONS Puts of new content and the Get of each; the two
# APIs alternate (C first in odd runs, C# first in even ones) so that drift of the machine affects
# both alike. Prints every measurement, medians and bests, and the C API's throughput as a
# fraction of the C# API's.
#
# Usage: bash bench/scripts/native-vs-managed.sh [SIZE=1G] [RUNS=5] [embedded|root] [ITERATIONS=1]
#   embedded  both open an embedded store in a temporary directory (file:///...)
#   root      both talk to an `omnistore relay` root on loopback, started fresh for each measurement
# Environment: BENCH_DIR, where the temporary stores go (default /tmp; /dev/shm takes the disk,
# whose write speed varies a lot on a shared machine, out of the Put).
# Needs cmake and a C compiler (it builds native/ into native/build).
set -euo pipefail
SIZE=${1:-1G}
RUNS=${2:-5}
MODE=${3:-embedded}
ITERATIONS=${4:-1}
BENCH_DIR=${BENCH_DIR:-/tmp}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BYTES=$(numfmt --from=iec "$SIZE")

echo "building (Release)..."
dotnet build bench/OmniStore.Benchmarks -c Release -v quiet -nologo >/dev/null
cmake -S native -B native/build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build native/build --parallel 2 >/dev/null
C_BENCH=(native/build/omst_bench)
CS_BENCH=(dotnet bench/OmniStore.Benchmarks/bin/Release/net10.0/OmniStore.Benchmarks.dll api-put-get)
CLI=(dotnet src/OmniStore.Cli/bin/Release/net10.0/OmniStore.Cli.dll)

WORK=$(mktemp -d "$BENCH_DIR/omnistore-native-vs-managed-XXXXXX")
ROOT_PID=
stop_root() {
  [[ -n $ROOT_PID ]] || return 0
  kill "$ROOT_PID" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$ROOT_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$ROOT_PID" 2>/dev/null || true
  wait "$ROOT_PID" 2>/dev/null || true
  ROOT_PID=
}
cleanup() {
  stop_root
  rm -rf "$WORK"
}
trap cleanup EXIT

# Echoes the URI a measurement uses: a new embedded store, or a new root.
new_store() {
  local dir=$WORK/store-$1
  rm -rf "$dir"
  if [[ $MODE == embedded ]]; then
    echo "file://$dir"
    return
  fi
  "${CLI[@]}" relay --listen tcp://127.0.0.1:0 --data-dir "$dir" --site root >"$WORK/root.out" 2>"$WORK/root.err" &
  ROOT_PID=$!
  for _ in $(seq 1 300); do
    if grep -q '^listening on ' "$WORK/root.out"; then
      sed -n 's/^listening on //p' "$WORK/root.out"
      return
    fi
    sleep 0.1
  done
  echo "the root did not start: $(cat "$WORK/root.err")" >&2
  exit 1
}

measure() { # api run
  local api=$1 run=$2 uri
  if [[ $MODE == embedded ]]; then
    uri=$(new_store "$api-$run")
  else
    # Not in a command substitution: the root's pid must stay in this shell.
    new_store "$api-$run" >"$WORK/uri" 
    uri=$(cat "$WORK/uri")
  fi
  local bench=("${C_BENCH[@]}")
  [[ $api == c ]] || bench=("${CS_BENCH[@]}")
  timeout 900 "${bench[@]}" "$uri" "$BYTES" $((64 << 20)) "$ITERATIONS" >"$WORK/out"
  stop_root
  rm -rf "$WORK/store-$api-$run"
  sed "s/^/run=$run /" "$WORK/out" | tee -a "$WORK/results"
}

echo "$RUNS runs x $ITERATIONS iterations of Put + Get of $SIZE ($BYTES bytes), $MODE store in $BENCH_DIR ($(df --output=fstype "$BENCH_DIR" | tail -n 1)), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  if ((run % 2)); then
    measure c "$run"
    measure csharp "$run"
  else
    measure csharp "$run"
    measure c "$run"
  fi
done

# Medians (and bests) of the times; throughput in GB/s (10^9 bytes/s) from the medians;
# ratio = C throughput / C# throughput = C# time / C time.
awk -v bytes="$BYTES" '
  function sort(list, n,    i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && list[j - 1] > list[j]; j--) { t = list[j]; list[j] = list[j - 1]; list[j - 1] = t }
  }
  function median(list, n) { sort(list, n); return n % 2 ? list[(n + 1) / 2] : (list[n / 2] + list[n / 2 + 1]) / 2 }
  {
    for (f = 1; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
    api = v["api"]; n[api]++
    put[api, n[api]] = v["put_s"]; get[api, n[api]] = v["get_s"]
  }
  END {
    for (api in n) {
      for (i = 1; i <= n[api]; i++) { p[i] = put[api, i]; g[i] = get[api, i] }
      mp[api] = median(p, n[api]); bp[api] = p[1]
      mg[api] = median(g, n[api]); bg[api] = g[1]
    }
    printf "\n%-7s %9s %9s %9s   %9s %9s %9s\n", "api", "put med s", "best s", "GB/s", "get med s", "best s", "GB/s"
    for (api in n) printf "%-7s %9.3f %9.3f %9.2f   %9.3f %9.3f %9.2f\n", api, mp[api], bp[api], bytes / mp[api] / 1e9, mg[api], bg[api], bytes / mg[api] / 1e9
    printf "\nC API / C# API throughput, medians: put %.3f, get %.3f; bests: put %.3f, get %.3f\n", mp["csharp"] / mp["c"], mg["csharp"] / mg["c"], bp["csharp"] / bp["c"], bg["csharp"] / bg["c"]
    printf "(1.000 = the same; the target is >= 0.900)\n"
  }' "$WORK/results"
