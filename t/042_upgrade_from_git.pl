# Upgrade from the released 0.1.0, built from git history (issue 12): no
# vendored copy of old files. The 0.1.0 release is the parent of the commit
# that added sql/pgque_worker--0.2.0.sql. Only one pgque_worker.so fits in a
# PostgreSQL installation, so the test copies the installation in use
# (relocatable: pg_config and the server find their files next to
# themselves), builds and installs 0.1.0 into the copy, runs a 0.1.0
# database that dispatches, then swaps in the module under test and runs
# ALTER EXTENSION ... UPDATE: nothing pending is lost or sent twice.
#
# Needs PGQUE_REPO (run-tests.sh sets it): a checkout with its history.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use Test::More;

my $repo = $ENV{PGQUE_REPO} // '';
my @git = ('git', '-c', 'safe.directory=*', '-C', $repo);
my $added = `@git log --diff-filter=A --format=%H -- sql/pgque_worker--0.2.0.sql 2>&1`;
my ($first_020) = reverse grep { /^[0-9a-f]{40}$/ } split /\n/, $added;
ok($first_020, 'the commit that started 0.2.0 is in the history') or BAIL_OUT("no git history in '$repo': $added");
chomp(my $release = `@git rev-parse $first_020^`);
like(`@git show $release:pgque_worker.control`, qr/default_version = '0\.1\.0'/, "its parent $release is the 0.1.0 release");

# A copy of the installation in use, under tmp_check.
my $tmp = $PostgreSQL::Test::Utils::tmp_check;
my $pg_config = `pg_config --bindir`; chomp $pg_config;
my $pg_lib = dirname($pg_config);                                          # .../usr/lib/postgresql/15
my $root = dirname(dirname(dirname(dirname($pg_lib))));                    # above usr/
my $major = (split m{/}, $pg_lib)[-1];
my $copy = "$tmp/pg010";
make_path("$copy/usr/lib/postgresql", "$copy/usr/share/postgresql", "$copy/usr/include");
for (["usr/lib/postgresql/$major", 'usr/lib/postgresql'], ["usr/share/postgresql/$major", 'usr/share/postgresql'],
     ['usr/include/postgresql', 'usr/include']) {
    system('cp', '-a', "$root/$_->[0]", "$copy/$_->[1]/") == 0 or BAIL_OUT("cannot copy $root/$_->[0]");
}
my $copy_config = "$copy/usr/lib/postgresql/$major/bin/pg_config";
is(`$copy_config --pkglibdir`, "$copy/usr/lib/postgresql/$major/lib\n", 'the copy finds its own files');

# 0.1.0 from git, built and installed into the copy.
my $src = "$tmp/src010";
make_path($src);
system("@git archive $release | tar -x -C $src") == 0 or BAIL_OUT('git archive failed');
ok(!-e "$src/sql/pgque_worker--0.2.0.sql", 'the 0.1.0 tree has no 0.2.0 scripts');
command_ok(['make', '-s', '-j2', '-C', $src, "PG_CONFIG=$copy_config"], 'builds 0.1.0');
command_ok(['make', '-s', '-C', $src, 'install', "PG_CONFIG=$copy_config"], 'installs 0.1.0 into the copy');

my $receiver = start_receiver('upgrade_git');
my $base = $receiver->{base};
my $node = PostgreSQL::Test::Cluster->new('v010', install_path => "$copy/usr/lib/postgresql/$major");
$node->init;
$node->append_conf('postgresql.conf', join("\n", "shared_preload_libraries = 'pgque_worker'",
    'max_worker_processes = 16', "pgque_worker.tick_interval = '200ms'",
    "pgque_worker.http_allowed_hosts = '127.0.0.1'"));
$node->start;
is($node->safe_psql('postgres', q{CREATE EXTENSION pgque_pgq CASCADE; CREATE EXTENSION pgque_worker;
                                  SELECT pgque_worker.version() || ' ' || extversion FROM pg_extension WHERE extname = 'pgque_worker'}),
    '0.1.0 0.1.0', 'the 0.1.0 module and schema run');
$node->safe_psql('postgres', qq{
    CREATE ROLE app; GRANT pgque_reader, pgque_writer TO app;
    CREATE TABLE got (payload text); GRANT INSERT ON got TO app;
    CREATE FUNCTION keep(m pgque.message) RETURNS void LANGUAGE sql AS \$\$ INSERT INTO got VALUES (m.payload) \$\$;
    SELECT pgque.create_queue('q');
    SET ROLE app;
    SELECT pgque_worker.handle('q', 'sql_consumer', '*', 'keep(pgque.message)');
    SELECT pgque_worker.handle_http('q', 'http_consumer', '*', '$base/ok',
        '{"Authorization": "Bearer t0ken"}', '${\ webhook_secret()}');
    RESET ROLE;
    SELECT pgque.send('q', 'e', 'v010-' || i) FROM generate_series(1, 2) i;});
ok(wait_for($node, 'postgres', q{SELECT count(*) FROM got}, '2') && wait_receiver_requests($receiver, '/ok', 2),
    '0.1.0 dispatches to SQL and HTTP');
$node->safe_psql('postgres', q{SELECT pgque_worker.pause('q', 'sql_consumer'); SELECT pgque_worker.pause('q', 'http_consumer');
                               SELECT pgque.send('q', 'e', 'pending-' || i) FROM generate_series(1, 3) i;});
$node->stop;

# The module under test replaces 0.1.0's in the copy.
my $pkglib = `pg_config --pkglibdir`; chomp $pkglib;
my $extdir = `pg_config --sharedir`; chomp $extdir; $extdir .= '/extension';
system('cp', "$pkglib/pgque_worker.so", "$copy/usr/lib/postgresql/$major/lib/") == 0 or BAIL_OUT('cannot copy the module');
system("cp $extdir/pgque_worker* $extdir/pgque_pgq* $copy/usr/share/postgresql/$major/extension/") == 0
    or BAIL_OUT('cannot copy the scripts');
$node->start;
ok(wait_for($node, 'postgres', q{SELECT last_error LIKE '%runs no consumers until ALTER EXTENSION pgque_worker UPDATE'
                                  FROM pgque_worker.workers}, 't'),
    'the new module serves the 0.1.0 schema without running its consumers');
$node->safe_psql('postgres', 'ALTER EXTENSION pgque_pgq UPDATE; ALTER EXTENSION pgque_worker UPDATE;');
is($node->safe_psql('postgres', q{SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname)
                                   FROM pg_extension WHERE extname LIKE 'pgque%'}),
    'pgque_pgq 0.2.0, pgque_worker 0.2.0', 'both extensions updated');
is($node->safe_psql('postgres', q{SELECT string_agg(consumer || ' ' || owner || ' ' || target || ' ' || coalesce(secret, '-')
                                                    || ' ' || header_names::text, ', ' ORDER BY consumer)
                                   FROM pgque_worker.handlers}),
    "http_consumer app $base/ok ******** {Authorization}, sql_consumer app public.keep(pgque.message) - {}",
    'routes, owners, secrets and headers kept');
$node->safe_psql('postgres', q{SELECT pgque_worker.resume('q', 'sql_consumer'); SELECT pgque_worker.resume('q', 'http_consumer');
                               SELECT pgque.send('q', 'e', 'after')});
ok(wait_for($node, 'postgres', q{SELECT string_agg(payload, ',' ORDER BY payload) FROM got},
    'after,pending-1,pending-2,pending-3,v010-1,v010-2'), 'SQL: the pending events and new ones, each once');
ok(wait_receiver_requests($receiver, '/ok', 6), 'HTTP: the pending events and new ones');
my %ids;
$ids{ $_->{headers}{'webhook-id'} }++ for @{ receiver_requests($receiver, '/ok') };
is(scalar(keys %ids) . ' ' . scalar(grep { $_ > 1 } values %ids), '6 0', 'six webhooks, none twice');
ok(!grep({ !$_->{signature_valid} || $_->{headers}{authorization} ne 'Bearer t0ken' } @{ receiver_requests($receiver, '/ok') }),
    'all signed, with their header, before and after');

$node->stop;
stop_receiver($receiver);
done_testing();
