#!/usr/bin/env bash
# make demo: a throwaway cluster (tmp/demo, removed on exit) that shows the
# pgque API working: a queue, events sent, received, retried, dead-lettered.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

build_and_install
work=$(make_workdir demo)
data="$work/data"
as_pg initdb -D "$data" -A trust --no-sync -U postgres >/dev/null
cat >> "$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'pgque_worker'
CONF
as_pg pg_ctl -D "$data" -l "$work/server.log" -w start >/dev/null
cleanup() {
  as_pg pg_ctl -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work" "$repo/tmp/demo"
}
trap cleanup EXIT

sql() { as_pg psql -h "$work" -d postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Install: CREATE EXTENSION pgque_pgq CASCADE; CREATE EXTENSION pgque_worker"
sql -c "CREATE EXTENSION pgque_pgq CASCADE" -c "CREATE EXTENSION pgque_worker" \
    -c "SELECT pgque.version() AS pgque_api, pgque_worker.version() AS worker"

step "A queue 'orders' with a consumer 'billing' (dead-letter after 1 retry)"
sql -c "SELECT pgque.create_queue('orders'), pgque.subscribe('orders', 'billing'),
               pgque.set_queue_config('orders', 'max_retries', '1')"

step "Send three events"
sql -c "SELECT pgque.send('orders', 'order.created', '{\"id\": 1, \"total\": 25}'::jsonb) AS id
        UNION ALL SELECT pgque.send('orders', 'order.created', '{\"id\": 2, \"total\": 99}'::jsonb)
        UNION ALL SELECT pgque.send('orders', 'order.cancelled', '{\"id\": 1}'::jsonb)"

step "Tick (by hand here; the worker will do it)"
tick() { sql -c "SELECT pgque.force_next_tick('orders')" >/dev/null; sql -c "SELECT pgque.ticker('orders') AS tick_id"; }
tick

step "Receive the batch; order 2 fails and is nacked; ack the batch"
sql <<'SQL'
CREATE TEMP TABLE batch AS SELECT * FROM pgque.receive('orders', 'billing');
SELECT msg_id, batch_id, type, payload, retry_count FROM batch ORDER BY msg_id;
SELECT pgque.nack(batch_id, ROW(b.*)::pgque.message, '0 seconds', 'payment gateway timeout') AS nacked
  FROM batch b WHERE payload::jsonb->>'id' = '2' AND type = 'order.created';
SELECT pgque.ack(min(batch_id)) AS acked FROM batch;
SQL

step "Retries come back after maint_retry_events() and a tick, with retry_count 1"
sql -c "SELECT pgque.maint_retry_events() AS moved"
tick
sql <<'SQL'
CREATE TEMP TABLE batch AS SELECT * FROM pgque.receive('orders', 'billing');
SELECT msg_id, type, payload, retry_count FROM batch;
SELECT pgque.nack(batch_id, ROW(b.*)::pgque.message, '0 seconds', 'payment gateway timeout, again') AS nacked FROM batch b;
SELECT pgque.ack(min(batch_id)) AS acked FROM batch;
SQL

step "Failed twice with max_retries = 1: it is in the dead-letter queue"
sql -c "SELECT dl_id, ev_id, ev_type, ev_data, ev_retry, dl_reason FROM pgque.dlq_inspect('orders')"

step "Queue and consumer state"
sql -c "SELECT queue_name, last_tick_id, ev_new FROM pgque.get_queue_info()" \
    -c "SELECT queue_name, consumer_name, pending_events FROM pgque.get_consumer_info()"
echo
echo "demo finished: cluster in $work stopped and removed"
