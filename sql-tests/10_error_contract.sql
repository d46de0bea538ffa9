-- pgque's error contract (issue #13): every error an API function shares
-- with upstream pgque carries upstream's SQLSTATE and text, since pgque's
-- clients map errors to typed exceptions by them ("queue not found",
-- "Not subscriber to queue", "batch not found"). err() prints
-- "SQLSTATE: message", or "no error: <result>".
\set VERBOSITY terse
CREATE FUNCTION err(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    EXECUTE sql INTO r;
    RETURN 'no error: ' || coalesce(r, 'NULL');
EXCEPTION WHEN OTHERS THEN
    RETURN sqlstate || ': ' || sqlerrm;
END $$;
SELECT pgque.create_queue('ec');
SELECT pgque.subscribe('ec', 'c');

-- Queues
SELECT err($$SELECT pgque.create_queue(NULL)::text$$);
SELECT err($$SELECT pgque.create_queue(repeat('q', 58))::text$$);
SELECT err($$SELECT pgque.drop_queue('nope')::text$$);
SELECT err($$SELECT pgque.drop_queue('ec')::text$$);
SELECT err($$SELECT pgque.set_queue_config('nope', 'max_retries', '1')::text$$);
SELECT err($$SELECT pgque.set_queue_config('ec', 'colour', '1')::text$$);
SELECT err($$SELECT pgque.set_queue_config('ec', 'max_retries', '-1')::text$$);
SELECT err($$SELECT pgque.set_queue_config('ec', 'ticker_max_count', '0')::text$$);
-- Kept on purpose: ticker_max_lag 0 means "tick as soon as anything waits".
SELECT err($$SELECT pgque.set_queue_config('ec', 'ticker_max_lag', '0')::text$$);
SELECT pgque.set_queue_config('ec', 'ticker_max_lag', NULL);

-- Consumers: unregistering what is not registered is no error.
SELECT err($$SELECT pgque.register_consumer('nope', 'c')::text$$);
SELECT err($$SELECT pgque.unregister_consumer('ec', 'nobody')::text$$);
SELECT err($$SELECT pgque.unsubscribe('nope', 'nobody')::text$$);

-- Producing
SELECT err($$SELECT pgque.send('nope', '{}'::jsonb)::text$$);
SELECT err($$SELECT pgque.send_batch('nope', ARRAY['{}']::jsonb[])::text$$);
SELECT err($$SELECT pgque.insert_event('nope', 't', 'x')::text$$);
SELECT err($$SELECT pgque.current_event_table('nope')$$);

-- Consuming
SELECT err($$SELECT count(*)::text FROM pgque.receive('ec', 'nobody')$$);
SELECT err($$SELECT count(*)::text FROM pgque.receive('nope', 'c')$$);
SELECT err($$SELECT count(*)::text FROM pgque.receive('ec', 'c', 0)$$);
SELECT err($$SELECT pgque.next_batch('ec', 'nobody')::text$$);
SELECT err($$SELECT pgque.ack(987654321)::text$$);
SELECT err($$SELECT pgque.finish_batch(987654321)::text$$);
SELECT err($$SELECT pgque.nack(987654321, NULL)::text$$);
SELECT err($$SELECT pgque.event_dead(987654321, 1, 'r', now(), NULL, NULL, 't', 'd')::text$$);
SELECT err($$SELECT pgque.batch_retry(987654321, 0)::text$$);
SELECT err($$SELECT count(*)::text FROM pgque.get_batch_events(987654321)$$);
SELECT pgque.send('ec', 'one');
SELECT pgque.force_next_tick('ec') IS NOT NULL;
SELECT pgque.ticker('ec') IS NOT NULL;
SELECT batch_id AS b FROM pgque.receive('ec', 'c') \gset
SELECT replace(err(format($$SELECT pgque.nack(%s, row(-1, %s, null, null, null, null, null, null, null, null)::pgque.message)::text$$, :b, :b)), :b::text, 'B') AS err;
SELECT replace(err(format($$SELECT pgque.nack(%s, NULL)::text$$, :b)), :b::text, 'B') AS err;
SELECT pgque.ack(:b);

-- Ticking
SELECT err($$SELECT pgque.ticker('nope')::text$$);
SELECT err($$SELECT pgque.force_next_tick('nope')::text$$);
SELECT err($$SELECT pgque.ticker('nope', 10, now(), 10)::text$$);
SELECT err($$SELECT pgque.ticker('ec', 10, now(), 10)::text$$);
SELECT pgque.set_queue_config('ec', 'ticker_paused', 'true');
SELECT err($$SELECT pgque.ticker('ec')::text$$);
SELECT err($$SELECT pgque.force_next_tick('ec')::text$$);
SELECT err($$SELECT pgque.ticker('ec', 10, now(), 10)::text$$);
SELECT pgque.set_queue_config('ec', 'ticker_paused', 'false');
SELECT pgque.set_queue_config('ec', 'external_ticker', 'true');
SELECT err($$SELECT pgque.ticker('ec')::text$$);
SELECT err($$SELECT pgque.force_next_tick('ec')::text$$);
SELECT err($$SELECT pgque.ticker('ec', 1, now(), 10)::text$$);
SELECT max(tick_id) + 1 AS next_tick FROM pgq.tick t JOIN pgq.queue q ON q.queue_id = t.tick_queue
 WHERE q.queue_name = 'ec' \gset
SELECT err(format($$SELECT pgque.ticker('ec', %s, now(), 0)::text$$, :next_tick));
SELECT err(format($$SELECT (pgque.ticker('ec', %s, now(), 1000) = %s)::text$$, :next_tick, :next_tick));
SELECT pgque.set_queue_config('ec', 'external_ticker', 'false');

-- Dead letters: an unknown queue has none; unknown ids are errors.
SELECT err($$SELECT pgque.dlq_replay(987654321)::text$$);
SELECT err($$SELECT count(*)::text FROM pgque.dlq_inspect('nope')$$);
SELECT err($$SELECT row(r.*)::text FROM pgque.dlq_replay_all('nope') r$$);
SELECT err($$SELECT pgque.dlq_purge('nope')::text$$);

-- Cooperative consumers
SELECT err($$SELECT pgque.register_subconsumer('nope', 'w', 's')::text$$);
SELECT err($$SELECT pgque.register_subconsumer('ec', 'w', '')::text$$);
SELECT err($$SELECT pgque.register_subconsumer('ec', 'w.x', 's')::text$$);
SELECT err($$SELECT pgque.register_subconsumer('ec', 'w', 's.x')::text$$);
SELECT err($$SELECT pgque.register_subconsumer('ec', 'c', 's')::text$$);
SELECT err($$SELECT count(*)::text FROM pgque.receive_coop('ec', 'w', 's', 0)$$);
SELECT err($$SELECT pgque.unregister_subconsumer('ec', 'w', 's', 2)::text$$);
SELECT err($$SELECT pgque.unregister_subconsumer('ec', 'w', 'nobody')::text$$);
SELECT err($$SELECT pgque.touch_subconsumer('ec', 'w', 'nobody')::text$$);

-- Lifecycle
SELECT err($$SELECT pgque.seq_setval('pg_catalog.pg_class', 1)::text$$);

SELECT pgque.unsubscribe('ec', 'c');
SELECT pgque.drop_queue('ec');
DROP FUNCTION err(text);
