#!/usr/bin/env bash
# make test: GoogleTest unit tests, pg_regress on a temporary instance with the
# module preloaded, and the TAP tests; the last line printed is
# "N passed, N failed", and the exit status is non-zero when anything failed.
#
#   scripts/run-tests.sh [unit|regress|tap]...   (default: all three)
#   TAP_TESTS='t/009_*.pl t/012_*.pl' scripts/run-tests.sh tap   (a subset of the TAP files)
set -uo pipefail
source "$(dirname "$0")/lib.sh"

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(unit regress tap)
passed=0
failed=0

count() {  # count SUITE PASSED FAILED
  echo "== $1: $2 passed, $3 failed"
  passed=$((passed + $2))
  failed=$((failed + $3))
}

run_unit() {
  local bin="$repo/build/unit_tests" log
  mkdir -p "$repo/build"
  if ! g++ -std=c++17 -O1 -g -Wall -Wextra -Werror -I"$repo/include" \
      -isystem /usr/include/nlohmann -DPGQUE_SOURCE_DIR="\"$repo\"" \
      "$repo"/test/unit/*.cpp "$repo"/src/core/*.cpp \
      -lgtest -lgtest_main -lpthread -lssl -lcrypto -o "$bin"; then
    count unit 0 1
    return
  fi
  log=$("$bin" 2>&1); echo "$log" | grep -E '^\[ +(OK|FAILED) +\]' | sed 's/^/   /'
  local ok bad
  ok=$(echo "$log" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p')
  bad=$(echo "$log" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p')
  ok=${ok:-0}; bad=${bad:-0}
  # A binary that crashed before its summary is a failure, whatever it printed.
  echo "$log" | grep -q '^\[==========\] .* ran\.' || bad=$((bad + 1))
  count unit "$ok" "$bad"
}

# make installcheck against a running cluster with the module preloaded, as
# a packager runs it (the suites keep the workers out of their database).
run_regress() {
  local work log ok bad
  work=$(make_workdir regress)
  start_cluster "$work"
  log=$(make -s -C "$repo" installcheck PG_CONFIG="$PG_CONFIG" REGRESS_DIR="$work/installcheck" \
      PGHOST="$work" PGUSER=postgres 2>&1)
  stop_cluster "$work"
  echo "$log" | grep -E '\.\.\. ' | sed 's/^/   /'
  ok=$(echo "$log" | grep -cE '\.\.\. +ok')
  bad=$(echo "$log" | grep -cE '\.\.\. +FAILED|\.\.\. +failed')
  if [ "$ok" -eq 0 ] && [ "$bad" -eq 0 ]; then
    echo "$log" | tail -20; bad=1
  fi
  [ -s "$work/installcheck/regression.diffs" ] && {
    echo "   diffs: $work/installcheck/regression.diffs"; head -60 "$work/installcheck/regression.diffs"; }
  count regress "$ok" "$bad"
}

run_tap() {
  local work log ok bad rc
  work=$(make_workdir tap)
  # t/041_docs_run.pl runs the SQL of README.md and docs/; contrib holds the
  # shipped Prometheus files (t/051, t/052).
  copy_for_pg "$repo/t" "$repo/README.md" "$repo/docs" "$repo/contrib" "$work"
  # PGQUE_REPO: t/042 builds 0.1.0 from the checkout's git history, read
  # from a bare copy the server user can reach (CI's checkout may sit where
  # it cannot even look).
  git clone -q --bare "$repo" "$work/history.git" && [ "$(id -u)" -eq 0 ] && chown -R postgres: "$work/history.git"
  log=$(cd "$work" && as_pg env TESTDIR="$work" PG_REGRESS="$pg_regress" PGQUE_REPO="$work/history.git" \
      prove -v ${TAP_TESTS:-t/*.pl} 2>&1); rc=$?
  echo "$log" | grep -E '^(t/|ok|not ok|# +Failed|Result|Files=)' | sed 's/^/   /'
  ok=$(echo "$log" | grep -cE '^ok [0-9]+')
  bad=$(echo "$log" | grep -cE '^not ok [0-9]+')
  # A test file that died between assertions fails even with no "not ok",
  # and a run that found nothing to test is no pass.
  if [ $rc -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
  if [ "$ok" -eq 0 ] && [ "$bad" -eq 0 ]; then echo "   no TAP test ran"; bad=1; fi
  [ "$bad" -gt 0 ] && echo "   logs: $work/tmp_check/log"
  count tap "$ok" "$bad"
}

if ! build_and_install; then
  echo "0 passed, 1 failed"
  exit 1
fi
for s in "${suites[@]}"; do
  "run_$s"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
