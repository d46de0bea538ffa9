# Crashes lose nothing: after kill -9 of a database worker, or an immediate
# shutdown in the middle of traffic, every committed event is delivered
# exactly once to a plain receive/ack consumer.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = new_node('crash', 'restart_after_crash = on');
install_pgque($node, 'postgres');
$node->safe_psql('postgres', q{SELECT pgque.create_queue('q'); SELECT pgque.subscribe('q', 'c');});
ok(wait_for($node, 'postgres', q{SELECT state FROM pgque_worker.workers}, 'running', 30), 'worker running');

# --- kill -9 of the database worker -----------------------------------------
$node->safe_psql('postgres', q{SELECT pgque.send('q', 'e', i::text) FROM generate_series(1, 100) i});
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pgque_worker.workers});
kill 'KILL', $pid;
ok(wait_for($node, 'postgres', qq{SELECT count(*) FROM pgque_worker.workers WHERE state = 'running' AND pid <> $pid},
    '1', 60), 'after kill -9 the worker is back (through crash recovery)');
$node->safe_psql('postgres', q{SELECT pgque.send('q', 'e', i::text) FROM generate_series(101, 200) i});
my $got = drain($node, 'postgres', 'q', 'c', 200, 60);
my %seen;
$seen{$_}++ for @$got;
is(scalar(@$got), 200, '200 deliveries');
is(scalar(keys %seen), 200, 'of 200 distinct events');
is(join(',', sort { $a <=> $b } keys %seen), join(',', 1 .. 200), 'sent before and after the kill');

# --- immediate shutdown in the middle of traffic ----------------------------
# A producer commits one event per transaction; the server goes down hard
# under it. Whatever committed must arrive, once; nothing else may.
$node->safe_psql('postgres', q{SELECT pgque.create_queue('t'); SELECT pgque.subscribe('t', 'c');});
my ($stdout, $stderr) = ('', '');
my $producer = IPC::Run::start(
    ['psql', '-X', '-d', $node->connstr('postgres'), '-c', q{
        DO $$ BEGIN
            FOR i IN 1..100000 LOOP
                PERFORM pgque.send('t', 'e', i::text);
                COMMIT;
            END LOOP;
        END $$;}],
    '>', \$stdout, '2>', \$stderr);
# Nobody consumes during the traffic, so batches grow to PgQ's
# ticker_max_count (500): three ticks past the start mean events are flowing.
my $tick_before = $node->safe_psql('postgres', q{SELECT last_tick_id FROM pgque.get_queue_info('t')});
ok(wait_for($node, 'postgres', qq{SELECT last_tick_id >= $tick_before + 3 FROM pgque.get_queue_info('t')}, 't', 30),
    'traffic is flowing and being ticked');
$node->stop('immediate');
$producer->finish;
$node->start;

# The consumer restarts from its last ack: drain everything that committed.
$got = drain($node, 'postgres', 't', 'c', undef, 120);
my $max = 0;
my (%count, $duplicates);
for (@$got) {
    $count{$_}++;
    $max = $_ if $_ > $max;
}
$duplicates = grep { $count{$_} > 1 } keys %count;
ok($max > 300 && $max < 100000, "the crash came in the middle of traffic (last committed: $max)");
is(scalar(keys %count), $max, 'every committed event 1..N was delivered');
is($duplicates, 0, 'none twice');

$node->stop;
done_testing();
