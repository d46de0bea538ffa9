#!/usr/bin/env bash
# Micro-benchmark of pgque_pgq's SQL API wrappers (not part of make test or
# make bench): single-client pgbench TPS of a few hot calls, side by side in
# two databases of one quiet private cluster.
#
#   "before": the installed extension, with every `language sql` function of
#             BEFORE_REF's sql/pgque_pgq--0.2.0.sql put back over it
#             (CREATE OR REPLACE; default: main)
#   "after":  the installed extension as it is
#
#   PG_CONFIG=... scripts/bench-wrappers.sh   (after make install)
#   ROUNDS=3 SECONDS_PER_RUN=10 BEFORE_REF=main   (defaults)
#
# Prints each run's TPS and, per case, the median of the rounds.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

rounds=${ROUNDS:-3}
secs=${SECONDS_PER_RUN:-10}
before_ref=${BEFORE_REF:-main}

work=$(make_workdir bench-wrappers)
trap 'stop_cluster "$work"' EXIT
# Commits without waiting for the disk: the calls' CPU cost is what counts.
# No autovacuum: plans of PgQ's own queries change with the statistics, so
# both databases are analyzed together at the start of every round instead.
start_cluster "$work" "synchronous_commit = off" "autovacuum = off"
psql_() { as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$work" -U postgres "$@"; }

# The `language sql` function definitions of before_ref, as CREATE OR REPLACE.
git -C "$repo" show "$before_ref:sql/pgque_pgq--0.2.0.sql" | awk '
  /^create (or replace )?function/ { buf = ""; infn = 1 }
  infn { buf = buf $0 "\n" }
  infn && /\$\$;[[:space:]]*$/ {
    if (buf ~ /\nlanguage sql/) { sub(/^create (or replace )?function/, "create or replace function", buf); printf "%s\n", buf }
    infn = 0
  }' > "$work/before.sql"
chmod 644 "$work/before.sql"

for db in before after; do
  psql_ -d postgres -c "create database $db"
  psql_ -d "$db" -c "alter database $db set pgque_worker.serve_database = off"
  psql_ -d "$db" -c "create extension pgque_pgq cascade" \
        -c "select pgque.create_queue('q'), pgque.create_queue('qr')" \
        -c "select pgque.register_consumer('q', 'c'), pgque.register_consumer('qr', 'c')" >/dev/null
done
psql_ -d before -f "$work/before.sql"
echo "before ($before_ref): $(grep -c '^create or replace function' "$work/before.sql") language sql functions put back"

cat > "$work/send.sql" <<'EOF'
SELECT pgque.send('q', 't', 'x');
EOF
cat > "$work/send2.sql" <<'EOF'
SELECT pgque.send('q', 'x');
EOF
cat > "$work/queue_info.sql" <<'EOF'
SELECT * FROM pgque.get_queue_info('q');
EOF
cat > "$work/consumer_info.sql" <<'EOF'
SELECT * FROM pgque.get_consumer_info('q', 'c');
EOF
# One statement per transaction: the tick sees the batch's events committed.
cat > "$work/cycle.sql" <<'EOF'
SELECT pgque.send_batch('qr', 't', array_fill('x'::text, ARRAY[100]));
SELECT pgque.force_next_tick('qr');
SELECT pgque.ticker('qr');
SELECT max(batch_id) AS b, count(*) AS n FROM pgque.receive('qr', 'c', 100) \gset
SELECT pgque.ack(:b);
EOF
chown postgres: "$work"/*.sql

cases=(send send2 queue_info consumer_info cycle)
declare -A tps
for r in $(seq 1 "$rounds"); do
  for db in before after; do psql_ -d "$db" -c "vacuum analyze"; done
  for c in "${cases[@]}"; do
    for db in before after; do
      out=$(as_pg pgbench -n -r -c 1 -T "$secs" -h "$work" -U postgres -f "$work/$c.sql" "$db" 2>&1)
      t=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
      tps[$c,$db]+="$t "
      echo "round $r $c $db: $t tps"
      [ "$c" = cycle ] && echo "$out" | grep -E 'pgque\.(receive|ack)' | sed 's/^/    ms /'
    done
  done
done

# The same calls from a server-side loop (as the workers make them, through
# SPI): microseconds per call without the client round trip. receive_empty:
# q is never ticked, so receive() finds no batch (its lookups, no events).
loop_cases=(send send2 queue_info consumer_info ticker_stopped receive_empty)
declare -A loop_sql=(
  [send]="perform pgque.send('q', 't', 'x')"
  [send2]="perform pgque.send('q', 'x')"
  [queue_info]="perform * from pgque.get_queue_info('q')"
  [consumer_info]="perform * from pgque.get_consumer_info('q', 'c')"
  [ticker_stopped]="perform pgque.ticker_stopped()"
  [receive_empty]="perform * from pgque.receive('q', 'c', 100)")
declare -A us
calls=${CALLS:-5000}
for r in $(seq 1 "$rounds"); do
  for c in "${loop_cases[@]}"; do
    for db in before after; do
      u=$(psql_ -d "$db" -At -c "do \$\$ declare t timestamptz := clock_timestamp(); begin
            for i in 1..$calls loop ${loop_sql[$c]}; end loop;
            raise notice 'us=%', round(extract(epoch from clock_timestamp() - t) * 1e6 / $calls, 1); end \$\$" 2>&1 |
          sed -n 's/.*us=//p')
      us[$c,$db]+="$u "
      echo "round $r loop $c $db: $u us/call"
    done
  done
done

median() { printf '%s\n' $1 | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo
printf '%-14s %12s %12s %8s\n' case before after change
for c in "${cases[@]}"; do
  b=$(median "${tps[$c,before]}"); a=$(median "${tps[$c,after]}")
  printf '%-14s %12s %12s %7.0f%%\n' "$c" "$b" "$a" "$(echo "($a / $b - 1) * 100" | bc -l)"
done
echo
printf '%-14s %12s %12s %8s\n' 'loop case' 'before us' 'after us' change
for c in "${loop_cases[@]}"; do
  b=$(median "${us[$c,before]}"); a=$(median "${us[$c,after]}")
  printf '%-14s %12s %12s %7.0f%%\n' "$c" "$b" "$a" "$(echo "($a / $b - 1) * 100" | bc -l)"
done
