# Regressions of the security review of 0.2.0 (each attack once made a
# non-superuser a superuser, or sent a webhook where it may not go):
#   H1 pgque.maint() ran any londiste/pgq_node function PgQ found by name;
#   H2 the workers and a SECURITY DEFINER view helper called a pgque schema
#      that a non-superuser had created;
#   H3 a BYPASSRLS role wrote config rows owned by a superuser;
#   M1 a member of a consumer's owner group took over another member's
#      route and with it her secret headers.
# (H4, zone ids in URLs, is a unit test: http_target_test.cpp.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgqueWorkerTest;

my $node = new_node('review', "pgque_worker.tick_interval = '200ms'", "pgque_worker.maint_interval = '1s'",
    "pgque_worker.http_allowed_hosts = '127.0.0.1, *.allowed.test'");
my $superuser = sub { $node->safe_psql('postgres', qq{SELECT rolsuper FROM pg_roles WHERE rolname = '$_[0]'}) };

# --- H1: a role with CREATE on the database plants londiste's hook ----------
$node->safe_psql('postgres', q{
    CREATE ROLE dbo LOGIN;
    CREATE DATABASE app OWNER dbo;
});
install_pgque($node, 'app');
$node->safe_psql('app', q{SELECT pgque.create_queue('q1')});
$node->safe_psql('app', q{
    SET ROLE dbo;
    CREATE SCHEMA londiste;
    CREATE FUNCTION londiste.periodic_maintenance(text) RETURNS int LANGUAGE plpgsql
        AS $$ BEGIN EXECUTE 'ALTER ROLE dbo SUPERUSER'; RETURN 0; END $$;
});
my ($rc, $out, $err) = $node->psql('app', 'SELECT pgque.maint()');
is($rc, 0, 'pgque.maint() runs');
like($err, qr/skipping maintenance operation londiste\.periodic_maintenance: it is not a function of a superuser/,
    'and says it skipped the planted londiste hook');
is($superuser->('dbo'), 'f', 'the planted hook did not run as a superuser (maint by hand)');
ok(wait_for($node, 'app', q{SELECT count(*) > 0 FROM pgque_worker.workers WHERE database = 'app' AND last_maintenance IS NOT NULL},
    't'), 'the worker ran maintenance too');
is($superuser->('dbo'), 'f', 'nor when the worker maintains the queues');

# --- H2: a pgque schema of a non-superuser -----------------------------------
$node->safe_psql('postgres', q{CREATE ROLE dbo2 LOGIN; CREATE DATABASE app2 OWNER dbo2;});
$node->safe_psql('app2', q{CREATE EXTENSION pgque_worker});
my $escalate = q{LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'ALTER ROLE dbo2 SUPERUSER'; END $$};
$node->safe_psql('app2', qq{
    SET ROLE dbo2;
    CREATE SCHEMA pgque;
    CREATE FUNCTION pgque.get_consumer_info(queue text, consumer text, OUT lag interval, OUT pending_events bigint)
        RETURNS SETOF record $escalate;
    CREATE FUNCTION pgque.get_queue_info(OUT queue_name text, OUT ev_new bigint, OUT queue_ticker_paused bool,
        OUT queue_external_ticker bool, OUT last_tick_id bigint, OUT ticker_lag interval)
        RETURNS SETOF record $escalate;
    CREATE FUNCTION pgque.get_consumer_info(OUT queue_name text, OUT consumer_name text, OUT current_batch bigint,
        OUT last_tick bigint) RETURNS SETOF record $escalate;
    CREATE FUNCTION pgque.ticker(text) RETURNS bigint $escalate;
    CREATE FUNCTION pgque.force_next_tick(text) RETURNS bigint $escalate;
    CREATE FUNCTION pgque.maint_retry_events() RETURNS int $escalate;
    CREATE FUNCTION pgque.maint() RETURNS int $escalate;
});
is($node->safe_psql('app2', q{SET ROLE dbo2; SELECT lag IS NULL FROM pgque_worker._consumer_lag('x', 'y')}), 't',
    'the consumers view asks no lag of a pgque schema that a non-superuser owns');
is($node->safe_psql('app2', q{SET ROLE dbo2; SELECT count(*) FROM pgque_worker.queue_metrics}), '0',
    'nor do the queue metrics');
is($superuser->('dbo2'), 'f', 'so its functions did not run as a superuser');
ok(wait_for($node, 'app2', q{SELECT state || ': ' || last_error FROM pgque_worker.workers WHERE database = 'app2'},
    'refused: schema pgque or a function or table in it belongs to a role that is not a superuser; the workers call '
    . 'the pgque API with their own privileges and serve only an API installed by a superuser'),
    'the worker refuses to serve the database, and says why');
is($superuser->('dbo2'), 'f', 'and never called the planted API');

# --- H3: a BYPASSRLS role (a backup role) names a superuser as owner ---------
$node->safe_psql('app', q{
    CREATE ROLE backup LOGIN BYPASSRLS; GRANT pg_read_all_data, pgque_reader TO backup;
    CREATE ROLE alice LOGIN; GRANT pgque_reader TO alice;
    GRANT CREATE ON SCHEMA public TO backup;
});
$node->safe_psql('app', q{SET ROLE alice; SELECT pgque_worker.set_consumer('q1', 'alices')});
$node->safe_psql('app', q{
    SET ROLE backup;
    CREATE FUNCTION public.own(m pgque.message) RETURNS void LANGUAGE plpgsql
        AS $$ BEGIN EXECUTE 'ALTER ROLE backup SUPERUSER'; END $$;
});
for my $case (
    [q{INSERT INTO pgque_worker.consumer (queue, consumer, owner) VALUES ('q1', 'esc', 'postgres')},
     qr/role backup may not write a row of pgque_worker\.consumer owned by role postgres/, 'insert a consumer of a superuser'],
    [q{UPDATE pgque_worker.consumer SET owner = 'postgres' WHERE consumer = 'alices'},
     qr/this row of pgque_worker\.consumer belongs to role alice/, 'take over another role\'s consumer'],
    [q{DELETE FROM pgque_worker.consumer WHERE consumer = 'alices'},
     qr/this row of pgque_worker\.consumer belongs to role alice/, 'delete another role\'s consumer'],
    [q{INSERT INTO pgque_worker.route (consumer_id, event_type, handler, owner)
         SELECT id, '*', 'public.own(pgque.message)', 'postgres' FROM pgque_worker.consumer WHERE consumer = 'alices'},
     qr/role backup may not write a row of pgque_worker\.route owned by role postgres/, 'route a superuser\'s messages to its function'],
    [q{INSERT INTO pgque_worker.route (consumer_id, event_type, handler, owner)
         SELECT id, '*', 'public.own(pgque.message)', 'backup' FROM pgque_worker.consumer WHERE consumer = 'alices'},
     qr/role backup may not change consumer/, 'add a route of its own to another role\'s consumer'],
) {
    my ($sql, $error, $what) = @$case;
    ($rc, $out, $err) = $node->psql('app', "SET ROLE backup; $sql");
    like($err, $error, "a BYPASSRLS role may not $what");
}
is($node->safe_psql('app', q{SELECT string_agg(owner || ':' || consumer, ',') FROM pgque_worker.consumer}),
    'alice:alices', 'the configuration is as alice left it');
is($superuser->('backup'), 'f', 'the backup role is no superuser');

# --- M1: one member of an owner group takes over another's route -------------
my $receiver = start_receiver('review');
$node->safe_psql('app', q{
    CREATE ROLE grp NOLOGIN; GRANT pgque_reader TO grp;
    CREATE ROLE carol LOGIN; CREATE ROLE bob LOGIN;
    GRANT grp TO carol, bob;
    SET ROLE grp;
    SELECT pgque_worker.set_consumer('q1', 'shared', enabled => false);
});
$node->safe_psql('app', qq{SET ROLE carol;
    SELECT pgque_worker.handle_http('q1', 'shared', 'paid', '$receiver->{base}/carol',
        headers => '{"Authorization": "Bearer CAROL-TOKEN"}', secret => 'whsec_Q0FST0xTSUdOSU5HS0VZ')});
($rc, $out, $err) = $node->psql('app', qq{SET ROLE bob;
    SELECT pgque_worker.handle_http('q1', 'shared', 'paid', '$receiver->{base}/bob')});
like($err, qr/this row of pgque_worker\.route belongs to role carol/,
    'another member of the owner group may not replace her route through the API');
($rc, $out, $err) = $node->psql('app', qq{SET ROLE bob;
    UPDATE pgque_worker.route SET owner = 'bob', url = '$receiver->{base}/bob' WHERE event_type = 'paid'});
like($err, qr/this row of pgque_worker\.route belongs to role carol/, 'nor through plain DML');
is($node->safe_psql('app', q{SELECT owner || ' ' || target FROM pgque_worker.handlers WHERE consumer = 'shared'}),
    "carol $receiver->{base}/carol", 'the route is still hers, to her URL');
stop_receiver($receiver);

is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolsuper AND rolname <> 'postgres'}), '0',
    'no role became a superuser');
ok(!$node->log_contains('terminated by signal'), 'no process crashed');
done_testing();
