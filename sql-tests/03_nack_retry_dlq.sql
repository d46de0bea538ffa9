-- nack, retry, dead letters.
\set VERBOSITY terse
SELECT pgque.create_queue('jobs');
SELECT pgque.subscribe('jobs', 'worker');
SELECT pgque.set_queue_config('jobs', 'max_retries', '2');
SELECT pgque.set_queue_config('jobs', 'ticker_max_count', '1');

SELECT pgque.send('jobs', 'job', '{"n":1}') > 0;
SELECT pgque.ticker('jobs') IS NOT NULL AS ticked;

-- Delivery 1: nack with no delay, ack the batch.
CREATE TEMP TABLE m AS SELECT * FROM pgque.receive('jobs', 'worker');
SELECT type, payload, retry_count FROM m;
SELECT pgque.nack(batch_id, ROW(m.*)::pgque.message, '0 seconds', 'fail 1') FROM m;
SELECT pgque.ack(batch_id) FROM m;
-- Nothing is delivered before the retry is moved back and ticked.
SELECT count(*) FROM pgque.receive('jobs', 'worker');
SELECT pgque.maint_retry_events();
SELECT pgque.ticker('jobs') IS NOT NULL AS ticked;

-- Delivery 2: same event, retry_count 1.
CREATE TEMP TABLE m2 AS SELECT * FROM pgque.receive('jobs', 'worker');
SELECT m2.msg_id = m.msg_id AS same_event, m2.type, m2.payload, m2.retry_count FROM m2, m;
SELECT pgque.nack(batch_id, ROW(m2.*)::pgque.message, '0 seconds', 'fail 2') FROM m2;
SELECT pgque.ack(batch_id) FROM m2;
SELECT pgque.maint_retry_events();
SELECT pgque.ticker('jobs') IS NOT NULL AS ticked;

-- Delivery 3 (retry_count 2 = max_retries): the 3rd nack dead-letters it.
-- Only msg_id is read from the message: a forged payload changes nothing.
CREATE TEMP TABLE m3 AS SELECT * FROM pgque.receive('jobs', 'worker');
SELECT retry_count FROM m3;
UPDATE m3 SET payload = 'forged', type = 'forged';
SELECT pgque.nack(batch_id, ROW(m3.*)::pgque.message, '0 seconds', 'fail 3') FROM m3;
SELECT pgque.nack(batch_id, ROW(m3.*)::pgque.message, '0 seconds', 'fail 3 again') FROM m3;   -- idempotent
SELECT pgque.ack(batch_id) FROM m3;
SELECT ev_id = (SELECT msg_id FROM m) AS same_event, dl_reason, ev_retry, ev_type, ev_data
  FROM pgque.dead_letter;
-- Nothing left to retry or to deliver.
SELECT pgque.maint_retry_events();
SELECT pgque.force_next_tick('jobs') IS NOT NULL;
SELECT pgque.ticker('jobs') IS NOT NULL AS ticked;
SELECT count(*) FROM pgque.receive('jobs', 'worker');

-- dlq_inspect shows it; dlq_replay puts it back with a fresh retry budget.
SELECT ev_type, ev_data, dl_reason FROM pgque.dlq_inspect('jobs');
SELECT pgque.dlq_replay(dl_id) > 0 AS replayed FROM pgque.dead_letter;
SELECT count(*) AS dead_letters FROM pgque.dead_letter;
SELECT pgque.ticker('jobs') IS NOT NULL AS ticked;
CREATE TEMP TABLE m4 AS SELECT * FROM pgque.receive('jobs', 'worker');
SELECT type, payload, retry_count FROM m4;
SELECT pgque.ack(batch_id) FROM m4;

-- max_retries 0: the first nack dead-letters; the reason defaults.
SELECT pgque.set_queue_config('jobs', 'max_retries', '0');
SELECT pgque.send('jobs', 'job', 'second') > 0;
SELECT pgque.ticker('jobs') IS NOT NULL AS ticked;
CREATE TEMP TABLE m5 AS SELECT * FROM pgque.receive('jobs', 'worker');
SELECT pgque.nack(batch_id, ROW(m5.*)::pgque.message) FROM m5;
SELECT pgque.ack(batch_id) FROM m5;
SELECT ev_data, dl_reason, ev_retry FROM pgque.dlq_inspect('jobs', 10);

-- dlq_purge deletes only rows older than the interval.
SELECT pgque.dlq_purge('jobs', '1 day');
UPDATE pgque.dead_letter SET dl_time = now() - interval '2 days';
SELECT pgque.dlq_purge('jobs', '1 day');
SELECT count(*) AS dead_letters FROM pgque.dead_letter;

-- dlq_replay_all replays every row and reports what it did.
SELECT pgque.send('jobs', 'job', 'third') > 0;
SELECT pgque.ticker('jobs') IS NOT NULL AS ticked;
CREATE TEMP TABLE m6 AS SELECT * FROM pgque.receive('jobs', 'worker');
SELECT pgque.nack(batch_id, ROW(m6.*)::pgque.message, '0 seconds', 'bad') FROM m6;
SELECT pgque.ack(batch_id) FROM m6;
SELECT * FROM pgque.dlq_replay_all('jobs');
SELECT pgque.ticker('jobs') IS NOT NULL AS ticked;
SELECT payload, retry_count FROM pgque.receive('jobs', 'worker');

-- The default retry delay (60 s) keeps the event away from maint_retry_events.
SELECT pgque.set_queue_config('jobs', 'max_retries', NULL);
SELECT pgque.ack(current_batch) FROM pgque.get_consumer_info('jobs', 'worker');
SELECT pgque.send('jobs', 'job', 'later') > 0;
SELECT pgque.ticker('jobs') IS NOT NULL AS ticked;
CREATE TEMP TABLE m7 AS SELECT * FROM pgque.receive('jobs', 'worker');
SELECT pgque.nack(batch_id, ROW(m7.*)::pgque.message) FROM m7;
SELECT pgque.ack(batch_id) FROM m7;
SELECT pgque.maint_retry_events();
SELECT count(*) AS dead_letters FROM pgque.dead_letter;

-- _nack_read: nack() of a message as read, for the workers (pgque_admin):
-- no second read of the batch. A reader may not call it (it trusts msg).
CREATE ROLE nack_reader IN ROLE pgque_reader;
SELECT pgque.set_queue_config('jobs', 'max_retries', '1');
SELECT pgque.send('jobs', 'job', 'as read') > 0;
SELECT pgque.ticker('jobs') IS NOT NULL AS ticked;
CREATE TEMP TABLE m8 AS SELECT * FROM pgque.receive('jobs', 'worker');
GRANT SELECT ON m8 TO nack_reader;
SET ROLE nack_reader;
SELECT pgque._nack_read(batch_id, ROW(m8.*)::pgque.message, '0 seconds', 'forged') FROM m8;
RESET ROLE;
-- Bad arguments: the same errors as nack().
SELECT pgque._nack_read(-1, ROW(m8.*)::pgque.message, '0 seconds', 'x') FROM m8;
SELECT pgque._nack_read(batch_id, ROW(m8.*)::pgque.message, NULL, 'x') FROM m8;
SELECT pgque._nack_read(batch_id, ROW(m8.*)::pgque.message, '-1 second', 'x') FROM m8;
SELECT pgque._nack_read(batch_id, ROW(NULL, m8.batch_id, 'job', 'x', 0, now(), NULL, NULL, NULL, NULL)::pgque.message,
                        '0 seconds', 'x') FROM m8;
-- Retried with the fields given; a second call is a no-op.
SELECT pgque._nack_read(batch_id, ROW(m8.*)::pgque.message, '0 seconds', 'first') FROM m8;
SELECT pgque._nack_read(batch_id, ROW(m8.*)::pgque.message, '0 seconds', 'first again') FROM m8;
SELECT r.ev_id = m8.msg_id AS same_event, r.ev_retry, r.ev_type, r.ev_data
  FROM pgq.retry_queue r, m8;
SELECT pgque.ack(batch_id) FROM m8;
SELECT pgque.maint_retry_events();
SELECT pgque.ticker('jobs') IS NOT NULL AS ticked;
-- Its retries spent (max_retries 1): dead-lettered, with the txid nack() knows.
CREATE TEMP TABLE m9 AS SELECT * FROM pgque.receive('jobs', 'worker');
SELECT retry_count FROM m9;
SELECT pgque._nack_read(batch_id, ROW(m9.*)::pgque.message, '0 seconds', 'spent', '12345'::xid8) FROM m9;
SELECT pgque.ack(batch_id) FROM m9;
SELECT d.ev_id = m9.msg_id AS same_event, d.dl_reason, d.ev_retry, d.ev_type, d.ev_data, d.ev_txid
  FROM pgque.dead_letter d, m9 WHERE d.ev_data = 'as read';
SELECT count(*) AS retries_left FROM pgq.retry_queue;
DROP TABLE m8;
DROP ROLE nack_reader;
