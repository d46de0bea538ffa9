-- set_queue_config: every parameter, NULL resets, bad values are refused.
\set VERBOSITY terse
SELECT pgque.create_queue('cfg');
SELECT pgque.set_queue_config('cfg', 'ticker_max_count', '1');
SELECT pgque.set_queue_config('cfg', 'ticker_max_lag', '0');
SELECT pgque.set_queue_config('cfg', 'ticker_idle_period', '10 seconds');
SELECT pgque.set_queue_config('cfg', 'rotation_period', '1 hour');
SELECT pgque.set_queue_config('cfg', 'queue_max_retries', '7');   -- PgQ's prefixed form works too
SELECT queue_ticker_max_count, queue_ticker_max_lag, queue_ticker_idle_period,
       queue_rotation_period, queue_ticker_paused
  FROM pgque.get_queue_info('cfg');
SELECT s.max_retries FROM pgque.queue_setting s JOIN pgq.queue q USING (queue_id) WHERE q.queue_name = 'cfg';

-- The settings pgque's Go client uses in its end-to-end tests: with
-- ticker_max_count = 1 and ticker_max_lag = 0 one event is enough for a tick.
SELECT pgque.subscribe('cfg', 'c');
SELECT pgque.send('cfg', 'x') > 0;
SELECT pgque.ticker('cfg') IS NOT NULL AS ticks_at_once;
SELECT payload FROM pgque.receive('cfg', 'c');

-- Pausing: ticker() passes the queue by, ticker(queue) says why it cannot.
SELECT pgque.set_queue_config('cfg', 'ticker_paused', 'true');
SELECT pgque.send('cfg', 'y') > 0;
-- (Queues of the earlier suites may be due for a tick: count only cfg's.)
SELECT last_tick_id AS cfg_tick FROM pgque.get_queue_info('cfg') \gset
SELECT pgque.ticker() >= 0 AS ticked;
SELECT last_tick_id = :cfg_tick AS cfg_passed_by FROM pgque.get_queue_info('cfg');
SELECT pgque.ticker('cfg');
SELECT pgque.force_next_tick('cfg');
SELECT pgque.set_queue_config('cfg', 'ticker_paused', 'false');

-- NULL restores PgQ's defaults.
SELECT pgque.set_queue_config('cfg', p, NULL)
  FROM unnest(ARRAY['ticker_max_count', 'ticker_max_lag', 'ticker_idle_period',
                    'rotation_period', 'ticker_paused', 'max_retries']) AS p;
SELECT queue_ticker_max_count, queue_ticker_max_lag, queue_ticker_idle_period,
       queue_rotation_period, queue_ticker_paused
  FROM pgque.get_queue_info('cfg');
SELECT s.max_retries FROM pgque.queue_setting s JOIN pgq.queue q USING (queue_id) WHERE q.queue_name = 'cfg';

-- Refused, and the setting stays as it was.
SELECT pgque.set_queue_config('cfg', 'ticker_max_count', '0');
SELECT pgque.set_queue_config('cfg', 'ticker_max_count', 'many');
SELECT pgque.set_queue_config('cfg', 'ticker_max_count', '99999999999');
SELECT pgque.set_queue_config('cfg', 'ticker_max_lag', '-1 second');
SELECT pgque.set_queue_config('cfg', 'ticker_max_lag', 'soon');
SELECT pgque.set_queue_config('cfg', 'ticker_idle_period', '0');
SELECT pgque.set_queue_config('cfg', 'rotation_period', '-5 minutes');
SELECT pgque.set_queue_config('cfg', 'ticker_paused', 'maybe');
SELECT pgque.set_queue_config('cfg', 'max_retries', '-1');
SELECT pgque.set_queue_config('cfg', 'colour', 'blue');
SELECT pgque.set_queue_config('cfg', NULL, '1');
SELECT pgque.set_queue_config('nope', 'max_retries', '1');
SELECT pgque.set_queue_config(NULL, 'max_retries', '1');
SELECT queue_ticker_max_count, queue_ticker_max_lag, queue_ticker_idle_period,
       queue_rotation_period, queue_ticker_paused
  FROM pgque.get_queue_info('cfg');

-- maint() runs (nothing due to rotate yet) and maint_rotate_tables_step2 is there.
SELECT pgque.maint() >= 0 AS maint_ran;
SELECT pgque.maint_rotate_tables_step2();

-- Rotation: with a tiny rotation period and no lagging consumer, maint()
-- switches the event table (step 1) and the next maint() completes it.
SELECT pgque.ack(current_batch) FROM pgque.get_consumer_info('cfg', 'c') WHERE current_batch IS NOT NULL;
SELECT pgque.set_queue_config('cfg', 'rotation_period', '1 millisecond');
SELECT queue_cur_table AS table_before FROM pgque.get_queue_info('cfg');
SELECT pg_sleep(0.01);
SELECT pgque.maint() >= 1 AS rotated;
SELECT queue_cur_table AS table_after FROM pgque.get_queue_info('cfg');
SELECT pgque.maint() >= 0 AS maint_ran;

-- A forced tick does not advance the event sequence (PgQ's force_tick adds
-- 2 * ticker_max_count + 1000 to it): ids stay consecutive and PgQ's event
-- counts stay true. Two requests make one tick; a request is used once.
SELECT pgque.send('cfg', 'a') AS first_id \gset
SELECT pgque.force_next_tick('cfg') IS NOT NULL AS requested;
SELECT pgque.force_next_tick('cfg') IS NOT NULL AS requested_again;
SELECT pgque.ticker('cfg') IS NOT NULL AS forced_tick;
SELECT pgque.ticker('cfg') IS NULL AS request_used_up;
SELECT pgque.send('cfg', 'b') - :first_id AS id_step;
SELECT ev_new FROM pgque.get_queue_info('cfg');

-- get_queue_info is one query (pgque._queue_info), PgQ's is a loop: the same
-- rows and values, for queues with and without new events, paused, never
-- sent to (its sequence unused), without any tick, and with more than 21
-- ticks at different times (the rate is taken over the last 21).
SELECT pgque.create_queue('gqi_fresh'), pgque.create_queue('gqi_paused'), pgque.create_queue('gqi_rate'),
       pgque.create_queue('gqi_noticks');
SELECT pgque.set_queue_config('gqi_paused', 'ticker_paused', 'true');
SELECT count(pgque.send('gqi_rate', 't', 'x')) FROM generate_series(1, 5);
INSERT INTO pgq.tick (tick_queue, tick_id, tick_time, tick_event_seq)
SELECT q.queue_id, 1000 + i, now() - (40 - i) * interval '1.5 seconds', i * i
  FROM pgq.queue q, generate_series(1, 30) i WHERE q.queue_name = 'gqi_rate';
DELETE FROM pgq.tick WHERE tick_queue = (SELECT queue_id FROM pgq.queue WHERE queue_name = 'gqi_noticks');
SELECT queue_name, ev_new, ev_per_sec IS NOT NULL AS has_rate, last_tick_id IS NULL AS no_tick
  FROM pgque.get_queue_info() WHERE queue_name LIKE 'gqi%';
SELECT (SELECT count(*) FROM (SELECT * FROM pgque.get_queue_info() EXCEPT ALL
                              SELECT * FROM pgq.get_queue_info()) d) AS only_ours,
       (SELECT count(*) FROM (SELECT * FROM pgq.get_queue_info() EXCEPT ALL
                              SELECT * FROM pgque.get_queue_info()) d) AS only_pgqs,
       (SELECT count(*) FROM pgque.get_queue_info()) AS queues;
SELECT q, (SELECT count(*) FROM (SELECT * FROM pgque.get_queue_info(q) EXCEPT ALL
                                 SELECT * FROM pgq.get_queue_info(q)) d) AS differs,
          (SELECT count(*) FROM pgque.get_queue_info(q)) AS found
  FROM unnest(ARRAY['gqi_fresh', 'gqi_rate', 'gqi_noticks', 'no such queue']) q;
SELECT array_agg(queue_name) = array_agg(queue_name ORDER BY queue_name) AS ordered_by_name
  FROM pgque.get_queue_info();
-- A NULL name is every queue, as in PgQ's and upstream pgque's.
SELECT (SELECT count(*) FROM (SELECT * FROM pgque.get_queue_info(NULL::text) EXCEPT ALL
                              SELECT * FROM pgq.get_queue_info(NULL::text)) d) AS null_only_ours,
       (SELECT count(*) FROM (SELECT * FROM pgq.get_queue_info(NULL::text) EXCEPT ALL
                              SELECT * FROM pgque.get_queue_info(NULL::text)) d) AS null_only_pgqs;
-- Not for others: the view is pgque_pgq's, read through the function.
SELECT has_table_privilege('pgque_reader', 'pgque._queue_info', 'SELECT') AS reader_reads_view;
SELECT pgque.drop_queue(q) FROM unnest(ARRAY['gqi_fresh', 'gqi_paused', 'gqi_rate', 'gqi_noticks']) q;
