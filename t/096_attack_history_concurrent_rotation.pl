# Several consumer workers of one database record their slices at the same
# time: two of them may both find the next table due for its rotation. Each
# has read all three tables (ACCESS SHARE) before its TRUNCATE asks for ACCESS
# EXCLUSIVE, so the second to ask is a deadlock that PostgreSQL reports at
# once, not a lock timeout. That must be taken as "another writer is emptying
# it" (the other TRUNCATE goes on), not fail the slice's whole history.
# Four sessions call pgque_worker._record_deliveries as the workers do (one
# attempt a transaction, which goes on a moment as a worker's fetches the
# next slice; 5 attempts a table): no call may fail, every
# committed attempt of the two newest blocks is kept, and the bound holds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = new_node('history_concurrent_rotation', 'pgque_worker.webhook_history = 0');
install_pgque($node, 'postgres');
$node->safe_psql('postgres', q{CREATE TABLE recorded (msg_id bigint, id bigint)});

my $calls = 400;
my (@runs, @errors);
for my $writer (1 .. 4) {
    my $script = join '', map {
        my $msg = $writer * 100000 + $_;
        "BEGIN; SELECT pgque_worker._record_deliveries(5, $writer, '{t}', array[10::oid], '{$msg}', '{1}', '{w}',"
          . " '{200}', '{NULL}', '{r}', '{0.1}', '{0}');"
          . " INSERT INTO recorded VALUES ($msg, currval('pgque_worker.delivery_id_seq'));"
          . " SELECT pg_sleep(0.002); COMMIT;\n"
    } 1 .. $calls;
    # From a file: IPC::Run feeds a scalar's input only while it is waited
    # for, which would run the writers one after the other.
    my $file = PostgreSQL::Test::Utils::tempdir() . "/writer$writer.sql";
    PostgreSQL::Test::Utils::append_to_file($file, $script);
    my ($out, $err) = ('', '');
    push @errors, \$err;
    push @runs, IPC::Run::start(
        ['psql', '-X', '-q', '-At', '-d', $node->connstr('postgres'), '-f', $file],
        '>', \$out, '2>', \$err);
}
$_->finish for @runs;
my @failed = grep { /ERROR/ } map { split /\n/, $$_ } @errors;
is(scalar(@failed), 0, 'no call failed' . (@failed ? ": $failed[0]" : ''));
is($node->safe_psql('postgres', q{SELECT count(*) FROM recorded}), 4 * $calls, 'every attempt committed');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM recorded r
     WHERE r.id >= ((SELECT last_value FROM pgque_worker.delivery_id_seq) / 5 - 1) * 5
       AND NOT EXISTS (SELECT FROM pgque_worker.delivery d WHERE d.id = r.id)}), '0',
    'every committed attempt of the two newest blocks is kept');
cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM pgque_worker.delivery}), '<=', 20,
    'within the bound');

done_testing();
