# Sourced by the native tests: a temporary directory, and a relay tree of `omnistore relay`
# daemons (a root and a relay) on loopback ports chosen by the system, stopped and removed at exit.
# Only the processes started here are ever signalled, by their ids.
#
# Needs OMNISTORE_TEST_OMNISTORE, the omnistore command as shipped (compiled ahead of time), which
# CMake sets for every test. NODE_LAUNCHER (an array, empty by default) is put before it: a test
# can run the daemons under a wrapper (no_dotnet.sh runs them with .NET hidden).
set -euo pipefail

# The tests say where their store is; nothing from the caller's environment may choose it.
unset OMNISTORE_RELAY OMNISTORE_FALLBACK OMNISTORE_DATA OMNISTORE_SECRET_FILE OMNISTORE_RELAY_SECRET_FILE

NODE_LAUNCHER=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/omnistore-native-test-XXXXXX")
STARTED_PIDS=()

stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  # A daemon checkpoints its store on SIGTERM; give it 15 s before SIGKILL.
  for pid in "${STARTED_PIDS[@]}"; do
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
}

on_exit() {
  local status=$?
  stop_started
  rm -rf "$WORK"
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# A test that needs something this machine lacks: skipped (77) normally, failed with CI=true.
skip_or_fail() {
  if [[ ${CI:-} == true ]]; then
    echo "FAIL (CI=true): $*" >&2
    exit 1
  fi
  echo "SKIP: $*" >&2
  exit 77
}

# The transport the tree's nodes listen on (and so every link of the tree): tcp, or rudp.
TREE_SCHEME=${TREE_SCHEME:-tcp}

# start_node NAME VARIABLE [relay options...]: starts a node, stores its TREE_SCHEME:// address in VARIABLE.
start_node() {
  local name=$1 variable=$2
  shift 2
  : "${OMNISTORE_TEST_OMNISTORE:?}"
  [[ -x $OMNISTORE_TEST_OMNISTORE ]] || { echo "the omnistore command is not built: $OMNISTORE_TEST_OMNISTORE" >&2; return 1; }
  "${NODE_LAUNCHER[@]}" "$OMNISTORE_TEST_OMNISTORE" relay --listen "$TREE_SCHEME://127.0.0.1:0" --data-dir "$WORK/$name" \
    --site "$name" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  STARTED_PIDS+=($!)
  local pid=$!
  for _ in $(seq 1 600); do
    if grep -q '^listening on ' "$WORK/$name.out" 2>/dev/null; then
      printf -v "$variable" '%s' "$(sed -n 's/^listening on //p' "$WORK/$name.out" | head -n 1)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  echo "the $name did not start:" >&2
  cat "$WORK/$name.err" >&2
  return 1
}

# start_tree [relay options...]: ROOT_URI (the root) and RELAY_URI (a relay under it); the
# options (such as --secret-file FILE) are given to both, and so is a relay secret made for
# this tree (the root accepts as relays only nodes that prove it).
start_tree() {
  (umask 077 && head -c 32 /dev/urandom | base64 >"$WORK/relay.secret")
  start_node root ROOT_URI --relay-secret-file "$WORK/relay.secret" "$@"
  start_node relay RELAY_URI --parent "$ROOT_URI" --cache-size 1G --relay-secret-file "$WORK/relay.secret" "$@"
  echo "tree: root $ROOT_URI, relay $RELAY_URI"
}
