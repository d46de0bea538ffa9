# A superuser who owns the pgque API is demoted (ALTER ROLE ... NOSUPERUSER):
# the superuser worker must stop calling that API before its next call, not
# at its next full pass. With tick_interval = 1h no periodic or full pass
# comes during the test: only passes woken by commits, so the refusal shows
# that the demotion itself (a pg_authid invalidation) made the worker look.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('attack_demote', "pgque_worker.tick_interval = '1h'");
$node->safe_psql('postgres', q{CREATE ROLE inst LOGIN SUPERUSER;
    SET ROLE inst; CREATE EXTENSION pgque_pgq CASCADE; CREATE EXTENSION pgque_worker; RESET ROLE;
    SELECT pgque.create_queue('q'); SELECT pgque.subscribe('q', 'c');});
ok(wait_for($node, 'postgres', q{SELECT count(*) FROM pgque_worker.workers WHERE state = 'running'}, '1', 30),
    'the worker serves the database');
$node->safe_psql('postgres', q{SELECT pgque.send('q', 't', 'before')});
ok(wait_for($node, 'postgres', q{SELECT pending_events FROM pgque.get_consumer_info('q', 'c')}, '1', 30),
    'a commit is ticked (passes woken by commits run)');
$node->safe_psql('postgres', q{ALTER ROLE inst NOSUPERUSER});
$node->safe_psql('postgres', q{SELECT pgque.send('q', 't', 'after')});
ok(wait_for($node, 'postgres', q{SELECT state FROM pgque_worker.workers}, 'refused', 30),
    'the next pass woken by a commit refuses the API of a demoted owner');
like($node->safe_psql('postgres', q{SELECT last_error FROM pgque_worker.workers}),
    qr/belongs to a role that is not a superuser/, 'and says why');
is($node->safe_psql('postgres', q{SELECT pending_events FROM pgque.get_consumer_info('q', 'c')}), '1',
    'the event committed after the demotion was not ticked');
done_testing();
