# The launcher follows databases and the extension without a restart, and
# workers behave under bad settings, missing APIs and signals.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = new_node('lifecycle', "pgque_worker.tick_interval = '200ms'");
install_pgque($node, 'postgres');

# CREATE EXTENSION in a second database, server up: it gets a worker.
$node->safe_psql('postgres', 'CREATE DATABASE second');
install_pgque($node, 'second');
ok(wait_for($node, 'postgres',
    q{SELECT state FROM pgque_worker.workers WHERE database = 'second' AND pid IS NOT NULL},
    'running', 10), 'CREATE EXTENSION in a second database starts its worker');
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pgque_worker.workers WHERE database = 'second'});
$node->safe_psql('second', q{
    SELECT pgque.create_queue('q2'); SELECT pgque.subscribe('q2', 'c');
    SELECT pgque.send('q2', 'x', 'in second');
});
is(join(',', @{ drain($node, 'second', 'q2', 'c', 1, 20) }), 'in second', 'and it ticks there');

# DROP EXTENSION stops it.
$node->safe_psql('second', 'DROP EXTENSION pgque_worker');
ok(wait_for($node, 'postgres', qq{SELECT count(*) FROM pg_stat_activity WHERE pid = $pid}, '0', 10),
    'DROP EXTENSION stops the worker');
is($node->safe_psql('postgres', q{SELECT state FROM pgque_worker.workers WHERE database = 'second'}),
    'no extension', 'and the view says why');

# CREATE EXTENSION again, then DROP DATABASE while the worker runs.
$node->safe_psql('second', 'CREATE EXTENSION pgque_worker');
ok(wait_for($node, 'postgres',
    q{SELECT state FROM pgque_worker.workers WHERE database = 'second'}, 'running', 10),
    'CREATE EXTENSION again: served again');
my ($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE second');
is($rc, 0, 'DROP DATABASE succeeds while the database has a worker') or diag($err);
ok(wait_for($node, 'postgres',
    q{SELECT count(*) FROM pgque_worker.workers WHERE database = 'second'}, '0', 10),
    'the dropped database leaves the view');

# A database with pgque_worker but no pgque API: one clear line, no crash loop.
$node->safe_psql('postgres', 'CREATE DATABASE bare');
my $log_offset = -s $node->logfile;
$node->safe_psql('bare', 'CREATE EXTENSION pgque_worker');
ok(wait_for($node, 'postgres',
    q{SELECT state FROM pgque_worker.workers WHERE database = 'bare'}, 'waiting for pgque API', 10),
    'a database without the pgque API waits for it');
my $bare_pid = $node->safe_psql('postgres', q{SELECT pid FROM pgque_worker.workers WHERE database = 'bare'});
sleep(2);    # ten tick intervals: any loop would show now
my $log = slurp_file($node->logfile, $log_offset);
my @lines = ($log =~ /database "bare" has no pgque API/g);
is(scalar(@lines), 1, 'it says so once, not once per check');
is($node->safe_psql('postgres', q{SELECT pid || ' ' || failures FROM pgque_worker.workers WHERE database = 'bare'}),
    "$bare_pid 0", 'same process, no failures: no crash loop');
$node->safe_psql('bare', 'CREATE EXTENSION pgque_pgq CASCADE');
ok(wait_for($node, 'postgres',
    q{SELECT state FROM pgque_worker.workers WHERE database = 'bare'}, 'running', 10),
    'installing the API is noticed');

# Bad settings are refused; the old value stays in force.
($rc, $out, $err) = $node->psql('postgres', q{ALTER SYSTEM SET pgque_worker.tick_interval = '-5'});
like($err, qr/-5 .*outside the valid range for parameter "pgque_worker.tick_interval"/,
    'a negative tick_interval is refused');
($rc, $out, $err) = $node->psql('postgres', q{ALTER SYSTEM SET pgque_worker.max_workers = 'lots'});
like($err, qr/invalid value for parameter "pgque_worker.max_workers"/, 'a non-number is refused');
($rc, $out, $err) = $node->psql('postgres', q{ALTER SYSTEM SET pgque_worker.databases = '"unterminated'});
like($err, qr/invalid value for parameter "pgque_worker.databases"/, 'a broken database list is refused');
$log_offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "pgque_worker.retry_interval = 'often'");
$node->reload;
ok(wait_for($node, 'postgres', q{SELECT 1}, '1', 5), 'server still answers after a bad reload');
usleep(500_000);
like(slurp_file($node->logfile, $log_offset),
    qr/invalid value for parameter "pgque_worker.retry_interval": "often"/,
    'a bad value in postgresql.conf is reported at reload');
is($node->safe_psql('postgres', 'SHOW pgque_worker.retry_interval'), '1s', 'and the old value stays');
$node->adjust_conf('postgresql.conf', 'pgque_worker.retry_interval', "'2s'");
$node->reload;
ok(wait_for($node, 'postgres', 'SHOW pgque_worker.retry_interval', '2s', 5), 'a good value is taken at reload');

# The launcher comes back after an unexpected SIGTERM, and so do the workers.
my $launcher = $node->safe_psql('postgres',
    q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgque_worker launcher'});
kill 'TERM', $launcher;
ok(wait_for($node, 'postgres', qq{
    SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker launcher' AND pid <> $launcher},
    '1', 20), 'the postmaster restarts the launcher after SIGTERM');
my $worker = $node->safe_psql('postgres', q{SELECT pid FROM pgque_worker.workers WHERE database = 'postgres'});
kill 'TERM', $worker;
ok(wait_for($node, 'postgres', qq{
    SELECT count(*) FROM pgque_worker.workers WHERE database = 'postgres' AND state = 'running' AND pid <> $worker},
    '1', 20), 'and the launcher restarts a worker that was terminated');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker' AND datname = 'postgres'}),
    '1', 'never two workers for one database');

# max_workers bounds the number of database workers.
$node->safe_psql('postgres', 'CREATE DATABASE third');
install_pgque($node, 'third');
$node->append_conf('postgresql.conf', 'pgque_worker.max_workers = 2');
$node->reload;
sleep(1);
$node->safe_psql('postgres', 'CREATE DATABASE fourth');
install_pgque($node, 'fourth');
sleep(2);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker'}),
    '2', 'no more database workers than pgque_worker.max_workers');
$node->append_conf('postgresql.conf', 'pgque_worker.max_workers = 8');
$node->reload;
ok(wait_for($node, 'postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker'},
    '4', 10), 'raised again, every database is served');

$node->stop;
done_testing();
