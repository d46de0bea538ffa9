#!/usr/bin/env bash
# Runs pgque's own client test suites (Python, Ruby, TypeScript) from an
# upstream pgque checkout the user provides, in one throwaway cluster, against
# three databases side by side, and prints a table of pass counts:
#
#   pgq_worker    pgque_pgq + pgque_worker (the worker ticks this database)
#   pgq_noworker  pgque_pgq alone (module preloaded, database not served)
#   upstream      upstream pgque installed from UPSTREAM_DIR/sql/pgque.sql
#
#   scripts/client-suites.sh UPSTREAM_DIR
#
# UPSTREAM_DIR is a checkout (or `git archive` extract) of NikolayS/PgQue.
# Its clients are copied to a work directory under /tmp and run there; nothing
# of it enters this repository. Upstream 0.2.0 has no Ruby client: set
# RUBY_CLIENT_DIR to one (e.g. clients/ruby of a later tag), or it is skipped.
# Needs: python3-psycopg, python3-pytest, ruby-pg, ruby-minitest, rake, node
# and npm (the TypeScript client's dev dependencies come from the npm
# registry). Debian's /usr/bin/python3 and /usr/bin/ruby run the suites (their
# packages hold the drivers). Not part of make test. Set PG_CONFIG as for make test.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

upstream=${1:?usage: scripts/client-suites.sh UPSTREAM_DIR}
upstream=$(cd "$upstream" && pwd)
ruby_client=${RUBY_CLIENT_DIR:-$upstream/clients/ruby}
[ -f "$upstream/sql/pgque.sql" ] || { echo "no sql/pgque.sql in $upstream" >&2; exit 2; }

build_and_install
work=$(make_workdir client-suites)
clients=$(mktemp -d /tmp/pgque-clients.XXXXXX)
trap 'stop_cluster "$work"' EXIT

start_cluster "$work" "pgque_worker.databases = 'pgq_worker'"
psql_pg() { as_pg psql -h "$work" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
for db in pgq_worker pgq_noworker upstream; do psql_pg -c "CREATE DATABASE $db"; done
psql_pg -d pgq_worker -c 'CREATE EXTENSION pgque_pgq CASCADE' -c 'CREATE EXTENSION pgque_worker'
psql_pg -d pgq_noworker -c 'CREATE EXTENSION pgque_pgq CASCADE'
psql_pg -d upstream -f "$upstream/sql/pgque.sql" >/dev/null

cp -R "$upstream/clients/python" "$clients/python"
cp -R "$upstream/clients/typescript" "$clients/typescript"
[ -d "$ruby_client" ] && cp -R "$ruby_client" "$clients/ruby"
if [ -d "$clients/typescript" ] && [ ! -d "$clients/typescript/node_modules" ]; then
  (cd "$clients/typescript" && npm install --no-audit --no-fund >"$clients/npm.log" 2>&1) ||
    echo "npm install failed: see $clients/npm.log" >&2
fi

# Each suite prints "<passed> <failed> <skipped>" on its last line.
run_python() {
  (cd "$clients/python" && PGQUE_TEST_DSN="$1" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests \
      >"$clients/python-$2.log" 2>&1)
  local l; l=$(tail -1 "$clients/python-$2.log")
  echo "$(grep -o '[0-9]* passed' <<<"$l" | cut -d' ' -f1) $(grep -o '[0-9]* failed' <<<"$l" | cut -d' ' -f1) $(grep -o '[0-9]* skipped' <<<"$l" | cut -d' ' -f1)"
}
run_ruby() {
  [ -d "$clients/ruby" ] || { echo "- - -"; return; }
  (cd "$clients/ruby" && PGQUE_TEST_DSN="$1" /usr/bin/ruby -Ilib -Itest -e \
      'Dir["test/test_*.rb"].sort.each { |f| require File.expand_path(f) }' >"$clients/ruby-$2.log" 2>&1)
  local l; l=$(grep -E '^[0-9]+ runs' "$clients/ruby-$2.log" | tail -1)
  # "N runs, A assertions, F failures, E errors, S skips"
  awk '{r=$1; f=$5; e=$7; s=$9; print r-f-e-s, f+e, s}' <<<"${l//,/}"
}
run_typescript() {
  (cd "$clients/typescript" && PGQUE_TEST_DSN="$1" npx vitest run >"$clients/ts-$2.log" 2>&1)
  local l; l=$(grep -E '^ +Tests ' "$clients/ts-$2.log" | tail -1)
  echo "$(grep -o '[0-9]* passed' <<<"$l" | cut -d' ' -f1) $(grep -o '[0-9]* failed' <<<"$l" | cut -d' ' -f1) $(grep -o '[0-9]* skipped' <<<"$l" | cut -d' ' -f1)"
}

printf '%-12s' suite; for db in pgq_worker pgq_noworker upstream; do printf ' | %-22s' "$db"; done; echo
for suite in python ruby typescript; do
  printf '%-12s' "$suite"
  for db in pgq_worker pgq_noworker upstream; do
    dsn="host=$work user=postgres dbname=$db"
    [ "$suite" = typescript ] && dsn="postgresql://postgres@/$db?host=$work"   # node-postgres wants a URL
    read -r p f s <<<"$(run_$suite "$dsn" "$db")"
    printf ' | %-22s' "${p:-0} passed, ${f:-0} failed, ${s:-0} skipped"
  done
  echo
done
echo "logs: $clients"
