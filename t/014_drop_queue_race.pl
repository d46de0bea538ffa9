# DDL against the worker's ticks (issue 13): queues created, used and dropped
# in a tight loop while the worker ticks them never deadlock, in the client
# or in the worker, and leave no error in the log.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('race', "pgque_worker.tick_interval = '10ms'", "pgque_worker.retry_interval = '10ms'",
    "pgque_worker.maint_interval = '1s'", 'log_lock_waits = on', 'deadlock_timeout = 1s');
install_pgque($node, 'postgres');
my $cycles = 500;
my $script = join('', map {
    "SELECT pgque.create_queue('race');\n"
  . "SELECT pgque.register_consumer('race', 'c');\n"
  . "SELECT pgque.send('race', 'e', 'x$_');\n"
  . "SELECT pgque.send_batch('race', 'e', array['a', 'b']);\n"
  . "SELECT pgque.drop_queue('race', true);\n"
} 1 .. $cycles);
my $log_start = -s $node->logfile;
my ($rc, $out, $err) = $node->psql('postgres', $script, on_error_die => 0, extra_params => ['-v', 'ON_ERROR_STOP=0']);
my $errors = () = $err =~ /ERROR/g;
is($errors, 0, "$cycles create/use/drop cycles, no error in the client") or diag(substr($err, 0, 2000));
unlike($err, qr/deadlock/, 'no deadlock in the client');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgque.get_queue_info() WHERE queue_name = 'race'}), '0',
    'the queue is gone');
my $log = substr(slurp_file($node->logfile), $log_start);
unlike($log, qr/deadlock detected/, 'no deadlock in the worker either');
unlike($log, qr/pgque_worker: .*(ERROR|error|failed)/i, 'no error from the worker in the log');
ok(wait_for($node, 'postgres', q{SELECT state FROM pgque_worker.workers}, 'running'), 'the worker is running');
$node->stop('fast');
done_testing();
