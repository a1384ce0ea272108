#!/usr/bin/env bash
# Runs the multi-threaded test (threads_test) with its store chosen by the environment, as
# OmstGetData's implicit initialization reads it.
# Usage: threads.sh embedded|relay THREADS_TEST
source "$(dirname "${BASH_SOURCE[0]}")/tree.sh"
mode=$1 threads_test=$2
case $mode in
  embedded) OMNISTORE_DATA="$WORK/store" timeout 240 "$threads_test" ;;
  relay)
    start_tree
    OMNISTORE_RELAY="$RELAY_URI" timeout 240 "$threads_test"
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
