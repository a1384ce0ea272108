#!/usr/bin/env bash
# Whole-process start and small-object times, as a worker script sees them: the omnistore command
# compiled ahead of time (eng/publish.sh) against the same command run by the dotnet host (JIT),
# and a C program linking libomnistore. Each case runs COUNT times, interleaved; medians in ms.
#   --help                       the command starts, prints, exits
#   get via a node               a 3-byte object from a root on loopback (a NativeAOT daemon)
#   get from the embedded store  a 3-byte object from a store on disk (opens the store)
#   C: omst_init + get + finalize  the same from a C program, embedded store
# Usage: bash bench/scripts/startup.sh [COUNT=20]   (builds dist/ with eng/publish.sh if missing)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/timing.sh"
COUNT=${1:-20}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[[ -x dist/bin/omnistore && -e dist/lib/libomnistore.so ]] || bash eng/publish.sh dist >/dev/null
dotnet build src/OmniStore.Cli -c Release -v quiet -nologo >/dev/null
AOT=("$PWD/dist/bin/omnistore")
JIT=(dotnet "$PWD/src/OmniStore.Cli/bin/Release/net10.0/OmniStore.Cli.dll")
WORK=$(mktemp -d /tmp/omnistore-startup-XXXXXX)
ROOT_PID=
cleanup() {
  [[ -n $ROOT_PID ]] && kill "$ROOT_PID" 2>/dev/null && wait "$ROOT_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/small.c" <<'C'
#include <omnistore.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    char buffer[16];
    if (omst_init(argv[1]) != OMST_OK) { fprintf(stderr, "%s\n", omst_last_error()); return 1; }
    long long n = omst_get_data("small", buffer, sizeof buffer);
    omst_finalize();
    return n == 3 ? 0 : 1;
}
C
cc -O2 -I dist/include "$WORK/small.c" -L dist/lib -Wl,-rpath,"$PWD/dist/lib" -lomnistore -o "$WORK/small"

"${AOT[@]}" relay --listen tcp://127.0.0.1:0 --data-dir "$WORK/root" --site root >"$WORK/root.out" 2>"$WORK/root.err" &
ROOT_PID=$!
for _ in $(seq 1 100); do grep -q '^listening on ' "$WORK/root.out" && break; sleep 0.1; done
NODE=$(sed -n 's/^listening on //p' "$WORK/root.out")
printf 'abc' | "${AOT[@]}" put small - --relay "$NODE" --quiet
printf 'abc' | "${AOT[@]}" put small - --store "$WORK/store" --quiet


declare -A samples
cases=("--help|aot" "--help|jit" "get via a node|aot" "get via a node|jit" "get from the embedded store|aot" "get from the embedded store|jit" "C: omst_init + get + finalize|c")
for ((i = 0; i < COUNT; i++)); do
  for case in "${cases[@]}"; do
    what=${case%|*} how=${case#*|}
    case $how in aot) cmd=("${AOT[@]}") ;; jit) cmd=("${JIT[@]}") ;; esac
    case $what in
      --help) t=$(time_ms "${cmd[@]}" --help) ;;
      "get via a node") t=$(time_ms "${cmd[@]}" get small -o /dev/null --relay "$NODE" --quiet) ;;
      "get from the embedded store") t=$(time_ms "${cmd[@]}" get small -o /dev/null --store "$WORK/store" --quiet) ;;
      C:*) t=$(time_ms "$WORK/small" "file://$WORK/store") ;;
    esac
    samples[$case]+="$t "
  done
done

printf '| case | NativeAOT | JIT (dotnet host) | ratio |\n|---|---:|---:|---:|\n'
for what in "--help" "get via a node" "get from the embedded store"; do
  a=$(tr ' ' '\n' <<<"${samples[$what|aot]}" | grep . | median)
  j=$(tr ' ' '\n' <<<"${samples[$what|jit]}" | grep . | median)
  printf '| %s | %s ms | %s ms | %s |\n' "$what" "$a" "$j" "$(awk -v a="$a" -v j="$j" 'BEGIN {printf "%.2f", a / j}')"
done
c=$(tr ' ' '\n' <<<"${samples[C: omst_init + get + finalize|c]}" | grep . | median)
printf '| C: omst_init + get + finalize (embedded) | %s ms | - | |\n' "$c"
echo "(medians of $COUNT runs, interleaved; $(nproc) cores)"
