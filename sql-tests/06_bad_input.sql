-- Bad input: a clear error naming the problem, and nothing lost.
\set VERBOSITY terse
SELECT pgque.create_queue('strict');
SELECT pgque.subscribe('strict', 'c');
SELECT pgque.send('strict', 'kept', 'before') > 0;

-- Queues
SELECT pgque.create_queue(NULL);
SELECT pgque.create_queue('');
SELECT pgque.create_queue(repeat('q', 58));
SELECT pgque.create_queue(repeat('q', 57));
SELECT pgque.drop_queue(repeat('q', 57));
SELECT pgque.drop_queue('no_such_queue');
SELECT pgque.drop_queue('strict');                 -- still has a consumer
SELECT pgque.drop_queue('strict', NULL);

-- Producing
SELECT pgque.send('no_such_queue', 'x');
SELECT pgque.send(NULL, 'x');
SELECT pgque.send('strict', '{"broken": '::jsonb);
SELECT pgque.send_batch('strict', NULL::text[]);
SELECT pgque.send_batch('strict', ARRAY['{"ok": 1}', '{not json']::jsonb[]);
SELECT pgque.send_batch('no_such_queue', ARRAY['a']);

-- Consumers
SELECT pgque.subscribe('no_such_queue', 'c');
SELECT pgque.subscribe('strict', NULL);
SELECT pgque.subscribe('strict', '');
SELECT pgque.unsubscribe('strict', 'nobody');

-- Receiving
SELECT * FROM pgque.receive('no_such_queue', 'c');
SELECT * FROM pgque.receive('strict', 'nobody');
SELECT * FROM pgque.receive('strict', NULL);
SELECT * FROM pgque.receive(NULL, 'c');
SELECT * FROM pgque.receive('strict', 'c', 0);
SELECT * FROM pgque.receive('strict', 'c', -5);
SELECT * FROM pgque.receive('strict', 'c', NULL);

-- Acks and nacks
SELECT pgque.ack(NULL);
SELECT pgque.ack(987654321);                       -- unknown: 0, as pgque's clients expect
SELECT pgque.nack(987654321, ROW(1, 987654321, 't', 'p', NULL, now(), NULL, NULL, NULL, NULL)::pgque.message);
SELECT pgque.send('strict', 'kept', 'after') > 0;
SELECT pgque.force_next_tick('strict') IS NOT NULL;
SELECT pgque.ticker('strict') IS NOT NULL AS ticked;
CREATE TEMP TABLE got AS SELECT * FROM pgque.receive('strict', 'c');
SELECT pgque.nack(batch_id, ROW(-1, batch_id, 't', 'p', NULL, now(), NULL, NULL, NULL, NULL)::pgque.message)
  FROM got LIMIT 1;
SELECT pgque.nack(batch_id, NULL::pgque.message) FROM got LIMIT 1;
SELECT pgque.nack(batch_id, ROW(got.*)::pgque.message, '-1 second') FROM got LIMIT 1;
SELECT pgque.nack(batch_id, ROW(got.*)::pgque.message, NULL) FROM got LIMIT 1;

-- Dead letters
SELECT pgque.dlq_replay(987654321);
SELECT pgque.dlq_replay(NULL);
SELECT * FROM pgque.dlq_inspect('strict', 0);
SELECT * FROM pgque.dlq_inspect('no_such_queue');
SELECT pgque.dlq_purge('strict', NULL);

-- Nothing was lost: both good events, and only them, are in the batch.
SELECT type, payload, retry_count FROM got ORDER BY msg_id;
SELECT pgque.ack(batch_id) FROM got LIMIT 1;
SELECT count(*) AS dead_letters FROM pgque.dlq_inspect('strict');

-- Extreme limits: pgque's clients pass 2147483647 for "everything".
SELECT count(pgque.send('strict', 'e', 'x' || i)) FROM generate_series(1, 3) i;
SELECT pgque.force_next_tick('strict') IS NOT NULL AS forced, pgque.ticker('strict') IS NOT NULL AS ticked;
SELECT count(*) AS received FROM pgque.receive('strict', 'c', 2147483647);
SELECT count(*) FROM pgque.receive('strict', 'c', -2147483648);
SELECT count(*) FROM pgque.receive('strict', 'c', 0);

-- event_dead: one event of an active batch to the dead letters, at once.
CREATE TEMP TABLE poison AS SELECT * FROM pgque.receive('strict', 'c', 1);
SELECT pgque.event_dead(batch_id, msg_id, 'crashed the consumer worker 2 times', created_at,
                        NULL, retry_count, type, payload) FROM poison;
SELECT pgque.event_dead(batch_id, msg_id, 'again', created_at, NULL, retry_count, type, payload) FROM poison;
SELECT pgque.event_dead(987654321, 1, 'x', now(), NULL, NULL, NULL, NULL);
SELECT ev_type, ev_data, dl_reason FROM pgque.dlq_inspect('strict') WHERE dl_reason LIKE 'crashed%';
SELECT pgque.ack(batch_id) FROM poison;
