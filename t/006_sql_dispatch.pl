# SQL handlers run by consumer workers: routing, retries, dead letters,
# unhandled types, run-time options, role isolation and misbehaving handlers.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = new_node('dispatch', "pgque_worker.tick_interval = '200ms'",
    "pgque_worker.retry_interval = '100ms'");
install_pgque($node, 'postgres');
$node->safe_psql('postgres', q{
    CREATE TABLE log (msg_id bigint, route text, payload text, retry_count int, who text);
    CREATE FUNCTION on_created(m pgque.message) RETURNS void LANGUAGE sql
        AS $$ INSERT INTO log VALUES (m.msg_id, 'created', m.payload, m.retry_count, current_user) $$;
    CREATE FUNCTION on_any(m pgque.message) RETURNS void LANGUAGE sql
        AS $$ INSERT INTO log VALUES (m.msg_id, 'any', m.payload, m.retry_count, current_user) $$;
    -- Writes, then fails on the first delivery: the write must vanish with the failure.
    CREATE FUNCTION flaky(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO log VALUES (m.msg_id, 'flaky', m.payload, m.retry_count, current_user);
        IF m.retry_count IS NULL THEN RAISE EXCEPTION 'first attempt of % fails', m.payload; END IF;
    END $$;
    CREATE FUNCTION broken(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'permanent failure for %', m.payload; END $$;
});
sub run { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }
sub wait_sql { my ($sql, $want, $secs) = @_; return wait_for($node, 'postgres', $sql, $want, $secs // 20); }

# --- routing: by type, '*' for the rest --------------------------------------
run(q{SELECT pgque.create_queue('orders');
    SELECT pgque_worker.handle('orders', 'shop', 'order.created', 'on_created(pgque.message)');
    SELECT pgque_worker.handle('orders', 'shop', '*', 'on_any(pgque.message)');});
ok(wait_sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'}, '1', 10),
    'handle() starts a consumer worker within a second');
run(q{SELECT pgque.send('orders', 'order.created', 'o1');
    SELECT pgque.send('orders', 'order.paid', 'o2');
    SELECT pgque.send('orders', 'order.created', 'o3');});
ok(wait_sql(q{SELECT string_agg(route || ':' || payload, ',' ORDER BY msg_id) FROM log},
    'created:o1,any:o2,created:o3'), 'each type went to its route, the rest to the catch-all');
ok(wait_sql(q{SELECT processed || '/' || failed || '/' || coalesce(pending_events, 0)
              FROM pgque_worker.consumers WHERE consumer = 'shop'}, '3/0/0'),
    'counted as processed, and acked');

# --- a failure rolls back the handler's effects and retries ------------------
run(q{SELECT pgque.create_queue('flaky');
    SELECT pgque_worker.handle('flaky', 'c', '*', 'flaky(pgque.message)');
    SELECT pgque_worker.set_consumer('flaky', 'c', retry_after => '0 seconds');});
run(q{SELECT pgque.send('flaky', 'e', 'f' || i) FROM generate_series(1, 3) i});
ok(wait_sql(q{SELECT string_agg(payload || '@' || retry_count, ',' ORDER BY payload) FROM log WHERE route = 'flaky'},
    'f1@1,f2@1,f3@1'), 'every message handled once, on its retry; the failed attempts left no row');
ok(wait_sql(q{SELECT processed || '/' || failed || '/' || retried || '/' || dead_lettered
              FROM pgque_worker.consumers WHERE queue = 'flaky'}, '3/3/3/0'),
    'three failures, three retries, no dead letters');
like(run(q{SELECT last_error FROM pgque_worker.consumers WHERE queue = 'flaky'}),
    qr/first attempt of f\d fails/, 'the last error is the handler\'s');

# --- dead letter after max_retries, with the reason ---------------------------
run(q{SELECT pgque.create_queue('doomed');
    SELECT pgque.set_queue_config('doomed', 'max_retries', '2');
    SELECT pgque_worker.handle('doomed', 'c', '*', 'broken(pgque.message)');
    SELECT pgque_worker.set_consumer('doomed', 'c', retry_after => '0 seconds');
    SELECT pgque.send('doomed', 'e', 'd1');});
ok(wait_sql(q{SELECT count(*) || ' ' || min(ev_retry) || ' ' || min(dl_reason) FROM pgque.dlq_inspect('doomed')},
    '1 2 permanent failure for d1'), 'dead-lettered once, after 2 retries, with the handler\'s error as reason');
ok(wait_sql(q{SELECT failed || '/' || retried || '/' || dead_lettered FROM pgque_worker.consumers WHERE queue = 'doomed'},
    '3/2/1'), 'three failed attempts: two retries, one dead letter');

# --- unhandled types: counted, acked, logged once per type -------------------
my $log_offset = -s $node->logfile;
run(q{SELECT pgque.create_queue('mixed');
    SELECT pgque_worker.handle('mixed', 'c', 'known', 'on_created(pgque.message)');
    SELECT pgque.send('mixed', 'unknown', 'u' || i) FROM generate_series(1, 3) i;
    SELECT pgque.send('mixed', 'known', 'k1');});
ok(wait_sql(q{SELECT processed || '/' || unhandled || '/' || coalesce(pending_events, 0)
              FROM pgque_worker.consumers WHERE queue = 'mixed'}, '1/3/0'), 'unhandled messages counted and acked');
my @lines = (slurp_file($node->logfile, $log_offset) =~ /no handler for event type "unknown"/g);
is(scalar(@lines), 1, 'logged once for the type');

# --- options at run time: pause and resume -----------------------------------
run(q{SELECT pgque_worker.pause('orders', 'shop')});
ok(wait_sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'
              AND query LIKE '%"shop" of queue "orders"%'}, '0', 10), 'pause() stops its worker within a second');
run(q{SELECT pgque.send('orders', 'order.created', 'while paused')});
sleep(1);
is(run(q{SELECT count(*) FROM log WHERE payload = 'while paused'}), '0', 'nothing is dispatched while paused');
run(q{SELECT pgque_worker.resume('orders', 'shop')});
ok(wait_sql(q{SELECT count(*) FROM log WHERE payload = 'while paused'}, '1'), 'resume() delivers what waited');
run(q{SELECT pgque_worker.set_consumer('orders', 'shop', max_messages => 2)});
run(q{SELECT pgque.send_batch('orders', 'order.created', array['m1','m2','m3','m4','m5'])});
ok(wait_sql(q{SELECT count(*) FROM log WHERE payload LIKE 'm_'}, '5'),
    'with max_messages 2, a batch of 5 is processed in pages, none skipped');

# --- role isolation ----------------------------------------------------------
run(q{CREATE ROLE app; GRANT pgque_reader TO app; GRANT INSERT ON log TO app;
    SELECT pgque.create_queue('app_q'); GRANT pgque_writer TO app;});
run(q{SET ROLE app; SELECT pgque_worker.handle('app_q', 'mine', '*', 'on_any(pgque.message)'); RESET ROLE;
    SELECT pgque.send('app_q', 'e', 'as app');});
ok(wait_sql(q{SELECT who FROM log WHERE payload = 'as app'}, 'app'), 'the handler ran as the role that declared it');
my ($rc, $out, $err) = $node->psql('postgres', q{CREATE ROLE intruder; SET ROLE intruder;
    SELECT pgque_worker.drop_consumer('app_q', 'mine')});
like($err, qr/belongs to role app/, 'another role cannot drop it');

# --- misbehaving handlers fail their messages, not the worker ----------------
run(q{CREATE FUNCTION commits(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$;
    CREATE FUNCTION sleeps(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(30); END $$;
    CREATE FUNCTION doomed_later(m pgque.message) RETURNS void LANGUAGE sql AS $$ SELECT $$;
    SELECT pgque.create_queue('bad');
    SELECT pgque.set_queue_config('bad', 'max_retries', '0');
    SELECT pgque_worker.handle('bad', 'c', 'commit', 'commits(pgque.message)');
    SELECT pgque_worker.handle('bad', 'c', 'sleep', 'sleeps(pgque.message)', '300 milliseconds');
    SELECT pgque_worker.handle('bad', 'gone', '*', 'doomed_later(pgque.message)');
    DROP FUNCTION doomed_later(pgque.message);
    SELECT pgque.send('bad', 'commit', 'c1');
    SELECT pgque.send('bad', 'sleep', 's1');});
ok(wait_sql(q{SELECT count(*) FROM pgque.dlq_inspect('bad')}, '2', 30), 'both failed and were dead-lettered');
my $reasons = run(q{SELECT string_agg(ev_data || ': ' || dl_reason, E'\n' ORDER BY ev_data) FROM pgque.dlq_inspect('bad')});
like($reasons, qr/c1: invalid transaction termination/, 'a handler that COMMITs fails its message');
like($reasons, qr/s1: canceling statement due to statement timeout/, 'a handler past its timeout fails its message');
is(run(q{SELECT state FROM pgque_worker.consumers WHERE consumer = 'gone'}),
    'stopped: handler public.doomed_later(pgque.message) does not exist',
    'a dropped handler stops its consumer, visibly');
ok(wait_sql(q{SELECT pending_events > 0 FROM pgque_worker.consumers WHERE consumer = 'gone'}, 't'),
    'and its messages wait in the queue, none lost');
run(q{SELECT pgque.send('orders', 'order.created', 'after the failures')});
ok(wait_sql(q{SELECT count(*) FROM log WHERE payload = 'after the failures'}, '1'), 'the other consumers go on');

# --- a slow handler on one queue does not hold up another --------------------
run(q{SELECT pgque.create_queue('slow');
    SELECT pgque_worker.handle('slow', 'c', '*', 'sleeps(pgque.message)');
    SELECT pgque.send('slow', 'e', 'zzz');});
ok(wait_sql(q{SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND backend_type = 'pgque_worker consumer'},
    '1', 10), 'the slow handler is running');
my $t0 = time();
run(q{SELECT pgque.send('orders', 'order.created', 'not held up')});
ok(wait_sql(q{SELECT count(*) FROM log WHERE payload = 'not held up'}, '1', 10), 'a message on another queue is handled meanwhile');
ok(time() - $t0 < 5, 'well before the slow handler finishes');

$node->stop('fast');
done_testing();
