# Sourced by the bench scripts that time whole processes.
# time_ms COMMAND...: wall milliseconds of one run (its output discarded; a failure stops the script).
time_ms() {
  local start=$EPOCHREALTIME
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  local end=$EPOCHREALTIME
  echo $(((${end/./} - ${start/./}) / 1000))
}

# median: the median of the numbers on stdin, one per line.
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
