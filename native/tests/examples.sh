#!/usr/bin/env bash
# Slide 19 on a relay tree: the master puts the initial data at the root and waits for the
# workers' results; the workers get it through the relay and put their results.
#   c:       four C workers; workers 0 and 1 are given the relay's URI (omst_init), workers 2 and 3
#            find it in $OMNISTORE_RELAY (OmstGetData initializes the library, as OmniStorage did)
#   fortran: the Fortran worker (worker.f90) next to a C one
# Usage: examples.sh c|fortran MASTER WORKER [WORKER_F]
source "$(dirname "${BASH_SOURCE[0]}")/tree.sh"
mode=$1 master=$2 worker=$3 worker_f=${4:-}
if [[ $mode == fortran && ( -z $worker_f || ! -x $worker_f ) ]]; then
  skip_or_fail "no Fortran worker was built (is gfortran installed?)"
fi

start_tree
pids=()
run_worker() { # id program [environment...]
  local id=$1 program=$2
  shift 2
  env "$@" timeout 180 "$program" "$id" ${RELAY_ARGUMENT:+"$RELAY_ARGUMENT"} >"$WORK/worker$id.log" 2>&1 &
  pids+=($!)
}
case $mode in
  c)
    count=4
    RELAY_ARGUMENT=$RELAY_URI run_worker 0 "$worker"
    RELAY_ARGUMENT=$RELAY_URI run_worker 1 "$worker"
    RELAY_ARGUMENT= run_worker 2 "$worker" OMNISTORE_RELAY="$RELAY_URI"
    RELAY_ARGUMENT= run_worker 3 "$worker" OMNISTORE_RELAY="$RELAY_URI"
    ;;
  fortran)
    count=2
    RELAY_ARGUMENT=$RELAY_URI run_worker 0 "$worker"
    RELAY_ARGUMENT= run_worker 1 "$worker_f" OMNISTORE_RELAY="$RELAY_URI"
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
# Started after the workers: they wait for the initial data, as they would on a real cluster.
timeout 180 "$master" "$count" "$ROOT_URI" >"$WORK/master.log" 2>&1 &
master_pid=$!

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
grep -q "gathered $count results, all correct" "$WORK/master.log" || status=1
exit "$status"
