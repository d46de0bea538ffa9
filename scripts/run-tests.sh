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

run_regress() {
  local work tests log ok bad
  work=$(make_workdir regress)
  copy_for_pg "$repo/sql-tests" "$repo/expected" "$work"
  as_pg mv "$work/sql-tests" "$work/sql"
  # The module is loaded as in production, but its worker must not tick the
  # regression database under the tests' feet: they drive ticks themselves
  # to check the SQL API line by line. The worker has the TAP tests.
  printf "shared_preload_libraries = 'pgque_worker'\npgque_worker.databases = 'served_by_no_regression_test'\n" > "$work/extra.conf"
  tests=$(cd "$repo/sql-tests" && ls *.sql | sed 's/\.sql$//' | sort)
  log=$(cd "$work" && as_pg "$pg_regress" --temp-instance="$work/instance" \
      --temp-config="$work/extra.conf" --bindir="$pg_bindir" \
      --inputdir="$work" --outputdir="$work" --dbname=pgque_regress $tests 2>&1)
  echo "$log" | grep -E '\.\.\. ' | sed 's/^/   /'
  ok=$(echo "$log" | grep -cE '\.\.\. +ok')
  bad=$(echo "$log" | grep -cE '\.\.\. +FAILED|\.\.\. +failed')
  if [ "$ok" -eq 0 ] && [ "$bad" -eq 0 ]; then
    echo "$log" | tail -20; bad=1
  fi
  [ -s "$work/regression.diffs" ] && { echo "   diffs: $work/regression.diffs"; head -60 "$work/regression.diffs"; }
  count regress "$ok" "$bad"
}

run_tap() {
  local work log ok bad rc
  work=$(make_workdir tap)
  copy_for_pg "$repo/t" "$repo/contrib" "$work"   # contrib: the shipped Prometheus files
  log=$(cd "$work" && as_pg env TESTDIR="$work" PG_REGRESS="$pg_regress" \
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
