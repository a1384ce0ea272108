#!/usr/bin/env bash
# Slide 19 on a relay tree: the master puts the initial data at the root and waits for five
# results; five workers get it through the relay and put their results. Workers 0 and 1 are given
# the relay's URI (omst_init), workers 2 and 3 find it in $OMNISTORE_RELAY (OmstGetData initializes
# the library), worker 4 is the Fortran one.
# Usage: examples.sh MASTER WORKER [WORKER_F]
source "$(dirname "${BASH_SOURCE[0]}")/tree.sh"
master=$1 worker=$2 worker_f=${3:-}
if [[ -z $worker_f || ! -x $worker_f ]]; then
  skip_or_fail "no Fortran worker was built (is gfortran installed?)"
fi

start_tree
timeout 180 "$master" 5 "$ROOT_URI" >"$WORK/master.log" 2>&1 &
master_pid=$!
pids=()
timeout 180 "$worker" 0 "$RELAY_URI" >"$WORK/worker0.log" 2>&1 & pids+=($!)
timeout 180 "$worker" 1 "$RELAY_URI" >"$WORK/worker1.log" 2>&1 & pids+=($!)
OMNISTORE_RELAY=$RELAY_URI timeout 180 "$worker" 2 >"$WORK/worker2.log" 2>&1 & pids+=($!)
OMNISTORE_RELAY=$RELAY_URI timeout 180 "$worker" 3 >"$WORK/worker3.log" 2>&1 & pids+=($!)
OMNISTORE_RELAY=$RELAY_URI timeout 180 "$worker_f" 4 >"$WORK/worker4.log" 2>&1 & pids+=($!)

status=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "worker $i failed" >&2
    status=1
  fi
done
if ! wait "$master_pid"; then
  echo "the master failed" >&2
  status=1
fi
cat "$WORK/master.log" "$WORK"/worker*.log
grep -q 'gathered 5 results, all correct' "$WORK/master.log" || status=1
exit "$status"
