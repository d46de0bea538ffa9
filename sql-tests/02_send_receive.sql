-- send / tick / receive / ack round trips.
\set VERBOSITY terse
SELECT pgque.create_queue('orders');
SELECT pgque.create_queue('orders');            -- already there: 0
SELECT pgque.subscribe('orders', 'billing');
SELECT pgque.subscribe('orders', 'billing');    -- already there: 0

-- Nothing sent yet: receive returns no rows.
SELECT count(*) FROM pgque.receive('orders', 'billing');

-- The two-argument send stores type 'default'; jsonb payloads are validated and
-- stored in canonical form, text payloads verbatim.
SELECT pgque.send('orders', '{"id": 1,   "note": "text kept verbatim"}') > 0 AS sent_text;
SELECT pgque.send('orders', '{"id":2,  "b":[1, 2]}'::jsonb) > 0 AS sent_jsonb;
SELECT pgque.send('orders', 'order.created', '{"id":3}'::jsonb) > 0 AS sent_typed;
SELECT pgque.send('orders', 'order.note', 'not json at all') > 0 AS sent_typed_text;

-- Ticks happen when PgQ's thresholds say so; force one.
SELECT pgque.force_next_tick('orders') IS NOT NULL AS had_tick;
SELECT pgque.ticker('orders') IS NOT NULL AS ticked;

CREATE TEMP TABLE got AS SELECT * FROM pgque.receive('orders', 'billing', 100);
SELECT type, payload, retry_count, extra1 FROM got ORDER BY msg_id;
SELECT count(DISTINCT batch_id) AS batches, bool_and(created_at <= now()) AS created_in_past FROM got;

SELECT pgque.ack((SELECT min(batch_id) FROM got));
-- After the ack the consumer sees no old event.
SELECT count(*) FROM pgque.receive('orders', 'billing');

-- Ids: send returns the event id; send_batch returns ids in input order.
CREATE TEMP TABLE ids AS
SELECT pgque.send_batch('orders', 'bulk', ARRAY['a', 'b', NULL, 'd']) AS ids;
SELECT cardinality(ids) FROM ids;
SELECT pgque.send_batch('orders', ARRAY['{"n":1}', '{"n":2}']::jsonb[]) IS NOT NULL AS jsonb_batch;
SELECT pgque.send_batch('orders', ARRAY[]::text[]) AS empty_batch;
SELECT pgque.force_next_tick('orders') IS NOT NULL;
SELECT pgque.ticker() >= 1 AS ticked_all;
DROP TABLE got;
CREATE TEMP TABLE got AS SELECT * FROM pgque.receive('orders', 'billing', 100);
-- Each id returned by send_batch is the id of the payload at the same position.
SELECT u.pos, u.id = g.msg_id AS id_matches, g.type, g.payload
  FROM ids, unnest(ids.ids) WITH ORDINALITY AS u(id, pos)
  JOIN got g ON g.msg_id = u.id
 ORDER BY u.pos;
SELECT type, payload FROM got WHERE type = 'default' ORDER BY msg_id;
SELECT pgque.ack((SELECT min(batch_id) FROM got));

-- Observability.
SELECT queue_name, queue_ticker_max_count, queue_ticker_max_lag FROM pgque.get_queue_info();
SELECT queue_name, consumer_name, current_batch, pending_events FROM pgque.get_consumer_info('orders');
SELECT count(*) FROM pgque.get_consumer_info('orders', 'billing');

-- Unsubscribe, drop.
SELECT pgque.unsubscribe('orders', 'billing');
SELECT pgque.drop_queue('orders');
SELECT count(*) FROM pgque.get_queue_info('orders');
