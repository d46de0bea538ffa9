#!/usr/bin/env bash
# make soak: sustained load for SOAK_MINUTES (default 60) on a throwaway
# cluster (tmp/soak), never part of make test. Three queues at SOAK_RATE
# events/s each (default 500, one event per transaction, pgbench -R):
#   soak_sql    SQL handler recording each message once
#   soak_flaky  SQL handler failing 10% of its calls (retried by the engine)
#   soak_hooks  webhook to a local nginx answering 500 to 5% of the POSTs
# Every SOAK_SAMPLE_SECONDS (default 10) it samples each worker process's RSS
# and CPU, the dead tuples and size of every pgq/pgque/pgque_worker table and
# each consumer's lag and pending events into bench/results/soak/soak.csv,
# then plots them (soak.png) and checks exactly-once (SQL: every event
# handled once, dead letters counted) and at-least-once (HTTP: every event
# answered 2xx at least once). bench/soak_report.py prints the figures: RSS
# slope per hour per process, peak dead tuples per table, lag max/p99, CPU per
# 1,000 events. Exit status 1 when a count check fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

minutes=${SOAK_MINUTES:-60}
rate=${SOAK_RATE:-500}
sample=${SOAK_SAMPLE_SECONDS:-10}
results=${SOAK_RESULTS:-$repo/bench/results/soak}

build_and_install
mkdir -p "$results"
work=$(make_workdir soak)
start_cluster "$work" "pgque_worker.databases = 'soak'" "log_autovacuum_min_duration = 0"
trap 'stop_receiver "$work"; stop_cluster "$work"' EXIT

conn="host=$work user=postgres"
sql() { psql "$conn dbname=$1" -X -q -v ON_ERROR_STOP=1 -At -c "$2"; }

# The receiver: nginx, 5% of the POSTs answered 500 (chosen per request).
port=$(free_port)
start_receiver "$work" "$port" 5

sql postgres "CREATE DATABASE soak" >/dev/null
sql soak "CREATE EXTENSION pgque_pgq CASCADE; CREATE EXTENSION pgque_worker;
  CREATE TABLE handled (queue text, msg_id bigint, sent_at timestamptz, handled_at timestamptz);
  CREATE FUNCTION record(m pgque.message) RETURNS void LANGUAGE sql AS
    \$\$ INSERT INTO public.handled VALUES ('soak_sql', m.msg_id, m.created_at, pg_catalog.clock_timestamp()) \$\$;
  CREATE FUNCTION record_flaky(m pgque.message) RETURNS void LANGUAGE plpgsql AS \$\$
  BEGIN
    INSERT INTO public.handled VALUES ('soak_flaky', m.msg_id, m.created_at, pg_catalog.clock_timestamp());
    IF pg_catalog.random() < 0.1 THEN RAISE EXCEPTION 'soak: planned failure of message %', m.msg_id; END IF;
  END \$\$;
  SELECT pgque.create_queue('soak_sql'), pgque.create_queue('soak_flaky'), pgque.create_queue('soak_hooks');
  -- Events stay in the event tables for the whole run (PgQ's default
  -- rotation, 2 h, could otherwise empty one): the sent counts are read there.
  SELECT pgque.set_queue_config(q, 'rotation_period', (2 * $minutes + 120) || ' minutes')
    FROM unnest(ARRAY['soak_sql', 'soak_flaky', 'soak_hooks']) q;
  SELECT pgque_worker.handle('soak_sql', 'c', '*', 'record(pgque.message)');
  SELECT pgque_worker.handle('soak_flaky', 'c', '*', 'record_flaky(pgque.message)');
  SELECT pgque_worker.handle_http('soak_hooks', 'c', '*', 'http://127.0.0.1:$port/');" >/dev/null
for _ in $(seq 300); do
  [ "$(sql soak "SELECT count(*) FROM pgque_worker.consumers WHERE pid IS NOT NULL")" = 3 ] && break
  sleep 0.1
done

for q in soak_sql soak_flaky soak_hooks; do
  echo "SELECT pgque.send('$q', 'soak', '{\"n\": 1}');" > "$work/$q.pgbench"
done
seconds=$((minutes * 60))
echo "soak: $minutes min at $rate events/s in each of 3 queues; samples every $sample s into $results/soak.csv"
# Enough clients that a slow round trip on a busy machine does not cap the
# rate (pgbench -R spreads the schedule over them); pgbench.log says the rate
# reached.
as_pg pgbench -n -h "$work" -U postgres -c "${SOAK_CLIENTS:-12}" -j 3 -R $((rate * 3)) -T "$seconds" \
  -f "$work/soak_sql.pgbench" -f "$work/soak_flaky.pgbench" -f "$work/soak_hooks.pgbench" soak \
  > "$work/pgbench.log" 2>&1 &
producer=$!

csv="$results/soak.csv"
echo "t_s,kind,name,value" > "$csv"
start=$(date +%s)
sample_once() {
  local t=$(( $(date +%s) - start )) pid name
  # Worker processes: RSS (kB), anonymous RSS (kB), CPU (clock ticks).
  while IFS='|' read -r pid name; do
    [ -r "/proc/$pid/status" ] || continue
    awk -v t="$t" -v n="$name[$pid]" '/^VmRSS/ {print t ",rss_kb," n "," $2} /^RssAnon/ {print t ",rss_anon_kb," n "," $2}' "/proc/$pid/status"
    echo "$t,cpu_ticks,$name[$pid],$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)"
  done < <(sql soak "SELECT a.pid, pg_catalog.replace(coalesce('consumer ' || c.queue, a.backend_type), ' ', '_')
                     FROM pg_stat_activity a LEFT JOIN pgque_worker.consumers c ON c.pid = a.pid
                    WHERE a.backend_type LIKE 'pgque_worker%'" 2>/dev/null || true)
  sql soak "SELECT $t || ',dead_tuples,' || schemaname || '.' || relname || ',' || n_dead_tup,
                   $t || ',size_bytes,' || schemaname || '.' || relname || ',' || pg_catalog.pg_total_relation_size(relid)
              FROM pg_stat_user_tables WHERE schemaname IN ('pgq', 'pgque', 'pgque_worker')" 2>/dev/null | tr '|' '\n' || true
  sql soak "SELECT $t || ',lag_s,' || queue_name || ',' || coalesce(extract(epoch FROM lag), 0),
                   $t || ',pending,' || queue_name || ',' || coalesce(pending_events, 0)
              FROM pgque.get_consumer_info()" 2>/dev/null | tr '|' '\n' || true
}
while kill -0 $producer 2>/dev/null; do
  sample_once >> "$csv"
  sleep "$sample"
done
wait $producer || { echo "soak: pgbench failed" >&2; cat "$work/pgbench.log" >&2; }
sent_total=$(awk '/^number of transactions actually processed/ {print $NF}' "$work/pgbench.log" | cut -d/ -f1)
echo "soak: producer done ($sent_total transactions); draining"
# Drained: nothing pending, no retries waiting (up to 10 min: a message
# that fails five times waits five retry_afters).
for _ in $(seq 600); do
  sample_once >> "$csv"
  left=$(sql soak "SELECT coalesce(sum(pending_events), 0) FROM pgque.get_consumer_info()")
  retries=$(sql soak "SELECT count(*) FROM pgq.retry_queue")
  [ "$left" = 0 ] && [ "$retries" = 0 ] && break
  sleep 1
done
sleep 2

# Sent per queue, from the database: the distinct event ids in the queue's
# event tables (a retry put back keeps its id). pgbench's per-script counts
# leave out transactions it was still running at the end. No rotation has
# emptied an event table: see rotation_period above.
for q in soak_sql soak_flaky soak_hooks; do
  id=$(sql soak "SELECT queue_id FROM pgq.queue WHERE queue_name = '$q'")
  echo "$q,$(sql soak "SELECT count(DISTINCT ev_id) FROM pgq.event_$id")"
done > "$work/sent.csv"
sql soak "SELECT queue, count(*), count(DISTINCT msg_id),
                 pg_catalog.percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM handled_at - sent_at)),
                 max(extract(epoch FROM handled_at - sent_at))
            FROM handled GROUP BY queue" | tr '|' ',' > "$work/handled.csv"
sql soak "SELECT q.queue_name, count(*) FROM pgque.dead_letter d JOIN pgq.queue q ON q.queue_id = d.dl_queue_id
           GROUP BY 1" | tr '|' ',' > "$work/dead.csv"
cp "$work/nginx/webhooks.log" "$work/webhooks.log"
cp "$work/pgbench.log" "$results/pgbench.log"
python3 "$repo/bench/soak_report.py" "$csv" "$work" "$results" "$rate" "$minutes"
