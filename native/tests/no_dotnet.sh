#!/usr/bin/env bash
# libomnistore needs no .NET: the C programs run in a mount namespace where every folder a .NET
# installation lives in is hidden under an empty tmpfs (not only taken off PATH), with no
# DOTNET_ROOT. It exports the API and nothing else. There, against a relay tree started outside, the master and two C workers stage
# data (slide 19), and the API contract test runs on an embedded store.
# Needs root, or unprivileged user namespaces (unshare -rm); otherwise it skips (fails with CI=true).
# Usage: no_dotnet.sh MASTER WORKER API_TEST
source "$(dirname "${BASH_SOURCE[0]}")/tree.sh"
if [[ ${1:-} == --demo ]]; then
  mode=demo
else
  mode=examples master=$1 worker=$2 api_test=$3
fi

command -v unshare >/dev/null || skip_or_fail "unshare (util-linux) is not installed"
if [[ $(id -u) -eq 0 ]]; then
  namespace=(unshare --mount --propagation private)
elif unshare -rm true 2>/dev/null; then
  namespace=(unshare -rm)
else
  skip_or_fail "cannot make a mount namespace (not root, and no unprivileged user namespaces)"
fi

# Every place the dotnet host, nethost or a runtime would look, and where this machine has .NET.
hidden=(/usr/share/dotnet /usr/lib/dotnet /usr/lib64/dotnet /usr/local/share/dotnet /opt/dotnet /etc/dotnet
  "$HOME/.dotnet" "${DOTNET_ROOT:-}" "${OMNISTORE_TEST_DOTNET:+$(dirname "$(readlink -f "$OMNISTORE_TEST_DOTNET")")}")
existing=()
for folder in "${hidden[@]}"; do
  [[ -n $folder && -d $folder ]] || continue
  folder=$(readlink -f "$folder")
  [[ " ${existing[*]} " == *" $folder "* ]] || existing+=("$folder")
done
((${#existing[@]} > 0)) || skip_or_fail "no .NET installation found to hide"

# run_hidden COMMAND...: COMMAND with the folders above empty, a PATH without dotnet, no DOTNET_*.
# exec_hidden: the same in place of the calling (background) shell, so that $! is COMMAND's id.
hidden_prefix=(env -u DOTNET_ROOT -u DOTNET_ROOT_X64 -u DOTNET_HOST_PATH PATH=/usr/bin:/bin
  "${namespace[@]}" bash -c '
    for folder in "${@:2:$1}"; do mount -t tmpfs -o size=1m,mode=755 none "$folder"; done
    shift "$(($1 + 1))"
    if command -v dotnet >/dev/null || ls /usr/share/dotnet/* >/dev/null 2>&1; then
      echo "dotnet is still visible" >&2; exit 1
    fi
    exec "$@"' hide "${#existing[@]}" "${existing[@]}")
run_hidden() { "${hidden_prefix[@]}" "$@"; }
exec_hidden() { exec "${hidden_prefix[@]}" "$@"; }

echo "hidden: ${existing[*]}"

if [[ $mode == demo ]]; then
  run_hidden timeout 240 "$OMNISTORE_TEST_OMNISTORE" demo >"$WORK/demo.log" 2>&1 || { cat "$WORK/demo.log"; echo "omnistore demo failed without .NET" >&2; exit 1; }
  cat "$WORK/demo.log"
  grep -q "^verified OK" "$WORK/demo.log"
  exit
fi

# The library exports the API, and the runtime's header for debuggers, nothing else.
library=$(dirname "$master")/libomnistore.so
exported=$(nm -D --defined-only "$library" | awk '{print $3}' | sed 's/@.*//' | sort -u |
  grep -Ev '^(omst_(init|put_data|put_with|get_data|get_size|delete|finalize|strerror|last_error|wait|list)|Omst(Put|Get)Data|DotNetRuntimeDebugHeader|V1\.0)$' || true)
[[ -z $exported ]] || { echo "libomnistore.so exports more than the API: $exported" >&2; exit 1; }

echo "what the API test links to, seen from inside:"
run_hidden ldd "$api_test" | sed 's/^/  /'

# The daemons too: the whole tree runs without .NET.
NODE_LAUNCHER=(exec_hidden)
start_tree
run_hidden timeout 180 "$worker" 0 "$RELAY_URI" >"$WORK/worker0.log" 2>&1 &
w0=$!
OMNISTORE_RELAY=$RELAY_URI run_hidden timeout 180 "$worker" 1 >"$WORK/worker1.log" 2>&1 &
w1=$!
status=0
run_hidden timeout 180 "$master" 2 "$ROOT_URI" >"$WORK/master.log" 2>&1 || { echo "the master failed" >&2; status=1; }
wait "$w0" || { echo "worker 0 failed" >&2; status=1; }
wait "$w1" || { echo "worker 1 failed" >&2; status=1; }
cat "$WORK/master.log" "$WORK"/worker*.log
grep -q "gathered 2 results, all correct" "$WORK/master.log" || status=1

run_hidden timeout 240 "$api_test" "file://$WORK/store" || { echo "api_test failed without .NET" >&2; status=1; }
exit "$status"
