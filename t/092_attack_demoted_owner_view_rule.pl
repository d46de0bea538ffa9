# Found by an attacker review (the window t/091 closes), kept as a test. The
# superuser who installed the pgque API is demoted (ALTER ROLE inst
# NOSUPERUSER). As the owner of view pgque.queue, inst replaces its _RETURN
# rule (pg_rewrite only: a relcache invalidation, no pg_class/pg_proc/
# pg_namespace syscache invalidation, so the worker's catalog_changed flag
# stays down) with one that calls the built-in query_to_xml(). The next
# commit to a queue the database worker has not named yet makes it read
# pgque.queue (kQueueNamesPgqueSql, as superuser): query_to_xml runs
# 'ALTER ROLE inst SUPERUSER' with the worker's privileges (refused only
# because query_to_xml is STABLE), and pg_read_file() (superuser only) reads
# a server file into the error that pgque_worker.workers shows everyone.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('attack_rule', "pgque_worker.tick_interval = '1s'");
$node->safe_psql('postgres', q{CREATE ROLE inst LOGIN SUPERUSER;
    SET ROLE inst; CREATE EXTENSION pgque_pgq CASCADE; CREATE EXTENSION pgque_worker; RESET ROLE;
    SELECT pgque.create_queue('q'); SELECT pgque.create_queue('q2');});
ok(wait_for($node, 'postgres', q{SELECT count(*) FROM pgque_worker.workers WHERE state = 'running'}, '1', 20),
    'the worker serves the database');
# A full pass just happened (the first one); the next is ~10 s away. Two
# periodic passes consume the catalog changes of the installation.
sleep 2;
$node->safe_psql('postgres', q{ALTER ROLE inst NOSUPERUSER});
$node->safe_psql('postgres', q{SET ROLE inst;
    CREATE OR REPLACE RULE "_RETURN" AS ON SELECT TO pgque.queue DO INSTEAD
        SELECT q.*, (SELECT s.max_retries FROM pgque.queue_setting s WHERE s.queue_id = q.queue_id) AS queue_max_retries
          FROM pgq.queue q
         WHERE pg_catalog.pg_read_file('postgresql.conf', 0, 60)::int IS NOT NULL
            OR pg_catalog.query_to_xml('ALTER ROLE inst SUPERUSER', false, false, '') IS NOT NULL;});
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'inst'}), 'f', 'inst was demoted');
$node->safe_psql('postgres', q{SELECT pgque.send('q2', 't', 'wake')});
wait_for($node, 'postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'inst'}, 't', 5);
my $seen = $node->safe_psql('postgres', q{SET ROLE inst; SELECT state || ' ' || coalesce(last_error, '') FROM pgque_worker.workers});
note $seen;
unlike($seen, qr/not allowed in a non-volatile function|invalid input syntax/,
    'the superuser worker never ran the rule inst wrote after the demotion');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'inst'}), 'f',
    'the demoted owner of the pgque API did not get superuser back through the worker');
done_testing();
