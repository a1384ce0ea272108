#!/usr/bin/env bash
# Runs the API contract test (api_test) against an embedded store or a relay; "secret": against a
# relay of a tree with a shared secret, which the library reads from $OMNISTORE_SECRET_FILE.
# "relay-rudp": against a relay of a tree whose every link is rudp (reliable UDP).
# "tls": against a relay of a tree whose every link is TLS, the client's certificate, key and the
# tree CA given in the connection string omst_init takes (docs/tls.md, "Spellings").
# Usage: api.sh embedded|relay|relay-rudp|secret|tls API_TEST
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
  tls)
    omnistore=${OMNISTORE_TEST_OMNISTORE:?}
    "$omnistore" ca init --dir "$WORK/ca" >/dev/null
    for node in root relay; do
      "$omnistore" ca issue --dir "$WORK/ca" --role "$node" --name "$node" --host 127.0.0.1 --out "$WORK/$node" >/dev/null
    done
    "$omnistore" ca issue --dir "$WORK/ca" --role client --name worker --write "" --out "$WORK/worker" >/dev/null
    TREE_SCHEME=tls+tcp
    start_node root ROOT_URI --tls-cert "$WORK/root.pem" --tls-key "$WORK/root.key" --tls-ca "$WORK/ca/ca.pem"
    start_node relay RELAY_URI --parent "$ROOT_URI" --cache-size 1G --tls-cert "$WORK/relay.pem" --tls-key "$WORK/relay.key" --tls-ca "$WORK/ca/ca.pem"
    [[ $RELAY_URI == tls+tcp://* ]] || { echo "the relay listens on $RELAY_URI, not tls+tcp://" >&2; exit 1; }
    # Without the files the library refuses the address, naming what it needs.
    set +e; timeout 240 "$api_test" "$RELAY_URI" >"$WORK/refused.log" 2>&1; rc=$?; set -e
    if [[ $rc -eq 0 ]] || ! grep -q -- "--tls-cert" "$WORK/refused.log"; then
      echo "without TLS files, api_test was not refused naming them (exit $rc):" >&2
      cat "$WORK/refused.log" >&2
      exit 1
    fi
    timeout 240 "$api_test" "$RELAY_URI;tlsCert=$WORK/worker.pem;tlsKey=$WORK/worker.key;tlsCa=$WORK/ca/ca.pem"
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
