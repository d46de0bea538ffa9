# The module refuses to load unless it is in shared_preload_libraries, with a
# message that says what to do; preloaded, both extensions install.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('plain');
$node->init;
$node->start;

my ($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION pgque_worker');
isnt($rc, 0, 'CREATE EXTENSION fails without shared_preload_libraries');
like($err, qr/pgque_worker must be loaded via shared_preload_libraries/, 'the error says why');
like($err, qr/HINT:.*shared_preload_libraries/, 'and the hint says what to do');
is($node->safe_psql('postgres',
    "SELECT count(*) FROM pg_extension WHERE extname = 'pgque_worker'"), '0',
    'nothing was left behind');

# The engine does not need the module.
$node->safe_psql('postgres', 'CREATE EXTENSION pgque_pgq CASCADE');
is($node->safe_psql('postgres', 'SELECT pgque.version()'), '0.2.0', 'pgque_pgq works on its own');

$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pgque_worker'");
$node->restart;
$node->safe_psql('postgres', 'CREATE EXTENSION pgque_worker');
is($node->safe_psql('postgres', 'SELECT pgque_worker.version()'), '0.2.0', 'preloaded, it installs');

($rc, $out, $err) = $node->psql('postgres', 'SET pgque_worker.no_such_setting = 1');
like($err, qr/invalid configuration parameter name "pgque_worker.no_such_setting"/,
    'the pgque_worker GUC prefix is reserved');

$node->stop;
done_testing();
