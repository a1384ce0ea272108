#!/usr/bin/env bash
# The project's test command: builds everything once (Release), runs every test project and the
# native tests, and ends with exactly one summary line, "N passed, N failed, N skipped".
# Exit status: 0 only if every step succeeded, no test failed, and at least one test ran.
#
# Usage: bash eng/test.sh          (from anywhere; it works from the repository root)
# Environment: CI=true makes tests that would skip for a missing tool fail instead.
#              TEST_RESULTS_DIR overrides where TRX files go (default: TestResults/).
set -euo pipefail

# System packages (Debian/Ubuntu names) the tests need: installed when running as root and missing.
# xxhash, libxxhash0: the reference XXH3 the hash tests compare against. iproute2 (ip, tc),
# nftables, procps (sysctl): the WAN lab. iperf3: the lab's wire-ceiling script
# (bench/scripts/wire-ceiling.sh); no test needs it. cmake, make, gcc (NativeAOT links libomnistore.so
# with it), gfortran, pkg-config: building native/ and its C and Fortran tests. openssl: the
# reference the tree CA's certificates and revocation lists are checked with. coturn (turnserver,
# turnutils_stunclient): the STUN implementation the NAT code is checked against.
# miniupnpd (with its nftables backend), miniupnpc (upnpc), natpmpc: the UPnP-IGD, NAT-PMP and PCP
# gateway the lab's NatKind.Upnp sites run, and the clients the port mapping tests cross-check with.
# chromium: the tree page's test (OmniStore.Cli.Tests, TreeViewTests) loads the page of a live root in a
# real browser, headless, driven by PuppeteerSharp; Debian's build, as no browser can be downloaded here
# (as root it runs with --no-sandbox).
SYSTEM_PACKAGES=(xxhash libxxhash0 iproute2 nftables procps iperf3 cmake make gcc gfortran pkg-config openssl coturn miniupnpd miniupnpc natpmpc chromium)

# A test that runs longer than this is treated as hung: its test host is killed (dotnet test --blame-hang).
TEST_HANG_TIMEOUT=${TEST_HANG_TIMEOUT:-5m}
# Backstop for a whole test project or the native test run, whatever hangs.
STEP_TIMEOUT=${STEP_TIMEOUT:-15m}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
RESULTS_DIR=${TEST_RESULTS_DIR:-$ROOT/TestResults}
export DOTNET_CLI_TELEMETRY_OPTOUT=${DOTNET_CLI_TELEMETRY_OPTOUT:-1}
export DOTNET_NOLOGO=${DOTNET_NOLOGO:-1}

passed=0
failed=0
skipped=0
failed_steps=()

step() { printf '\n==> %s\n' "$*"; }
fail_step() {
  failed_steps+=("$1")
  printf 'FAILED: %s\n' "$1"
}

# Runs a command in a process group of its own under a time limit, then kills whatever the group
# left behind: a test host abandoned after a hang timeout otherwise keeps running, children included.
current_group=
kill_current_group() {
  [[ -n $current_group ]] || return 0
  kill -TERM -- "-$current_group" 2>/dev/null && sleep 1
  kill -KILL -- "-$current_group" 2>/dev/null || true
  current_group=
}
trap 'kill_current_group; exit 130' INT TERM
run_isolated() {
  local limit=$1 status=0
  shift
  if ! command -v setsid >/dev/null 2>&1; then
    timeout -k 30s "$limit" "$@" || status=$?
    return "$status"
  fi
  # No job control here, so the background child is not a group leader: setsid does not fork but
  # makes it the leader of a new session and process group, whose id is therefore $!.
  setsid timeout -k 30s "$limit" "$@" &
  current_group=$!
  wait "$current_group" || status=$?
  kill_current_group
  if ((status == 124)); then
    echo "timed out after $limit: $*"
  fi
  return "$status"
}

# ---- system packages ----------------------------------------------------------------------
install_system_packages() {
  step "system packages: ${SYSTEM_PACKAGES[*]}"
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "note: no dpkg-query (not Debian/Ubuntu): install ${SYSTEM_PACKAGES[*]} or their equivalents yourself;"
    echo "      tests that need them skip (or fail with CI=true)."
    return 0
  fi

  local missing=() package
  for package in "${SYSTEM_PACKAGES[@]}"; do
    if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true) != "install ok installed" ]]; then
      missing+=("$package")
    fi
  done

  if ((${#missing[@]} == 0)); then
    echo "all installed"
  elif [[ $(id -u) -eq 0 ]]; then
    echo "installing: ${missing[*]}"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; }; then
      fail_step "apt-get install ${missing[*]}"
    fi
  else
    echo "note: not root, so not installing: ${missing[*]}"
    echo "      (sudo apt-get install ${missing[*]}); tests that need them skip (or fail with CI=true)."
  fi
}

# ---- .NET ---------------------------------------------------------------------------------
build_dotnet() {
  step "dotnet build OmniStore.sln -c Release"
  dotnet build OmniStore.sln -c Release
}

# Adds the counts of one TRX file. xunit v3's VSTest adapter leaves skipped tests out of
# "executed" and keeps notExecuted at 0, so skipped = total - executed (or notExecuted if larger).
add_trx_counts() {
  local counters run_failed=$2
  counters=$(grep -o '<Counters [^>]*>' "$1" | head -n 1) || return 1
  attr() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"; }
  local total executed ok bad errors timeouts aborted not_executed
  total=$(attr total) executed=$(attr executed) ok=$(attr passed) bad=$(attr failed)
  errors=$(attr error) timeouts=$(attr timeout) aborted=$(attr aborted) not_executed=$(attr notExecuted)
  local skip=$((total - executed))
  if ((not_executed > skip)); then skip=$not_executed; fi
  local failures=$((bad + errors + timeouts + aborted))
  if ((run_failed && failures == 0)); then
    # The run failed without a failed result: a test host crashed or hung, and the test it was
    # running has no result at all. Count it, so the summary line cannot read "0 failed".
    echo "   (the run was aborted: counted as one failed test)"
    failures=1
  fi
  passed=$((passed + ok))
  failed=$((failed + failures))
  skipped=$((skipped + skip))
  echo "   $(basename "$1"): $ok passed, $failures failed, $skip skipped"
}

run_dotnet_tests() {
  mkdir -p "$RESULTS_DIR"
  local project name trx
  for project in tests/*/*.csproj; do
    [[ -e $project ]] || continue
    # Helper executables live under tests/ too; only projects that are test projects are run.
    grep -Eq '<IsTestProject>[[:space:]]*true|Microsoft\.NET\.Test\.Sdk' "$project" || continue
    name=$(basename "$project" .csproj)
    trx="$name.trx"
    rm -f "$RESULTS_DIR/$trx"
    step "dotnet test $project"
    local run_failed=0
    if ! run_isolated "$STEP_TIMEOUT" dotnet test "$project" -c Release --no-build \
      --logger "trx;LogFileName=$trx" --results-directory "$RESULTS_DIR" \
      --blame-hang-timeout "$TEST_HANG_TIMEOUT" --blame-hang-dump-type none; then
      run_failed=1
      fail_step "dotnet test $name"
    fi
    if [[ -f $RESULTS_DIR/$trx ]]; then
      add_trx_counts "$RESULTS_DIR/$trx" "$run_failed" || fail_step "$name: no <Counters> in $trx"
    else
      fail_step "$name: no test results ($trx)"
    fi
  done
}

# ---- native (hook) ------------------------------------------------------------------------
# NATIVE TESTS HOOK: when native/CMakeLists.txt exists, configure, build and run ctest, and add
# its counts. ctest ends with "N% tests passed, N tests failed out of M"; M counts skipped tests
# (as passed in the percentage) but not disabled ones, so both are counted from the per-test lines.
run_native_tests() {
  [[ -f native/CMakeLists.txt ]] || return 0
  local build=native/build log
  step "native: cmake + ctest"
  if ! command -v cmake >/dev/null 2>&1 || ! command -v ctest >/dev/null 2>&1; then
    if [[ ${CI:-} == true ]]; then
      fail_step "native: cmake is not installed"
    else
      echo "note: cmake is not installed: the native tests are not run (they fail with CI=true)."
    fi
    return 0
  fi
  if ! cmake -S native -B "$build" -DCMAKE_BUILD_TYPE=Release; then
    fail_step "cmake configure (native)"
    return 0
  fi
  if ! cmake --build "$build" --parallel "$(nproc 2>/dev/null || echo 2)"; then
    fail_step "cmake build (native)"
    return 0
  fi

  log=$(mktemp)
  local status=0
  # Into a file, not through a pipe: in a pipeline run_isolated would run in a subshell, out of
  # reach of the INT/TERM trap.
  run_isolated "$STEP_TIMEOUT" ctest --test-dir "$build" --output-on-failure --timeout 600 >"$log" 2>&1 || status=$?
  cat "$log"
  local summary total bad skip_run disabled
  summary=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  if [[ -z $summary ]]; then
    if grep -q 'No tests were found' "$log"; then
      echo "   ctest: no tests"
    else
      fail_step "ctest (no summary line)"
    fi
    rm -f "$log"
    return 0
  fi
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$summary")
  bad=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$summary")
  skip_run=$(grep -cE 'Test +#[0-9]+: .*\*\*\*Skipped' "$log" || true)
  disabled=$(grep -cE 'Test +#[0-9]+: .*\*\*\*Not Run \(Disabled\)' "$log" || true)
  rm -f "$log"
  passed=$((passed + total - bad - skip_run))
  failed=$((failed + bad))
  skipped=$((skipped + skip_run + disabled))
  echo "   ctest: $((total - bad - skip_run)) passed, $bad failed, $((skip_run + disabled)) skipped"
  if ((status != 0 && bad == 0)); then
    fail_step "ctest exited with $status"
  fi
}

# ---- main ---------------------------------------------------------------------------------
install_system_packages
if build_dotnet; then
  run_dotnet_tests
else
  fail_step "dotnet build (tests not run: they would test stale binaries)"
fi
run_native_tests

step "summary (${SECONDS}s)"
if ((passed + failed == 0)); then
  fail_step "no tests ran"
fi
for failure in "${failed_steps[@]}"; do
  echo "failed step: $failure"
done
echo "$passed passed, $failed failed, $skipped skipped"
if ((failed > 0 || ${#failed_steps[@]} > 0)); then
  exit 1
fi
exit 0
