# kill -9 of a consumer worker in the middle of a whole batch (2,000 events
# sent in one transaction, default max_messages): the batch is redone, with
# nothing lost and nothing doubled, on every engine (pgque_pgq, and upstream
# pgque when PGQUE_UPSTREAM_SQL names its pgque.sql).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;

my @engines = ('pgque_pgq');
if ($ENV{PGQUE_UPSTREAM_SQL} && -r $ENV{PGQUE_UPSTREAM_SQL}) {
    push @engines, 'upstream';
} else {
    diag('upstream pgque: skipped, PGQUE_UPSTREAM_SQL does not name a readable pgque.sql');
}
my $events = 2000;

my $node = new_node('kill_mid_batch', 'restart_after_crash = on');
for my $engine (@engines) {
    my $db = "db_$engine";
    $node->safe_psql('postgres', "CREATE DATABASE $db");
    if ($engine eq 'upstream') {
        $node->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db),
                           '-f', $ENV{PGQUE_UPSTREAM_SQL}], 'upstream pgque installs');
        $node->safe_psql($db, 'CREATE EXTENSION pgque_worker');
    } else {
        install_pgque($node, $db);
    }
    # Message 1,000 (in the 10th slice) waits for an advisory lock the test
    # holds: the worker is then certainly in the middle of the batch.
    $node->safe_psql($db, q{
        CREATE TABLE sink (n int NOT NULL);
        CREATE FUNCTION keep(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO public.sink VALUES (m.payload::int);
            IF m.payload = '1000' THEN PERFORM pg_catalog.pg_advisory_xact_lock_shared(4242); END IF;
        END $$;
        SELECT pgque.create_queue('kb');
        SELECT pgque_worker.handle('kb', 'c', '*', 'keep(pgque.message)');
    });
    ok(wait_for($node, $db, q{SELECT count(*) FROM pgque_worker.consumers WHERE queue = 'kb' AND pid IS NOT NULL},
        '1', 60), "$engine: consumer worker running");

    my $holder = $node->background_psql($db, on_error_stop => 0);
    $holder->query_safe('SELECT pg_advisory_lock(4242)');
    $node->safe_psql($db, qq{SELECT pgque.send_batch('kb', 'e', array_agg(i::text ORDER BY i))
                               FROM generate_series(1, $events) i});
    my $pid = $node->safe_psql($db, q{SELECT pid FROM pgque_worker.consumers WHERE queue = 'kb'});
    ok(wait_for($node, $db, qq{SELECT count(*) FROM pg_locks WHERE pid = $pid AND locktype = 'advisory'
                                 AND NOT granted}, '1', 60),
        "$engine: the worker is in the middle of the batch (waiting at message 1,000)");
    is($node->safe_psql($db, 'SELECT count(*) FROM sink'), '0', "$engine: nothing of the batch committed yet");

    kill 'KILL', $pid;
    # Crash recovery ends every session, the lock holder's too.
    eval { $holder->quit };
    ok(wait_until_up($node), "$engine: server back after kill -9");
    ok(wait_for($node, $db, 'SELECT count(DISTINCT n) FROM sink', "$events", 120),
        "$engine: the batch was redone: every event handled");
    ok(wait_for($node, $db, q{SELECT coalesce(pending_events, 0) FROM pgque_worker.consumers WHERE queue = 'kb'},
        '0', 60), "$engine: nothing pending");
    is($node->safe_psql($db, 'SELECT count(*) FROM sink'), "$events", "$engine: none twice");
    is($node->safe_psql($db, q{SELECT min(n) || '-' || max(n) FROM sink}), "1-$events", "$engine: the right events");
}

$node->stop('fast');
done_testing();
