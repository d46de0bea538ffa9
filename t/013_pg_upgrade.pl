# pg_upgrade (issue 12): a cluster with both extensions installed and in use
# passes pg_upgrade --check and upgrades (PostgreSQL 15 to 15: no other major
# version can be installed here), and the upgraded cluster dispatches what
# was pending, with its routes, secrets and handlers intact.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $old = new_node('old', "pgque_worker.tick_interval = '200ms'");
install_pgque($old, 'postgres');
$old->safe_psql('postgres', q{
    CREATE ROLE app; GRANT pgque_reader, pgque_writer TO app;
    CREATE TABLE got (payload text); GRANT INSERT ON got TO app;
    CREATE FUNCTION keep(m pgque.message) RETURNS void LANGUAGE sql AS $$ INSERT INTO got VALUES (m.payload) $$;
    SELECT pgque.create_queue('q');
    SET pgque_worker.http_allowed_hosts = '*';
    SET ROLE app;
    SELECT pgque_worker.handle('q', 'sql_consumer', '*', 'keep(pgque.message)');
    SELECT pgque_worker.handle_http('q', 'http_consumer', '*', 'http://127.0.0.1:9/hook',
        '{"Authorization": "Bearer t0ken"}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    RESET ROLE;
    SELECT pgque_worker.pause('q', 'http_consumer');
    SELECT pgque_worker.pause('q', 'sql_consumer');
    SELECT pgque.send('q', 'e', 'before-' || i) FROM generate_series(1, 3) i;});
$old->stop;

my $new = PostgreSQL::Test::Cluster->new('new');
$new->init;
$new->append_conf('postgresql.conf', "shared_preload_libraries = 'pgque_worker'\nmax_worker_processes = 16\n");
my $bindir = $old->config_data('--bindir');
my $workdir = "$PostgreSQL::Test::Utils::tmp_check/pg_upgrade";
mkdir $workdir;
chdir $workdir;
my @upgrade = ('pg_upgrade', '--no-sync', '-b', $bindir, '-B', $bindir, '-d', $old->data_dir, '-D', $new->data_dir,
               '-p', $old->port, '-P', $new->port, '-s', $new->host);
command_ok([@upgrade, '--check'], 'pg_upgrade --check passes');
command_ok(\@upgrade, 'pg_upgrade upgrades the cluster');

$new->start;
is($new->safe_psql('postgres', q{SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname)
                                   FROM pg_extension WHERE extname LIKE 'pgque%'}),
    'pgque_pgq 0.2.0, pgque_worker 0.2.0', 'both extensions came along');
is($new->safe_psql('postgres', q{SELECT string_agg(consumer || ' ' || target, ', ' ORDER BY consumer)
                                   FROM pgque_worker.handlers}),
    'http_consumer http://127.0.0.1:9/hook, sql_consumer public.keep(pgque.message)', 'routes kept, handlers resolved');
is($new->safe_psql('postgres', q{SET ROLE app; SELECT (headers ->> 'Authorization') || ' ' || (secret IS NOT NULL)
                                   FROM pgque_worker.route_secret}),
    'Bearer t0ken true', 'secrets and header values kept, still owner-only');
$new->safe_psql('postgres', q{SELECT pgque_worker.resume('q', 'sql_consumer')});
ok(wait_for($new, 'postgres', q{SELECT string_agg(payload, ',' ORDER BY payload) FROM got}, 'before-1,before-2,before-3'),
    'the upgraded cluster dispatches what was pending');
$new->safe_psql('postgres', q{SELECT pgque.send('q', 'e', 'after')});
ok(wait_for($new, 'postgres', q{SELECT count(*) FROM got}, '4'), 'and what is sent after, exactly once');
$new->stop;
done_testing();
