#!/usr/bin/env bash
# make demo: a throwaway cluster (tmp/demo, removed on exit) that shows
# pgque_worker at work: queues ticked with no pg_cron, the pgque API, a SQL
# handler (exactly once), webhooks to a local receiver, retries and dead
# letters.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

build_and_install
work=$(make_workdir demo)
start_cluster "$work"
cleanup() {
  stop_cluster "$work"
  rm -rf "$work" "$repo/tmp/demo"
}
trap cleanup EXIT

sql() { as_pg psql -h "$work" -d postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Install: CREATE EXTENSION pgque_pgq CASCADE; CREATE EXTENSION pgque_worker"
sql -c "CREATE EXTENSION pgque_pgq CASCADE" -c "CREATE EXTENSION pgque_worker" \
    -c "SELECT pgque.version() AS pgque_api, pgque_worker.version() AS worker"

step "The worker: one per database with pgque_worker, ticking every queue"
for _ in $(seq 100); do
  [ "$(sql -At -c "SELECT state FROM pgque_worker.workers WHERE database = 'postgres'")" = running ] && break
  sleep 0.1
done
sql -c "SELECT database, pid, state FROM pgque_worker.workers"

step "A queue 'orders' with a consumer 'billing' (dead-letter after 1 retry); PgQ's default tick thresholds"
sql -c "SELECT pgque.create_queue('orders'), pgque.subscribe('orders', 'billing'),
               pgque.set_queue_config('orders', 'max_retries', '1')"

# receive(), retried every millisecond until a batch arrives or 10 s pass,
# reporting how long the wait was: nothing here ticks, the worker does.
wait_and_receive() {
  sql <<SQL
CREATE FUNCTION pg_temp.wait_and_receive(queue text, consumer text)
RETURNS TABLE (waited_ms numeric, msg pgque.message) LANGUAGE plpgsql AS \$\$
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    LOOP
        RETURN QUERY SELECT round(extract(epoch FROM clock_timestamp() - started)::numeric * 1000, 1), m
                       FROM pgque.receive(queue, consumer) m;
        EXIT WHEN FOUND OR clock_timestamp() > started + interval '10 seconds';
        PERFORM pg_sleep(0.001);
    END LOOP;
END \$\$;
CREATE TEMP TABLE batch AS SELECT (msg).*, waited_ms FROM pg_temp.wait_and_receive('orders', 'billing');
SELECT waited_ms, msg_id, batch_id, type, payload, retry_count FROM batch ORDER BY msg_id;
$1
SELECT pgque.ack(min(batch_id)) AS acked FROM batch;
SQL
}

step "Send three events"
sql -c "SELECT pgque.send('orders', 'order.created', '{\"id\": 1, \"total\": 25}'::jsonb) AS id
        UNION ALL SELECT pgque.send('orders', 'order.created', '{\"id\": 2, \"total\": 99}'::jsonb)
        UNION ALL SELECT pgque.send('orders', 'order.cancelled', '{\"id\": 1}'::jsonb)"

step "Receive them: no ticker() call anywhere; order 2 fails and is nacked; ack"
wait_and_receive "SELECT pgque.nack(batch_id, ROW(msg_id, batch_id, type, payload, retry_count, created_at, extra1, extra2, extra3, extra4)::pgque.message, '0 seconds', 'payment gateway timeout') AS nacked
  FROM batch WHERE payload::jsonb->>'id' = '2' AND type = 'order.created';"

step "The worker moves the retry back (pgque_worker.retry_interval, 1 s) and ticks it: retry_count 1"
wait_and_receive "SELECT pgque.nack(batch_id, ROW(msg_id, batch_id, type, payload, retry_count, created_at, extra1, extra2, extra3, extra4)::pgque.message, '0 seconds', 'payment gateway timeout, again') AS nacked FROM batch;"

step "Failed twice with max_retries = 1: it is in the dead-letter queue"
sql -c "SELECT dl_id, ev_id, ev_type, ev_data, ev_retry, dl_reason FROM pgque.dlq_inspect('orders')"

step "In-process consumer: a SQL handler per event type, run by a consumer worker"
sql <<'SQL'
CREATE TABLE shipments (order_id int, shipped_by text, attempt int);
-- Ships an order; refuses orders over 1000 (a failure: nacked, retried, then dead-lettered).
CREATE FUNCTION ship(msg pgque.message) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO shipments VALUES ((msg.payload::jsonb->>'id')::int, current_user, coalesce(msg.retry_count, 0));
    IF (msg.payload::jsonb->>'total')::int > 1000 THEN
        RAISE EXCEPTION 'order % is too large to ship', msg.payload::jsonb->>'id';
    END IF;
END $$;
SELECT pgque.create_queue('shipping');
SELECT pgque.set_queue_config('shipping', 'max_retries', '2');
SELECT pgque_worker.handle('shipping', 'warehouse', 'order.created', 'ship(pgque.message)');
SELECT pgque_worker.set_consumer('shipping', 'warehouse', retry_after => '0 seconds');
SELECT pgque.send('shipping', 'order.created', '{"id": 10, "total": 40}'::jsonb),
       pgque.send('shipping', 'order.created', '{"id": 11, "total": 5000}'::jsonb),
       pgque.send('shipping', 'order.refunded', '{"id": 9}'::jsonb);
SQL
for _ in $(seq 100); do
  [ "$(sql -At -c "SELECT count(*) FROM pgque.dlq_inspect('shipping')")" = 1 ] && break
  sleep 0.1
done
echo "Shipments: order 10 once; order 11's three failed attempts left no row (each rolled back):"
sql -c "SELECT * FROM shipments"
echo "Consumer counters (order.refunded has no handler: unhandled, acked):"
sql -c "SELECT queue, consumer, state, processed, failed, retried, dead_lettered, unhandled, last_error FROM pgque_worker.consumers"
sql -c "SELECT ev_data, ev_retry, dl_reason FROM pgque.dlq_inspect('shipping')"

step "Webhooks: messages POSTed to a local receiver, signed, retried, dead-lettered"
/usr/bin/python3 "$repo/t/lib/webhook_receiver.py" "$work/webhooks.jsonl" whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw \
    > "$work/receiver.port" 2>/dev/null &
receiver=$!
trap 'kill $receiver 2>/dev/null; cleanup' EXIT
for _ in $(seq 50); do [ -s "$work/receiver.port" ] && break; sleep 0.1; done
port=$(head -1 "$work/receiver.port")
sql <<SQL
SELECT pgque.create_queue('notify');
SELECT pgque.set_queue_config('notify', 'max_retries', '1');
-- /fail_first answers 500 to a first attempt: that delivery succeeds on its retry.
SELECT pgque_worker.handle_http('notify', 'crm', 'order.created', 'http://127.0.0.1:$port/fail_first',
                                secret => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
-- /fail_always answers 500 "boom": dead-lettered after max_retries.
SELECT pgque_worker.handle_http('notify', 'crm', 'order.cancelled', 'http://127.0.0.1:$port/fail_always');
SELECT pgque_worker.set_consumer('notify', 'crm', retry_after => '1 second');
SELECT pgque.send('notify', 'order.created', '{"id": 20, "total": 75}'::jsonb),
       pgque.send('notify', 'order.cancelled', '{"id": 21}'::jsonb);
SQL
for _ in $(seq 100); do
  [ "$(sql -At -c "SELECT count(*) FROM pgque.dlq_inspect('notify')")" = 1 ] && break
  sleep 0.1
done
echo "What the receiver got (it checks each signature with the secret itself):"
/usr/bin/python3 - "$work/webhooks.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"  {r['path']:<13} webhook-id {r['headers']['webhook-id']}  attempt {r['attempt']}  "
          f"-> {r['status']}  signature: {'verified' if r['signature_valid'] else 'INVALID' if 'webhook-signature' in r['headers'] else 'none (no secret)'}"
          f"  payload {json.dumps(r['body']['payload'])}")
PY
sql -c "SELECT queue, consumer, processed, failed, retried, dead_lettered, last_error FROM pgque_worker.consumers WHERE queue = 'notify'" \
    -c "SELECT event_type, target, secret FROM pgque_worker.handlers WHERE queue = 'notify'" \
    -c "SELECT ev_type, ev_retry, dl_reason FROM pgque.dlq_inspect('notify')"

step "Queue, consumer and worker state"
sql -c "SELECT queue_name, last_tick_id, ev_new FROM pgque.get_queue_info()" \
    -c "SELECT queue_name, consumer_name, pending_events FROM pgque.get_consumer_info()" \
    -c "SELECT database, state, ticks, last_tick IS NOT NULL AS ticked FROM pgque_worker.workers"
echo
echo "demo finished: cluster in $work stopped and removed"
