# pgque_worker._record_deliveries is SECURITY DEFINER and pgque_admin may
# EXECUTE it, because the workers' role is a member of pgque_admin. A member
# of pgque_admin that is not a superuser must still not write attempts into
# a route owner's history (a forged "200" for a delivery that failed) nor
# push the real ones out (block_size 1); only the consumer workers'
# processes and superusers may call it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use PgqueWorkerTest;
use Test::More;

my $node = new_node('history_admin_forgery', 'pgque_worker.webhook_history = 0');
install_pgque($node, 'postgres');
sub run { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }
run(q{CREATE ROLE victim LOGIN; CREATE ROLE queue_admin LOGIN IN ROLE pgque_admin});
my $call = q{SELECT pgque_worker._record_deliveries(%d, 1, '{t,t,t,t}', array_fill('victim'::regrole::oid, '{4}'),
    '{1,2,3,4}', '{1,1,1,1}', '{w,w,w,w}', '{200,200,200,200}', '{NULL,NULL,NULL,NULL}', '{%s,%s,%s,%s}',
    '{0.1,0.1,0.1,0.1}', '{0,0,0,0}')};

run(sprintf($call, 5, ('real') x 4));  # a superuser may (as the tests do)
is(run(q{SELECT count(*) FROM pgque_worker.delivery}), '4', 'a superuser records');

my ($rc, $out, $err) = $node->psql('postgres', 'SET ROLE queue_admin; ' . sprintf($call, 5, ('forged') x 4));
like($err, qr/permission denied: only the pgque_worker consumer workers/, 'a pgque_admin member may not forge attempts');
($rc, $out, $err) = $node->psql('postgres', 'SET ROLE queue_admin; ' . sprintf($call, 1, ('forged') x 4));
like($err, qr/permission denied/, 'nor push the history out with one attempt a table');
($rc, $out, $err) = $node->psql('postgres', 'SET SESSION AUTHORIZATION queue_admin; ' . sprintf($call, 5, ('forged') x 4));
like($err, qr/permission denied/, 'nor as its own session');
is(run(q{SELECT string_agg(DISTINCT response, ',') || ' ' || count(*) FROM pgque_worker.delivery}), 'real 4',
    "the owner's history is as the workers wrote it");

done_testing();
