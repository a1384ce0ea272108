#!/usr/bin/env bash
# Runs the API contract test (api_test) against an embedded store or a relay.
# Usage: api.sh embedded|relay API_TEST
source "$(dirname "${BASH_SOURCE[0]}")/tree.sh"
mode=$1 api_test=$2
case $mode in
  embedded) timeout 240 "$api_test" "file://$WORK/store" ;;
  relay)
    start_tree
    timeout 240 "$api_test" "$RELAY_URI"
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
