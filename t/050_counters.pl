# Per-consumer counters in shared memory (issue 10): batches write no row of
# any pgque_worker table; the counters survive a clean restart and are lost
# by a crash (documented); last_error is readable by the consumer's owner
# only, through the view and through the function behind it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('counters', "pgque_worker.tick_interval = '100ms'", "pgque_worker.retry_interval = '100ms'",
    'restart_after_crash = on');
install_pgque($node, 'postgres');
sub run { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }
sub wait_sql { my ($sql, $want, $secs) = @_; return wait_for($node, 'postgres', $sql, $want, $secs // 30); }

run(q{
    CREATE ROLE app LOGIN; GRANT pgque_reader, pgque_writer TO app;
    CREATE ROLE colleague LOGIN; GRANT pgque_reader TO colleague;
    GRANT CREATE ON SCHEMA public TO app;
    SELECT pgque.create_queue('orders');
    SET ROLE app;
    CREATE TABLE public.seen (payload text);
    -- Fails, with a secret in its error, for payloads starting with 'bad'.
    CREATE FUNCTION public.handler(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF m.payload LIKE 'bad%' THEN RAISE EXCEPTION 'token=s3cret for %', m.payload; END IF;
        INSERT INTO public.seen VALUES (m.payload);
    END $$;
    SELECT pgque_worker.handle('orders', 'shop', '*', 'public.handler(pgque.message)');
    SELECT pgque_worker.set_consumer('orders', 'shop', retry_after => '1 hour');
    RESET ROLE;
});
sub consumer_workers {
    return run(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'});
}
ok(wait_sql(q{SELECT state IN ('running', 'idle') FROM pgque_worker.consumers WHERE consumer = 'shop'}, 't'), 'consumer running');

# Writes to our tables, as the statistics system has them once every
# process has flushed (a consumer worker flushes when it exits). n_tup_upd
# includes the HOT updates.
my $writes_sql = q{SELECT pg_stat_force_next_flush(); SELECT pg_stat_clear_snapshot();
    SELECT string_agg(relname || '=' || (n_tup_ins + n_tup_upd + n_tup_del), ',' ORDER BY relname)
      FROM pg_stat_user_tables WHERE schemaname = 'pgque_worker'};
sub table_writes {
    my $out = run($writes_sql);
    my %w = map { split /=/ } split /,/, (split /\n/, $out)[-1];
    return \%w;
}
sub pause_and_wait {
    run(q{SELECT pgque_worker.pause('orders', 'shop')});
    ok(wait_sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'}, '0'),
        'paused: the consumer worker exited (and flushed its table statistics)');
}

# --- no table write per batch ------------------------------------------------
run(q{SELECT pgque.send('orders', 'e', 'warm-up')});
ok(wait_sql(q{SELECT processed FROM pgque_worker.consumers WHERE consumer = 'shop'}, '1'), 'a first batch');
pause_and_wait();
my $before = table_writes();
run(q{SELECT pgque_worker.resume('orders', 'shop')});
# 30 events, one per transaction: many batches.
run("SELECT pgque.send('orders', 'e', 'ok$_')") for 1 .. 28;
run(q{SELECT pgque.send('orders', 'e', 'bad1')});
run(q{SELECT pgque.send('orders', 'e', 'bad2')});
ok(wait_sql(q{SELECT processed || '/' || failed || '/' || retried FROM pgque_worker.consumers WHERE consumer = 'shop'},
    '29/2/2'), 'the counters count: 29 processed, 2 failed and retried');
my $batches = run(q{SELECT batches FROM pgque_worker.consumers WHERE consumer = 'shop'});
cmp_ok($batches, '>=', 3, "several batches ($batches)");
pause_and_wait();
my $after = table_writes();
my @changed;
for my $t (sort keys %$after) {
    my $diff = $after->{$t} - ($before->{$t} // 0);
    $diff -= 2 if $t eq 'consumer';   # our own resume() and pause()
    push @changed, "$t+$diff" if $diff != 0;
}
is(join(',', @changed), '', "no pgque_worker table was written by $batches batches");
ok(!run(q{SELECT to_regclass('pgque_worker.consumer_stats') IS NOT NULL}) ne 'f', 'consumer_stats is gone');

my $view = q{SELECT processed || '/' || failed || '/' || retried || '/' || batches || '/' || messages
                    || '/' || (batch_seconds > 0) || '/' || (handler_seconds > 0) || '/' || (batch_seconds >= handler_seconds)
               FROM pgque_worker.consumers WHERE consumer = 'shop'};
my $counted = run($view);
like($counted, qr{^29/2/2/\d+/31/true/true/true$}, "counters and durations ($counted)");

# --- last_error: the owner's only -------------------------------------------
like($node->safe_psql('postgres', q{SET ROLE app; SELECT last_error FROM pgque_worker.consumers WHERE consumer = 'shop'}),
    qr/token=s3cret for bad\d/, 'the owner reads last_error');
is($node->safe_psql('postgres', q{SET ROLE colleague;
    SELECT coalesce(last_error, '(hidden)') || ' ' || processed FROM pgque_worker.consumers WHERE consumer = 'shop'}),
    '(hidden) 29', 'another role sees the counts, not the error');
is($node->safe_psql('postgres', q{SET ROLE colleague;
    SELECT count(*) || '/' || count(last_error) FROM pgque_worker._consumer_counters()}),
    '1/0', 'nor through the function behind the view');
like($node->safe_psql('postgres', q{SET ROLE colleague;
    SELECT last_error_at IS NOT NULL FROM pgque_worker.consumers WHERE consumer = 'shop'}), qr/^t$/,
    'when the last error happened is not secret');
my ($rc, $out, $err) = $node->psql('postgres', q{SET ROLE colleague; INSERT INTO pgque_worker.consumer_stats VALUES (1)});
like($err, qr/does not exist/, 'there is no table to write counters into');

# --- a clean restart keeps them ------------------------------------------------
$node->restart;   # fast: a clean shutdown
is(run($view), $counted, 'the counters survived a clean restart');
ok(!-e $node->data_dir . '/pg_stat/pgque_worker_counters.stat', 'the saved file was read and removed at start');
like(run(q{SELECT counters_since < now() - interval '0 seconds' FROM pgque_worker.consumers WHERE consumer = 'shop'}),
    qr/^t$/, 'counters_since is kept');

# --- a crash loses them --------------------------------------------------------
run(q{SELECT pgque_worker.resume('orders', 'shop')});
ok(wait_sql(q{SELECT state IN ('running', 'idle') FROM pgque_worker.consumers WHERE consumer = 'shop'}, 't'),
    'running again');
my $pid = run(q{SELECT pid FROM pgque_worker.consumers WHERE consumer = 'shop'});
kill 'KILL', $pid;
ok(wait_until_up($node), 'the server is back after crash recovery');
ok(wait_sql(q{SELECT processed || '/' || batches || '/' || (counters_since IS NULL)
              FROM pgque_worker.consumers WHERE consumer = 'shop'}, '0/0/true'),
    'a crash starts the counters from zero (documented)');
run(q{SELECT pgque.send('orders', 'e', 'after-crash')});
ok(wait_sql(q{SELECT processed FROM pgque_worker.consumers WHERE consumer = 'shop'}, '1'), 'and they count again');

# --- a consumer that reuses an id does not inherit counters ------------------------
# DROP EXTENSION / CREATE EXTENSION starts the consumer ids at 1 again.
my $old_id = run(q{SELECT id FROM pgque_worker.consumer WHERE consumer = 'shop'});
run(q{DROP EXTENSION pgque_worker; CREATE EXTENSION pgque_worker;
      SET ROLE app; SELECT pgque_worker.handle('orders', 'shop', '*', 'public.handler(pgque.message)');});
is(run(q{SELECT id FROM pgque_worker.consumer WHERE consumer = 'shop'}), $old_id, 'the new consumer has the old id');
is(run(q{SELECT processed || '/' || batches FROM pgque_worker.consumers WHERE consumer = 'shop'}), '0/0',
    'and none of the old counters');
run(q{SELECT pgque.send('orders', 'e', 'new')});
ok(wait_sql(q{SELECT processed || '/' || batches FROM pgque_worker.consumers WHERE consumer = 'shop'}, '1/1'),
    'its own batch starts them from zero');

$node->stop('fast');
done_testing();
