-- Queue and consumer names with quotes, spaces and SQL fragments are data.
\set VERBOSITY terse
CREATE TEMP TABLE names (queue text, consumer text);
INSERT INTO names VALUES
    ('it''s "quoted"', 'con"sumer'),
    ('with space', 'a consumer'),
    ('x''); DROP TABLE pgque.dead_letter; --', '"; SELECT 1; --'),
    ('Ünïcødé €', 'pgq.event_1');
SELECT pgque.create_queue(queue) FROM names;
SELECT pgque.subscribe(queue, consumer) FROM names;
SELECT pgque.send(queue, 'kind '' "', queue || ' payload') > 0 FROM names;
SELECT pgque.force_next_tick(queue) IS NOT NULL FROM names;
SELECT pgque.ticker(queue) IS NOT NULL FROM names;
SELECT n.queue, m.type, m.payload
  FROM names n, LATERAL pgque.receive(n.queue, n.consumer) m ORDER BY 1 COLLATE "C";
SELECT pgque.ack(current_batch) FROM names n, LATERAL pgque.get_consumer_info(n.queue, n.consumer);
SELECT queue_name, consumer_name FROM pgque.get_consumer_info() ORDER BY 1 COLLATE "C", 2 COLLATE "C";
SELECT to_regclass('pgque.dead_letter') IS NOT NULL AS dead_letter_still_there;
SELECT pgque.drop_queue(queue, true) FROM names;
