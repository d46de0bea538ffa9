# Whole batches on every engine: 500 and 50,000 events sent in one
# transaction to a consumer with the default max_messages (100) are all
# dispatched exactly once (upstream pgque's ack finishes the whole batch, so
# a worker that acked a page would lose the rest), and the 50,000-event batch
# (100 MB of payloads) is handled in bounded memory.
#
# Engines: pgque_pgq, and upstream pgque when PGQUE_UPSTREAM_SQL names its
# pgque.sql (not shipped here; e.g. `git show v0.2.0:sql/pgque.sql`).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my @engines = ('pgque_pgq');
if ($ENV{PGQUE_UPSTREAM_SQL} && -r $ENV{PGQUE_UPSTREAM_SQL}) {
    push @engines, 'upstream';
} else {
    diag('upstream pgque: skipped, PGQUE_UPSTREAM_SQL does not name a readable pgque.sql');
}

# Anonymous RSS (private memory, not the shared buffers the process touched)
# the consumer worker may reach while 100 MB of payloads pass through it.
my $rss_bound_kb = 64 * 1024;

my $node = new_node('whole_batches');
for my $engine (@engines) {
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
}

$node->stop('fast');
done_testing();

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

# Events first..last in one send_batch, payloads "<n>:" padded to $size bytes.
sub send_events {
    my ($node, $db, $first, $last, $size) = @_;
    $node->safe_psql($db, qq{
        SELECT pgque.send_batch('wb', 'e',
                   array_agg(rpad(i::text || ':', $size, 'x') ORDER BY i))
          FROM generate_series($first, $last) i});
}
