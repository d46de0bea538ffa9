-- The low-level API, cooperative consumers, batch_page only when a client
-- really pages, and upstream's role split for the new functions (issue #13).
\set VERBOSITY terse
SELECT pgque.create_queue('ll');
SELECT pgque.subscribe('ll', 'c');

-- insert_event (3 and 7 arguments), insert_event_bulk, current_event_table
SELECT pgque.insert_event('ll', 't1', 'd1') > 0 AS id3;
SELECT pgque.insert_event('ll', 't2', 'd2', 'e1', 'e2', 'e3', 'e4') > 0 AS id7;
SELECT cardinality(pgque.insert_event_bulk('ll', 't3', ARRAY['d3', 'd4'])) AS bulk;
SELECT pgque.current_event_table('ll') LIKE 'pgq.event_%' AS event_table;
SELECT pgque.force_next_tick('ll') IS NOT NULL;
SELECT pgque.ticker('ll') IS NOT NULL;

-- next_batch / get_batch_events / get_batch_info / batch_event_sql /
-- batch_event_tables / event_retry / finish_batch
SELECT pgque.next_batch('ll', 'c') AS b \gset
SELECT ev_type, ev_data, ev_extra1, ev_extra4 FROM pgque.get_batch_events(:b) ORDER BY ev_id;
SELECT queue_name, consumer_name FROM pgque.get_batch_info(:b);
SELECT pgque.batch_event_sql(:b) LIKE '%pgq.event_%' AS has_sql;
SELECT count(*) > 0 AS has_tables FROM pgque.batch_event_tables(:b);
SELECT pgque.next_batch('ll', 'c') = :b AS same_batch_again;
SELECT ev_id AS e FROM pgque.get_batch_events(:b) WHERE ev_type = 't1' \gset
SELECT pgque.event_retry(:b, :e, 0);
SELECT pgque.finish_batch(:b);
SELECT pgque.maint_retry_events();
SELECT pgque.force_next_tick('ll') IS NOT NULL;
SELECT pgque.ticker('ll') IS NOT NULL;
SELECT batch_id AS b2 FROM pgque.next_batch_info('ll', 'c') \gset
SELECT ev_type, ev_retry FROM pgque.get_batch_events(:b2);
-- batch_retry: the whole batch to the retry queue; the batch stays open
-- until finish_batch, as in PgQ.
SELECT pgque.batch_retry(:b2, 0);
SELECT count(*) AS open_batches FROM pgque.get_consumer_info('ll', 'c') WHERE current_batch IS NOT NULL;
SELECT pgque.finish_batch(:b2);
SELECT pgque.maint_retry_events();
SELECT pgque.force_next_tick('ll') IS NOT NULL;
SELECT pgque.ticker('ll') IS NOT NULL;
SELECT batch_id AS b3 FROM pgque.next_batch_custom('ll', 'c', NULL, NULL, NULL) \gset
SELECT ev_type, ev_retry FROM pgque.get_batch_events(:b3);
BEGIN;
SELECT ev_type FROM pgque.get_batch_cursor(:b3, 'cur', 10);
CLOSE cur;
COMMIT;
SELECT pgque.finish_batch(:b3);

-- register_consumer_at, seq_getval / seq_setval on a queue's sequence
SELECT pgque.register_consumer_at('ll', 'late', (SELECT last_tick_id FROM pgque.get_queue_info('ll')));
SELECT pgque.seq_getval(queue_event_seq) > 0 AS seq_ok FROM pgq.queue WHERE queue_name = 'll';
SELECT pgque.unregister_consumer('ll', 'late');

-- status(): the regression database is not served by a worker.
SELECT component, status FROM pgque.status() WHERE component IN ('pgque', 'engine', 'scheduler', 'queues');
-- stop()/start() switch the flag the worker reads (t/061 checks the worker).
SELECT pgque.stop();
SELECT pgque.ticker_stopped(), status FROM pgque.status() WHERE component = 'scheduler';
SELECT pgque.stop();
SELECT pgque.start();
SELECT pgque.ticker_stopped(), status FROM pgque.status() WHERE component = 'scheduler';

-- batch_page is written only when a client really pages.
SELECT pgque.send_batch('ll', 'p', ARRAY['1', '2', '3']);
SELECT pgque.force_next_tick('ll') IS NOT NULL;
SELECT pgque.ticker('ll') IS NOT NULL;
SELECT count(*) AS whole FROM pgque.receive('ll', 'c', 2147483647);
SELECT count(*) AS page_rows FROM pgque.batch_page p
  JOIN pgque.get_consumer_info('ll', 'c') i ON p.batch_id = i.current_batch;
SELECT pgque.ack(current_batch) FROM pgque.get_consumer_info('ll', 'c');
SELECT pgque.send_batch('ll', 'p', ARRAY['4', '5', '6']);
SELECT pgque.force_next_tick('ll') IS NOT NULL;
SELECT pgque.ticker('ll') IS NOT NULL;
SELECT count(*) AS paged FROM pgque.receive('ll', 'c', 2);
SELECT count(*) AS page_rows FROM pgque.batch_page p
  JOIN pgque.get_consumer_info('ll', 'c') i ON p.batch_id = i.current_batch;
SELECT pgque.ack(current_batch) FROM pgque.get_consumer_info('ll', 'c');
SELECT payload, batch_id AS paged_b FROM pgque.receive('ll', 'c', 2) \gset
SELECT :'payload' AS last_page;
SELECT pgque.ack(:paged_b);
SELECT count(*) AS page_rows_after_ack FROM pgque.batch_page WHERE batch_id = :paged_b;

-- Cooperative consumers: each batch to one subconsumer; a subconsumer's
-- batch comes back to it until acked; a dead one's batch is taken over.
SELECT pgque.subscribe_subconsumer('ll', 'w', 's1');
SELECT pgque.register_subconsumer('ll', 'w', 's2');
SELECT pgque.register_subconsumer('ll', 'w', 's2');   -- 0: registered already
SELECT pgque.send('ll', 'a');
SELECT pgque.force_next_tick('ll') IS NOT NULL;
SELECT pgque.ticker('ll') IS NOT NULL;
SELECT pgque.send('ll', 'b');
SELECT pgque.force_next_tick('ll') IS NOT NULL;
SELECT pgque.ticker('ll') IS NOT NULL;
SELECT payload AS s1_gets FROM pgque.receive_coop('ll', 'w', 's1');
SELECT payload AS s2_gets, batch_id AS s2_b FROM pgque.receive_coop('ll', 'w', 's2') \gset
SELECT :'s2_gets' AS s2_gets;
SELECT payload AS s1_again FROM pgque.receive_coop('ll', 'w', 's1');
SELECT count(*) AS s3_nothing FROM pgque.receive_coop('ll', 'w', 's3');
SELECT consumer_name, current_batch IS NOT NULL AS busy FROM pgque.get_consumer_info('ll') ORDER BY 1;
-- The normal API refuses a cooperative consumer.
SELECT * FROM pgque.receive('ll', 'w');
SELECT pgque.unregister_consumer('ll', 'w');
SELECT pgque.unregister_consumer('ll', 'w.s1');
SELECT pgque.unregister_subconsumer('ll', 'w', 's1');
-- s2 has been silent longest: s3 takes its batch over after dead_interval
-- (0 here), under a new batch id; s2's old batch id is no longer active,
-- and s2 gets the consumer's next batch (none) when it comes back.
SELECT count(*) AS s1_still_busy FROM pgque.receive_coop('ll', 'w', 's1');
SELECT payload AS s3_takes_over, batch_id <> :s2_b AS new_batch_id
  FROM pgque.receive_coop('ll', 'w', 's3', 100, '0 seconds');
SET client_min_messages = error;
SELECT pgque.ack(:s2_b) AS s2_old_batch_acked;
RESET client_min_messages;
SELECT count(*) AS s2_back FROM pgque.receive_coop('ll', 'w', 's2');
SELECT pgque.ack(current_batch) FROM pgque.get_consumer_info('ll')
 WHERE consumer_name IN ('w.s1', 'w.s3') ORDER BY consumer_name;
SELECT pgque.touch_subconsumer('ll', 'w', 's1');
-- next_batch (cooperative form) and unregister with batch_handling 1: the
-- open batch's events go to the retry queue.
SELECT pgque.send('ll', 'c');
SELECT pgque.force_next_tick('ll') IS NOT NULL;
SELECT pgque.ticker('ll') IS NOT NULL;
SELECT pgque.next_batch('ll', 'w', 's2') IS NOT NULL AS s2_batch;
SELECT pgque.unsubscribe_subconsumer('ll', 'w', 's2', 1);
SELECT ev_data AS retried, ev_retry FROM pgq.retry_queue WHERE ev_data = 'c';
SELECT pgque.unregister_subconsumer('ll', 'w', 's1');
SELECT pgque.unregister_subconsumer('ll', 'w', 's3');
-- The last subconsumer gone, w is a normal consumer again.
SELECT count(*) AS coop_rows FROM pgque.coop_member;
SELECT count(*) AS w_normal FROM pgque.receive('ll', 'w');

-- Roles: the new functions follow upstream's split.
CREATE ROLE ll_reader IN ROLE pgque_reader;
CREATE ROLE ll_writer IN ROLE pgque_writer;
SET ROLE ll_writer;
SELECT pgque.insert_event('ll', 't', 'by writer') > 0 AS writer_inserts;
SELECT pgque.receive_coop('ll', 'w', 'x');
RESET ROLE;
SET ROLE ll_reader;
SELECT pgque.insert_event('ll', 't', 'by reader');
SELECT count(*) >= 0 AS reader_receives_coop FROM pgque.receive_coop('ll', 'w2', 'r1');
SELECT pgque.unregister_subconsumer('ll', 'w2', 'r1');
SELECT pgque.batch_retry(1, 0);
SELECT pgque.seq_setval('x', 1);
SELECT * FROM pgque.get_batch_cursor(1, 'c', 1);
SELECT * FROM pgque.coop_member;
DELETE FROM pgq.subscription;
-- Upstream's table names, as views: readable by readers...
SELECT queue_name, queue_max_retries FROM pgque.queue WHERE queue_name = 'll';
SELECT count(*) > 0 AS sees_subscriptions FROM pgque.subscription s JOIN pgque.consumer c ON c.co_id = s.sub_consumer;
UPDATE pgque.queue SET queue_max_retries = 1 WHERE queue_name = 'll';
DELETE FROM pgque.subscription;
RESET ROLE;
-- ... and an admin changes settings through them, nothing else.
CREATE ROLE ll_admin IN ROLE pgque_admin;
SET ROLE ll_admin;
UPDATE pgque.queue SET queue_max_retries = 0, queue_ticker_max_lag = '7 seconds' WHERE queue_name = 'll';
SELECT queue_max_retries, queue_ticker_max_lag FROM pgque.queue WHERE queue_name = 'll';
UPDATE pgque.queue SET queue_data_pfx = 'pg_catalog.pg_authid' WHERE queue_name = 'll';
UPDATE pgque.queue SET queue_max_retries = NULL, queue_ticker_max_lag = NULL WHERE queue_name = 'll';
SELECT queue_max_retries, queue_ticker_max_lag FROM pgque.queue WHERE queue_name = 'll';
INSERT INTO pgque.tick (tick_queue, tick_id) VALUES (1, 1);
UPDATE pgque.retry_queue SET ev_retry_after = now() WHERE false;
RESET ROLE;
DROP ROLE ll_reader;
DROP ROLE ll_writer;
DROP ROLE ll_admin;

SELECT pgque.drop_queue('ll', true);
