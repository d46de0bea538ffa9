# The webhook history's bound against a reader that never lets go: any role
# may SELECT the history, and a SELECT through the parent holds all three
# tables (ACCESS SHARE) until its transaction ends, so no rotation can empty
# them. A table that could not be emptied at its turn takes that block's
# attempts (the newest are kept); one that a reader still holds at its next
# turn takes nothing more, so the history stays within twice its bound and
# is back to 3 tables of attempts at the next turns after the reader goes.
# Nor does the reader slow the workers down: a table still held at its next
# turn is tried without waiting (each slice of its block tries it), so a
# worker waits lock_timeout at most once a block (log_lock_waits shows each
# wait longer than deadlock_timeout).
# Calls pgque_worker._record_deliveries as the workers do, one attempt a call.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use PgqueWorkerTest;
use Test::More;

my $node = new_node('history_held_reader', 'pgque_worker.webhook_history = 0',
    'log_lock_waits = on', "deadlock_timeout = '10ms'");
install_pgque($node, 'postgres');
sub run { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }
run(q{CREATE ROLE nobody LOGIN});  # no grant at all: SELECT on the history is PUBLIC's
my $record = q{SELECT pgque_worker._record_deliveries(5, 1, '{t}', array['nobody'::regrole::oid], '{1}',
    '{1}', '{w}', '{200}', '{NULL}', '{r}', '{0.1}', '{0}')};
sub record_n { my ($n) = @_; run($record) for 1 .. $n; }
sub rows { return run(q{SELECT count(*) FROM pgque_worker.delivery}); }
sub newest_kept {
    return run(q{SELECT max(id) = (SELECT last_value FROM pgque_worker.delivery_id_seq) FROM pgque_worker.delivery});
}

record_n(15);
cmp_ok(rows(), '<=', 15, 'at most three tables of 5 attempts');

my $reader = $node->background_psql('postgres', on_error_stop => 1);
$reader->query_safe(q{SET ROLE nobody; BEGIN; SELECT count(*) FROM pgque_worker.delivery});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                                    WHERE c.relname ~ '^delivery_[012]$' AND l.mode = 'AccessShareLock'}),
    '3', 'a role without any grant holds all three tables');

my $log_offset = -s $node->logfile;
record_n(15);  # one turn of each table while it is held
my $held = rows();
cmp_ok($held, '>', 15, 'each held table kept its older round and took its new block (6 tables of attempts)');
is(newest_kept(), 't', 'the newest attempt is kept');
record_n(45);  # three more turns: each held table is at its second turn
cmp_ok(rows(), '<=', 30, 'held across several turns, the history stays within twice its bound (' . rows() . ')');
my $waits = () = PostgreSQL::Test::Utils::slurp_file($node->logfile, $log_offset)
    =~ /still waiting for AccessExclusiveLock/g;
cmp_ok($waits, '<=', 12, "the writers waited for the reader at most once a block of 5 ($waits waits in 60 calls)");

$reader->query_safe('COMMIT');
$reader->quit;
record_n(15);
cmp_ok(rows(), '<=', 15, 'the reader gone, one turn of each table is back to 3 tables of attempts (' . rows() . ')');
is(newest_kept(), 't', 'with the newest attempt');
is(run(q{SELECT count(*) FROM pgque_worker.delivery
          WHERE id > (SELECT last_value FROM pgque_worker.delivery_id_seq) - 10}), '10',
    'and every attempt of the two newest blocks');

done_testing();
