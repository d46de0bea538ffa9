# Exactly once across crashes: a handler inserts one row per event while its
# worker is killed with SIGKILL, several times. In the end there is exactly
# one row per event: handler effects and the ack commit together.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $events = 20_000;
my $node = new_node('exactly_once', 'restart_after_crash = on');
install_pgque($node, 'postgres');
# No unique constraint: a duplicate must show as a second row, not as an error.
$node->safe_psql('postgres', q{
    CREATE TABLE sink (n int NOT NULL);
    CREATE FUNCTION keep(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO sink VALUES (m.payload::int);
        PERFORM pg_sleep(0.0002);  -- slow enough to be killed mid-batch
    END $$;
    SELECT pgque.create_queue('eo');
    SELECT pgque_worker.handle('eo', 'c', '*', 'keep(pgque.message)');
});
# 20 transactions of 1000 events: many batches.
$node->safe_psql('postgres', qq{
    DO \$\$ BEGIN
        FOR chunk IN 0..19 LOOP
            PERFORM pgque.send_batch('eo', 'e', array_agg(i::text))
               FROM generate_series(chunk * 1000 + 1, chunk * 1000 + 1000) i;
            COMMIT;
        END LOOP;
    END \$\$;
});

my $kills = 0;
for my $threshold (2000, 8000, 14000) {
    ok(wait_for($node, 'postgres', "SELECT count(*) >= $threshold FROM sink", 't', 60),
        "handling is under way ($threshold rows)");
    my $pid = $node->safe_psql('postgres',
        q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'});
    next unless $pid;
    kill 'KILL', $pid;
    $kills++;
    # Crash recovery restarts everything; wait for the consumer to be back.
    ok(wait_for($node, 'postgres', qq{SELECT count(*) FROM pg_stat_activity
        WHERE backend_type = 'pgque_worker consumer' AND pid <> $pid}, '1', 60),
        "consumer worker back after kill -9 number $kills");
}
is($kills, 3, 'killed the consumer worker three times');

ok(wait_for($node, 'postgres', 'SELECT count(DISTINCT n) FROM sink', "$events", 120), 'every event was handled');
is($node->safe_psql('postgres', 'SELECT count(*) FROM sink'), "$events", 'and none twice');
is($node->safe_psql('postgres', "SELECT min(n) || '-' || max(n) FROM sink"), "1-$events", 'the right events');
is($node->safe_psql('postgres', q{SELECT coalesce(pending_events, 0) FROM pgque_worker.consumers}), '0',
    'nothing left in the queue');

$node->stop('fast');
done_testing();
