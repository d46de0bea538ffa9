# The whole-batch tests (t/020..023), run on one engine each: pgque_pgq, or
# upstream pgque installed from the pgque.sql that PGQUE_UPSTREAM_SQL names
# (never shipped here; e.g. `git show v0.2.0:sql/pgque.sql`).
package WholeBatchTests;

use strict;
use warnings;
use Exporter 'import';
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(plan_engine whole_batches failing_batch kill_mid_batch);

# Anonymous RSS (private memory, not the shared buffers the process touched)
# the consumer worker may reach while 100 MB of payloads pass through it.
my $rss_bound_kb = 64 * 1024;

# For the upstream variants: skip the whole file, saying why, without the
# upstream script.
sub plan_engine {
    my ($engine) = @_;
    return unless $engine eq 'upstream';
    plan skip_all => 'upstream pgque: set PGQUE_UPSTREAM_SQL to the path of its pgque.sql '
                   . '(e.g. git show v0.2.0:sql/pgque.sql > /tmp/pgque.sql)'
        unless $ENV{PGQUE_UPSTREAM_SQL} && -r $ENV{PGQUE_UPSTREAM_SQL};
}

sub install_engine {
    my ($node, $db, $engine) = @_;
    if ($engine eq 'upstream') {
        $node->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db),
                           '-f', $ENV{PGQUE_UPSTREAM_SQL}], 'upstream pgque installs');
        $node->safe_psql($db, 'CREATE EXTENSION pgque_worker');
    } else {
        install_pgque($node, $db);
    }
}

# 500 and 50,000 events sent in one transaction to a consumer with the
# default max_messages (100) are all dispatched exactly once (upstream
# pgque's ack finishes the whole batch: a worker that acked a page would lose
# the rest), and the 50,000-event batch (100 MB of payloads) passes through
# the consumer worker in bounded memory.
sub whole_batches {
    my ($engine) = @_;
    my $node = new_node("whole_batches_$engine");
    my $db = "db_$engine";
    $node->safe_psql('postgres', "CREATE DATABASE $db");
    install_engine($node, $db, $engine);
    $node->safe_psql($db, q{
        CREATE TABLE sink (msg_id bigint NOT NULL, n int NOT NULL);  -- no unique key: a duplicate shows
        CREATE FUNCTION keep(m pgque.message) RETURNS void LANGUAGE sql
            AS $$ INSERT INTO public.sink VALUES (m.msg_id, pg_catalog.split_part(m.payload, ':', 1)::int) $$;
        SELECT pgque.create_queue('wb');
        SELECT pgque_worker.handle('wb', 'c', '*', 'keep(pgque.message)');
    });
    is($node->safe_psql($db, q{SELECT max_messages FROM pgque_worker.consumers WHERE queue = 'wb'}), '100',
        "$engine: the consumer has the default max_messages");

    # 500 events, one transaction.
    send_events($node, $db, 1, 500, 10);
    ok(wait_for($node, $db, 'SELECT count(DISTINCT n) FROM sink', '500', 60),
        "$engine: 500 events in one transaction: all 500 dispatched");
    ok(wait_for($node, $db, q{SELECT coalesce(pending_events, 0) FROM pgque_worker.consumers WHERE queue = 'wb'},
        '0', 30), "$engine: nothing pending");
    is($node->safe_psql($db, 'SELECT count(*) FROM sink'), '500', "$engine: none twice");

    # 50,000 events of 2,000 bytes, one transaction: one batch of 100 MB.
    send_events($node, $db, 501, 50_500, 2000);
    my ($peak, $pid) = (0, '');
    my $deadline = time() + 300;
    while (time() < $deadline) {
        $pid ||= $node->safe_psql($db, q{SELECT coalesce(pid::text, '') FROM pgque_worker.consumers WHERE queue = 'wb'});
        if ($pid && open(my $fh, '<', "/proc/$pid/status")) {
            while (<$fh>) { $peak = $1 if /^RssAnon:\s+(\d+)/ && $1 > $peak; }
            close $fh;
        }
        last if $node->safe_psql($db, 'SELECT count(*) FROM sink') >= 50_500;
        usleep(100_000);
    }
    ok(wait_for($node, $db, 'SELECT count(DISTINCT n) FROM sink', '50500', 60),
        "$engine: 50,000 events in one transaction: all dispatched");
    ok(wait_for($node, $db, q{SELECT coalesce(pending_events, 0) FROM pgque_worker.consumers WHERE queue = 'wb'},
        '0', 30), "$engine: nothing pending");
    is($node->safe_psql($db, 'SELECT count(*) FROM sink'), '50500', "$engine: none twice");
    is($node->safe_psql($db, q{SELECT min(n) || '-' || max(n) FROM sink}), '1-50500', "$engine: the right events");
    ok($peak > 0, "$engine: the consumer worker's memory was sampled ($pid)");
    cmp_ok($peak, '<', $rss_bound_kb,
        "$engine: a 100 MB batch passed through the consumer worker in bounded memory "
        . "(peak anonymous RSS ${peak} kB, bound ${rss_bound_kb} kB)");
    $node->stop('fast');
}

# A whole batch of 2,000 events (one transaction, default max_messages) whose
# handler fails for every odd one: the 1,000 even ones are handled once, the
# 1,000 odd ones are nacked once each, with their own payload. On pgque_pgq
# the failures cost no second read of the batch: the event tables are read
# about once for the whole batch (upstream's nack reads the batch again for
# every failure: 1,000 x 2,000 rows).
sub failing_batch {
    my ($engine) = @_;
    my $events = 2000;
    my $node = new_node("failing_batch_$engine");
    my $db = "db_$engine";
    $node->safe_psql('postgres', "CREATE DATABASE $db");
    install_engine($node, $db, $engine);
    $node->safe_psql($db, q{
        CREATE TABLE sink (n int NOT NULL);
        CREATE FUNCTION even_only(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            IF m.payload::int % 2 = 1 THEN RAISE EXCEPTION 'odd: %', m.payload; END IF;
            INSERT INTO public.sink VALUES (m.payload::int);
        END $$;
        SELECT pgque.create_queue('fb');
        SELECT pgque_worker.handle('fb', 'c', '*', 'even_only(pgque.message)');
        SELECT pgque_worker.set_consumer('fb', 'c', retry_after => '1 hour');
    });
    $node->safe_psql($db, qq{SELECT pgque.send_batch('fb', 'e', array_agg(i::text ORDER BY i))
                               FROM generate_series(1, $events) i});
    ok(wait_for($node, $db, 'SELECT count(*) FROM pgque.retry_queue', $events / 2, 120),
        "$engine: the 1,000 failures were nacked");
    ok(wait_for($node, $db, q{SELECT coalesce(pending_events, 0) FROM pgque_worker.consumers WHERE queue = 'fb'},
        '0', 60), "$engine: the batch was acked");
    is($node->safe_psql($db, q{SELECT count(DISTINCT n) || '/' || count(*) || ' ' || min(n) || '-' || max(n)
                                 FROM sink}),
        "1000/1000 2-$events", "$engine: every even event handled once");
    is($node->safe_psql($db, q{SELECT count(DISTINCT ev_data) FILTER (WHERE ev_data::int % 2 = 1)
                                      || '/' || count(*) FILTER (WHERE ev_retry = 1 AND ev_type = 'e')
                                 FROM pgque.retry_queue}),
        '1000/1000', "$engine: every odd event waits for its retry once, as it was sent");
    if ($engine eq 'pgque_pgq') {
        my $reads = q{SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)
                        FROM pg_stat_user_tables WHERE schemaname = 'pgq' AND relname LIKE 'event\_%'};
        # The worker flushes its table statistics within about a second.
        ok(wait_for($node, $db, "SELECT ($reads) >= $events", 't', 30),
            "$engine: the batch read shows in the statistics");
        my $read = $node->safe_psql($db, $reads);
        cmp_ok($read, '<=', 3 * $events,
            "$engine: 1,000 failures cost no second read of the batch ($read event rows read for $events events)");
    }
    $node->stop('fast');
}

# kill -9 of a consumer worker in the middle of a whole batch (2,000 events
# sent in one transaction, default max_messages): the batch is redone, with
# nothing lost and nothing doubled.
sub kill_mid_batch {
    my ($engine) = @_;
    my $events = 2000;
    my $node = new_node("kill_mid_batch_$engine", 'restart_after_crash = on');
    my $db = "db_$engine";
    $node->safe_psql('postgres', "CREATE DATABASE $db");
    install_engine($node, $db, $engine);
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
    $node->stop('fast');
}

# Events first..last in one send_batch, payloads "<n>:" padded to $size bytes.
sub send_events {
    my ($node, $db, $first, $last, $size) = @_;
    $node->safe_psql($db, qq{
        SELECT pgque.send_batch('wb', 'e',
                   array_agg(rpad(i::text || ':', $size, 'x') ORDER BY i))
          FROM generate_series($first, $last) i});
}

1;
