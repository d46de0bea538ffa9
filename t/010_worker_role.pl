# pgque_worker.role set to a non-superuser (issue 8): with the documented
# setup (LOGIN, BYPASSRLS, pgque_admin) it
# ticks, delivers signed webhooks and updates the counters; without
# BYPASSRLS it is refused at start, visibly, and never sends a signed route
# unsigned.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use IPC::Run;
use JSON::PP;
use Test::More;
use Time::HiRes qw(usleep);

my $secret = webhook_secret();
my $receiver = start_receiver('worker_role_hooks');
my $base = $receiver->{base};
sub requests { return receiver_requests($receiver); }

my $node = new_node('worker_role', "pgque_worker.tick_interval = '200ms'",
    "pgque_worker.http_allowed_hosts = '127.0.0.1'");
install_pgque($node, 'postgres');
sub run { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }
sub wait_sql { my ($sql, $want, $secs) = @_; return wait_for($node, 'postgres', $sql, $want, $secs // 30); }

# A role without BYPASSRLS: refused, with the reason in the view and the log.
run(q{CREATE ROLE weak LOGIN; GRANT pgque_admin TO weak;
      CREATE ROLE app; GRANT pgque_reader, pgque_writer TO app;
      SELECT pgque.create_queue('orders');});
run(qq{SET ROLE app;
       SELECT pgque_worker.handle_http('orders', 'hooks', '*', '$base/ok', '{"X-Tenant": "t1"}', '$secret');});
run(q{ALTER SYSTEM SET pgque_worker.role = 'weak'; SELECT pg_reload_conf();});
ok(wait_sql(q{SELECT state FROM pgque_worker.workers WHERE database = 'postgres'}, 'refused'),
    'a role without BYPASSRLS is refused');
like(run(q{SELECT last_error FROM pgque_worker.workers WHERE database = 'postgres'}),
    qr/pgque_worker.role "weak" must be a superuser or have BYPASSRLS/, 'the view says why');
run(q{SELECT pgque.send('orders', 'e', '{"n": 1}'::jsonb)});
ok(wait_for($node, 'postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'}, '0', 5),
    'no consumer runs for it');
usleep(1_000_000);
is(scalar(@{ requests() }), 0, 'nothing was sent, signed or not');
like(slurp_file($node->logfile), qr/not serving database "postgres": pgque_worker.role "weak" must be/,
    'the log says why');

# The documented setup: works end to end.
run(q{CREATE ROLE pgque_worker_role LOGIN BYPASSRLS; GRANT pgque_admin TO pgque_worker_role;
      ALTER SYSTEM SET pgque_worker.role = 'pgque_worker_role'; SELECT pg_reload_conf();});
ok(wait_sql(q{SELECT a.usename || ' ' || w.state FROM pg_stat_activity a JOIN pgque_worker.workers w ON w.pid = a.pid
              WHERE w.database = 'postgres'}, 'pgque_worker_role running'),
    'the database worker runs as the configured role');
run(q{SELECT pgque.send('orders', 'e', '{"n": 2}'::jsonb)});
for (1 .. 600) { last if @{ requests() } >= 2; usleep(50_000); }
my @got = @{ requests() };
is(scalar(@got), 2, 'both messages were delivered');
is(scalar(grep { $_->{signature_valid} } @got), 2, 'signed, as declared');
is(scalar(grep { ($_->{headers}{'x-tenant'} // '') eq 't1' } @got), 2, 'with the route\'s headers');
ok(wait_sql(q{SELECT processed || '/' || failed FROM pgque_worker.consumers WHERE consumer = 'hooks'}, '2/0'),
    'the counters were updated');
is(run(q{SELECT count(*) FROM pgque_worker.delivery WHERE status = 204}), '2',
    'the webhook history was written (pgque_admin may call its writer)');
is(run(q{SELECT usename FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'}), 'pgque_worker_role',
    'the consumer worker connects as the configured role');

$node->stop('fast');
stop_receiver($receiver);
done_testing();
