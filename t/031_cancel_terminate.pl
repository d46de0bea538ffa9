# What pg_cancel_backend and pg_terminate_backend do to a consumer worker
# stuck in a handler (issue 11): a cancel fails that message, which is
# retried per the retry rules (not called again at once in the same batch);
# a terminate rolls the batch back and the restarted worker redoes it,
# nothing lost.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('signals', "pgque_worker.tick_interval = '100ms'");
install_pgque($node, 'postgres');
sub run { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }
sub wait_sql { my ($sql, $want, $secs) = @_; return wait_for($node, 'postgres', $sql, $want, $secs // 30); }

# The first call of each handler sleeps (a stuck call); later calls record
# the message. The sequences count calls whatever rolls back.
run(q{
    CREATE SEQUENCE cancel_calls; CREATE SEQUENCE terminate_calls;
    CREATE TABLE done (consumer text, payload text);
    CREATE FUNCTION on_cancel(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF pg_catalog.nextval('public.cancel_calls') = 1 THEN PERFORM pg_catalog.pg_sleep(120); END IF;
        INSERT INTO public.done VALUES ('cancel', m.payload);
    END $$;
    CREATE FUNCTION on_terminate(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF pg_catalog.nextval('public.terminate_calls') = 1 THEN PERFORM pg_catalog.pg_sleep(120); END IF;
        INSERT INTO public.done VALUES ('terminate', m.payload);
    END $$;
    SELECT pgque.create_queue('qc'); SELECT pgque.create_queue('qt');
    SELECT pgque_worker.handle('qc', 'cc', '*', 'on_cancel(pgque.message)');
    SELECT pgque_worker.set_consumer('qc', 'cc', retry_after => '1 hour');
    SELECT pgque_worker.handle('qt', 'ct', '*', 'on_terminate(pgque.message)');
});
ok(wait_sql(q{SELECT count(*) FROM pgque_worker.consumers WHERE pid IS NOT NULL}, '2'), 'both consumers run');

# pg_cancel_backend while the handler sleeps.
run(q{SELECT pgque.send('qc', 'c1')});
my $in_handler = q{SELECT count(*) FROM pg_stat_activity a JOIN pgque_worker.consumers c ON c.pid = a.pid
                    WHERE c.consumer = '%s' AND a.wait_event = 'PgSleep'};
ok(wait_sql(sprintf($in_handler, 'cc'), '1'), 'the cancel consumer is stuck in its handler');
my $pid = run(q{SELECT pid FROM pgque_worker.consumers WHERE consumer = 'cc'});
run("SELECT pg_cancel_backend($pid)");
ok(wait_sql(q{SELECT failed FROM pgque_worker.consumers WHERE consumer = 'cc'}, '1'),
    'pg_cancel_backend: the message fails');
is(run(q{SELECT last_value FROM cancel_calls}), '1', 'and is not called again in the same batch');
is(run(q{SELECT count(*) FROM done WHERE consumer = 'cancel'}), '0', 'so nothing ran it twice');
is(run(q{SELECT pid FROM pgque_worker.consumers WHERE consumer = 'cc'}), $pid, 'the worker keeps running');
like(run(q{SELECT last_error FROM pgque_worker.consumers WHERE consumer = 'cc'}), qr/canceling statement/,
    'the consumer shows why');
ok(wait_sql(q{SELECT count(*) FROM pgque_worker.consumers WHERE consumer = 'cc' AND pending_events = 0}, '1'),
    'the batch was acked (the message waits as a retry, after retry_after)');

# pg_terminate_backend while the handler sleeps.
run(q{SELECT pgque.send('qt', 't1')});
ok(wait_sql(sprintf($in_handler, 'ct'), '1'), 'the terminate consumer is stuck in its handler');
$pid = run(q{SELECT pid FROM pgque_worker.consumers WHERE consumer = 'ct'});
run("SELECT pg_terminate_backend($pid)");
ok(wait_sql(q{SELECT payload FROM done WHERE consumer = 'terminate'}, 't1'),
    'pg_terminate_backend: the restarted worker redoes the batch, nothing lost');
isnt(run(q{SELECT pid FROM pgque_worker.consumers WHERE consumer = 'ct'}), $pid, 'in a new process');
is(run(q{SELECT count(*) FROM done WHERE consumer = 'terminate'}), '1', 'handled once');

# A change of pgque_worker.role reaches the consumer workers too: they
# restart as the new role, at LOG.
my $offset = -s $node->logfile;
run(q{CREATE ROLE other_worker LOGIN SUPERUSER;
      ALTER SYSTEM SET pgque_worker.role = 'other_worker'; SELECT pg_reload_conf();});
ok(wait_sql(q{SELECT string_agg(a.usename::text, ',') FROM pg_stat_activity a
               WHERE a.backend_type = 'pgque_worker consumer'}, 'other_worker,other_worker'),
    'a role change restarts every consumer worker as the new role');
my $log = slurp_file($node->logfile, $offset);
like($log, qr/LOG:  pgque_worker: consumer "cc" of queue "qc" in database "postgres": pgque_worker.role changed; restarting/,
    'each says so at LOG');
unlike($log, qr/FATAL/, 'with no FATAL');

$node->stop('fast');
done_testing();
