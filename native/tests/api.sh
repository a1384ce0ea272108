#!/usr/bin/env bash
# Runs the API contract test (api_test) against an embedded store or a relay; "secret": against a
# relay of a tree with a shared secret, which the library reads from $OMNISTORE_SECRET_FILE.
# "relay-rudp": against a relay of a tree whose every link is rudp (reliable UDP).
# Usage: api.sh embedded|relay|relay-rudp|secret API_TEST
source "$(dirname "${BASH_SOURCE[0]}")/tree.sh"
mode=$1 api_test=$2
case $mode in
  embedded) timeout 240 "$api_test" "file://$WORK/store" ;;
  relay)
    start_tree
    timeout 240 "$api_test" "$RELAY_URI"
    ;;
  relay-rudp)
    TREE_SCHEME=rudp
    start_tree
    [[ $RELAY_URI == rudp://* ]] || { echo "the relay listens on $RELAY_URI, not rudp://" >&2; exit 1; }
    timeout 240 "$api_test" "$RELAY_URI"
    ;;
  secret)
    printf 'correct horse battery staple\n' >"$WORK/tree.secret"
    printf 'incorrect horse battery\n' >"$WORK/wrong.secret"
    chmod 600 "$WORK/tree.secret" "$WORK/wrong.secret"
    start_tree --secret-file "$WORK/tree.secret"
    for refused in none wrong; do
      if [[ $refused == none ]]; then
        set +e; timeout 240 "$api_test" "$RELAY_URI" >"$WORK/refused.log" 2>&1; rc=$?; set -e
      else
        set +e; OMNISTORE_SECRET_FILE="$WORK/wrong.secret" timeout 240 "$api_test" "$RELAY_URI" >"$WORK/refused.log" 2>&1; rc=$?; set -e
      fi
      # omst_init must fail with OMST_E_UNAUTHORIZED (-8), not connect without the secret.
      if [[ $rc -eq 0 ]] || ! grep -q "returned -8" "$WORK/refused.log"; then
        echo "with the $refused secret, api_test did not get OMST_E_UNAUTHORIZED (exit $rc):" >&2
        cat "$WORK/refused.log" >&2
        exit 1
      fi
    done
    OMNISTORE_SECRET_FILE="$WORK/tree.secret" timeout 240 "$api_test" "$RELAY_URI"
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
