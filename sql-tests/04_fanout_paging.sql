-- Fan-out, and receive/ack in pages never skips an event.
\set VERBOSITY terse
SELECT pgque.create_queue('fan');
SELECT pgque.subscribe('fan', 'a');
SELECT pgque.subscribe('fan', 'b');
SELECT cardinality(pgque.send_batch('fan', 'e', ARRAY['1', '2', '3', '4', '5']));
SELECT pgque.force_next_tick('fan') IS NOT NULL;
SELECT pgque.ticker('fan') IS NOT NULL AS ticked;
-- Each consumer receives every event.
SELECT string_agg(payload, ',' ORDER BY msg_id) AS a_got FROM pgque.receive('fan', 'a');
SELECT string_agg(payload, ',' ORDER BY msg_id) AS b_got FROM pgque.receive('fan', 'b');
SELECT pgque.ack(current_batch) FROM pgque.get_consumer_info('fan') ORDER BY consumer_name;

-- 10 events in one batch, received 3 at a time: upstream pgque would lose
-- events 4..10 at the first ack. Here every event arrives exactly once.
SELECT pgque.create_queue('pages');
SELECT pgque.subscribe('pages', 'c');
SELECT cardinality(pgque.send_batch('pages', 'e', ARRAY['1','2','3','4','5','6','7','8','9','10']));
SELECT pgque.force_next_tick('pages') IS NOT NULL;
SELECT pgque.ticker('pages') IS NOT NULL AS ticked;

-- Receiving again without an ack returns the same page (at least once).
SELECT string_agg(payload, ',' ORDER BY msg_id) FROM pgque.receive('pages', 'c', 3);
SELECT string_agg(payload, ',' ORDER BY msg_id) FROM pgque.receive('pages', 'c', 3);

CREATE TEMP TABLE delivered (round int, msg_id bigint, batch_id bigint, payload text);
DO $$
DECLARE
    r int := 0;
    n int;
    b bigint;
BEGIN
    LOOP
        r := r + 1;
        INSERT INTO delivered SELECT r, msg_id, batch_id, payload FROM pgque.receive('pages', 'c', 3);
        GET DIAGNOSTICS n = ROW_COUNT;
        EXIT WHEN n = 0 OR r > 20;
        SELECT max(batch_id) INTO b FROM delivered WHERE round = r;
        PERFORM pgque.ack(b);
    END LOOP;
END
$$;
SELECT round, string_agg(payload, ',' ORDER BY msg_id) FROM delivered GROUP BY round ORDER BY round;
SELECT count(*) AS delivered, count(DISTINCT msg_id) AS distinct_events,
       count(DISTINCT batch_id) AS batches FROM delivered;
-- The batch is finished after its last page: nothing open, nothing pending.
SELECT current_batch, pending_events FROM pgque.get_consumer_info('pages', 'c');
SELECT count(*) AS page_rows FROM pgque.batch_page;

-- A nack in a middle page is honoured, and the rest of the batch still comes.
SELECT pgque.set_queue_config('pages', 'max_retries', '0');
SELECT cardinality(pgque.send_batch('pages', 'e', ARRAY['a','b','c','d','e']));
SELECT pgque.force_next_tick('pages') IS NOT NULL;
SELECT pgque.ticker('pages') IS NOT NULL AS ticked;
CREATE TEMP TABLE p1 AS SELECT * FROM pgque.receive('pages', 'c', 2);
SELECT pgque.ack(batch_id) FROM p1 LIMIT 1;
SELECT pgque.ack(batch_id) FROM p1 LIMIT 1;         -- the same page again: 0
CREATE TEMP TABLE p2 AS SELECT * FROM pgque.receive('pages', 'c', 2);
SELECT string_agg(payload, ',' ORDER BY msg_id) FROM p2;
SELECT pgque.nack(batch_id, ROW(p2.*)::pgque.message, '0 seconds', 'middle') FROM p2 WHERE payload = 'd';
SELECT pgque.ack(batch_id) FROM p2 LIMIT 1;
SELECT string_agg(payload, ',' ORDER BY msg_id) FROM pgque.receive('pages', 'c', 2);
SELECT pgque.ack(current_batch) FROM pgque.get_consumer_info('pages', 'c');
SELECT ev_data, dl_reason FROM pgque.dlq_inspect('pages');
SELECT current_batch FROM pgque.get_consumer_info('pages', 'c');
