# Cooperative consumers under the worker (issue 13): two subconsumers share
# one consumer's batches while the worker ticks; one dies in the middle of a
# batch (its session is killed before it acknowledges); the other takes that
# batch over after dead_interval. Every event is handled exactly once: what
# the dead one did rolled back with it, and nothing is left behind.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = new_node('coop', "pgque_worker.tick_interval = '50ms'");
install_pgque($node, 'postgres');
$node->safe_psql('postgres', q{
    SELECT pgque.create_queue('jobs');
    SELECT pgque.register_subconsumer('jobs', 'w', 's1');
    SELECT pgque.register_subconsumer('jobs', 'w', 's2');
    CREATE TABLE done (msg_id bigint, payload text, by text);
});

# Events in separate transactions, so the worker's ticks cut several batches.
my $total = 0;
for my $round (1 .. 5) {
    $node->safe_psql('postgres', "SELECT pgque.send_batch('jobs', 'job', array_agg('r$round-' || i)) "
        . "FROM generate_series(1, 20) i");
    $total += 20;
}

# s1 takes a batch (its receive commits: the batch is now s1's), starts
# handling it in a transaction, and dies before it commits or acknowledges.
my $s1 = $node->background_psql('postgres', on_error_stop => 0);
ok(wait_for($node, 'postgres', q{SELECT count(*) > 0 FROM pgque.get_queue_info('jobs') WHERE last_tick_id > 1},
    't'), 'the worker ticks the queue');
my $taken = '';
my $deadline = time() + 30;
while ($taken eq '' && time() < $deadline) {
    $taken = $s1->query_safe(q{SELECT string_agg(msg_id::text, ',') FROM pgque.receive_coop('jobs', 'w', 's1', 1000)});
    usleep(50_000) if $taken eq '';
}
isnt($taken, '', 's1 holds a batch');
my @s1_ids = split /,/, $taken;
$s1->query_safe(q{BEGIN});
$s1->query_safe(q{INSERT INTO done SELECT msg_id, payload, 's1' FROM pgque.receive_coop('jobs', 'w', 's1', 1000)});
my $s1_pid = $s1->query_safe(q{SELECT pg_backend_pid()});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($s1_pid)");
eval { $s1->quit };
is($node->safe_psql('postgres', q{SELECT count(*) FROM done}), '0', "s1's work died with it");
is($node->safe_psql('postgres',
    q{SELECT current_batch IS NOT NULL FROM pgque.get_consumer_info('jobs', 'w.s1')}), 't',
    "s1's batch is still assigned to it");

# s2 handles batches (effects and ack in one transaction) with dead_interval
# 1 second, until everything was handled once.
my $s2_loop = q{
    BEGIN;
    CREATE TEMP TABLE b ON COMMIT DROP AS
        SELECT * FROM pgque.receive_coop('jobs', 'w', 's2', 1000, '1 second');
    INSERT INTO done SELECT msg_id, payload, 's2' FROM b;
    SELECT pgque.ack(batch_id) FROM b LIMIT 1;
    COMMIT;
};
$deadline = time() + 60;
while (time() < $deadline) {
    $node->safe_psql('postgres', $s2_loop);
    last if $node->safe_psql('postgres', q{SELECT count(DISTINCT msg_id) FROM done}) >= $total;
    usleep(50_000);
}
is($node->safe_psql('postgres', q{SELECT count(DISTINCT msg_id) FROM done}), $total, 'nothing lost');
is($node->safe_psql('postgres', q{SELECT count(*) FROM done}), $total, 'nothing handled twice');
is($node->safe_psql('postgres', 'SELECT count(*) FROM done WHERE msg_id IN (' . join(',', @s1_ids) . ") AND by = 's2'"),
    scalar(@s1_ids), "s2 took over s1's batch after dead_interval");
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgque.get_consumer_info('jobs') WHERE current_batch IS NOT NULL}),
    '0', 'no batch left open');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgque.receive_coop('jobs', 'w', 's1')}), '0',
    's1 comes back to an empty queue');
ok(wait_for($node, 'postgres', q{SELECT state FROM pgque_worker.workers}, 'running'), 'the worker is running');

# stop(): the worker stops ticking this database; start(): it ticks again.
$node->safe_psql('postgres', q{SELECT pgque.stop()});
ok(wait_for($node, 'postgres', q{SELECT state FROM pgque_worker.workers}, 'stopped by pgque.stop()'),
    'pgque.stop() stops the worker ticking');
my $ticks = $node->safe_psql('postgres', q{SELECT last_tick_id FROM pgque.get_queue_info('jobs')});
$node->safe_psql('postgres', q{SELECT pgque.send('jobs', 'job', 'after-stop')});
# Bounded: many tick intervals pass; a tick would show at once.
ok(!wait_for($node, 'postgres', qq{SELECT last_tick_id > $ticks FROM pgque.get_queue_info('jobs')}, 't', 2),
    'no tick while stopped');
$node->safe_psql('postgres', q{SELECT pgque.start()});
ok(wait_for($node, 'postgres', qq{SELECT last_tick_id > $ticks FROM pgque.get_queue_info('jobs')}, 't'),
    'pgque.start(): ticking again');
ok(wait_for($node, 'postgres', q{SELECT state FROM pgque_worker.workers}, 'running'), 'and running');

$node->stop('fast');
done_testing();
