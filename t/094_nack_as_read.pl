# The workers' nack as read (pgque._nack_read, run as the workers' role) as an
# attacker and a DBA see it: only pgque_admin may call _nack_read; a failed
# message goes to its retry or its dead letter exactly as it was sent (hostile
# payloads and extras, NULLs, a large payload), whatever the DateStyle and
# TimeZone its database sets; and where the engine is not pgque_pgq a
# function of that name is never called (upstream pgque: skipped without
# PGQUE_UPSTREAM_SQL).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use PgqueWorkerTest;
use Test::More;

my $node = new_node('nack_as_read');
my $db = 'app';
$node->safe_psql('postgres', qq{
    CREATE DATABASE $db;
    -- Timestamps in this text form name the zone by an abbreviation, which
    -- input reads by timezone_abbreviations: IST is Israel's (+02), not India's.
    ALTER DATABASE $db SET timezone = 'Asia/Kolkata';
    ALTER DATABASE $db SET DateStyle = 'SQL, DMY';
});
install_pgque($node, $db);

# Who may call it: pgque_admin (and superusers) only.
$node->safe_psql($db, q{
    CREATE ROLE r_reader LOGIN IN ROLE pgque_reader;
    CREATE ROLE r_writer LOGIN IN ROLE pgque_writer;
    CREATE ROLE r_admin LOGIN IN ROLE pgque_admin;
    CREATE ROLE r_nobody LOGIN;
    CREATE ROLE r_backup LOGIN BYPASSRLS;
    CREATE ROLE r_public_creator LOGIN;
    GRANT CREATE ON SCHEMA public TO r_public_creator;
    CREATE ROLE r_dbowner LOGIN;
});
$node->safe_psql('postgres', "ALTER DATABASE $db OWNER TO r_dbowner");
for my $role (qw(r_reader r_writer r_nobody r_backup r_public_creator r_dbowner)) {
    my ($rc, $out, $err) = $node->psql($db, q{SELECT pgque._nack_read(1, '(1,1,t,p,0,2026-01-01 00:00+00,,,,)', '1 s', 'x')},
                                       extra_params => ['-U', $role]);
    like($err, qr/permission denied for (function _nack_read|schema pgque)/, "$role may not call _nack_read");
}
is($node->safe_psql($db, q{SELECT has_function_privilege('r_admin',
        'pgque._nack_read(bigint,pgque.message,interval,text,xid8)', 'EXECUTE')}), 't', 'pgque_admin may');

# A consumer whose handler fails for every message: each is nacked as read.
my $hostile = q{'a"b(c),d\\\\e' || chr(10) || '''f' || chr(128512)};
$node->safe_psql($db, qq{
    CREATE FUNCTION fails(m pgque.message) RETURNS void LANGUAGE plpgsql AS \$\$
    BEGIN RAISE EXCEPTION 'no: %', m.msg_id; END \$\$;
    SELECT pgque.create_queue('retried'), pgque.create_queue('dead');
    SELECT pgque.set_queue_config('dead', 'max_retries', '0');
    SELECT pgque_worker.handle(q, 'c', '*', 'fails(pgque.message)') FROM unnest(ARRAY['retried', 'dead']) q;
    SELECT pgque_worker.set_consumer(q, 'c', retry_after => '1 hour') FROM unnest(ARRAY['retried', 'dead']) q;
    CREATE TABLE sent AS SELECT q, i,
           pgq.insert_event(q, CASE i WHEN 1 THEN $hostile ELSE 't' || i END,
                            CASE i WHEN 1 THEN $hostile WHEN 2 THEN NULL WHEN 3 THEN '' ELSE repeat('x', 4000000) END,
                            CASE i WHEN 1 THEN $hostile END, CASE i WHEN 1 THEN '' END, NULL,
                            CASE i WHEN 4 THEN repeat('y', 1000) END) AS ev_id
      FROM unnest(ARRAY['retried', 'dead']) q, generate_series(1, 4) i;
});
ok(wait_for($node, $db, 'SELECT count(*) FROM pgq.retry_queue', '4', 60), 'the 4 failures of "retried" were nacked');
ok(wait_for($node, $db, 'SELECT count(*) FROM pgque.dead_letter', '4', 60), 'the 4 failures of "dead" were dead-lettered');
for my $q ('retried', 'dead') {
    my $table = $node->safe_psql($db, "SELECT queue_data_pfx FROM pgq.queue WHERE queue_name = '$q'");
    my $kept = $q eq 'retried'
        ? 'SELECT ev_id, ev_time, ev_retry - 1 AS ev_retry, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4 FROM pgq.retry_queue'
        : 'SELECT ev_id, ev_time, ev_retry, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4 FROM pgque.dead_letter';
    my $same = sub {
        my ($columns) = @_;
        (my $kept_columns = $columns) =~ s/(\w+)/k.$1/g;
        (my $sent_columns = $columns) =~ s/(\w+)/e.$1/g;
        return $node->safe_psql($db, qq{
            SELECT count(*) FROM ($kept) k JOIN $table e ON e.ev_id = k.ev_id
             WHERE ($kept_columns) IS NOT DISTINCT FROM ($sent_columns)});
    };
    is($same->('ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4'), '4',
       "$q: every failed message kept with its type, payload and extras as sent");
    is($same->('ev_time'), '4', "$q: and with its time as sent, in its database's DateStyle and TimeZone");
    is($node->safe_psql($db, "SELECT count(*) FROM ($kept) k WHERE coalesce(k.ev_retry, 0) = 0"), '4',
       "$q: retried once");
}
$node->stop('fast');

# Upstream pgque: the workers nack through pgque.nack even when schema pgque
# holds a function named like pgque_pgq's (here one a superuser put there, so
# that the database stays served): it is not pgque_pgq's, and never called.
SKIP: {
    skip 'upstream pgque: set PGQUE_UPSTREAM_SQL', 4 unless $ENV{PGQUE_UPSTREAM_SQL} && -r $ENV{PGQUE_UPSTREAM_SQL};
    my $up = new_node('nack_as_read_upstream');
    $up->safe_psql('postgres', 'CREATE DATABASE up');
    $up->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $up->connstr('up'),
                     '-f', $ENV{PGQUE_UPSTREAM_SQL}], 'upstream pgque installs');
    $up->safe_psql('up', 'CREATE EXTENSION pgque_worker');
    $up->safe_psql('up', q{
        CREATE TABLE planted_calls (n int);
        CREATE FUNCTION pgque._nack_read(batch_id bigint, msg pgque.message, retry_after interval,
                                         reason text, ev_txid xid8 default null)
        RETURNS integer LANGUAGE sql AS $$ INSERT INTO public.planted_calls VALUES (1) RETURNING 1 $$;
        CREATE FUNCTION fails(m pgque.message) RETURNS void LANGUAGE plpgsql AS $f$
        BEGIN RAISE EXCEPTION 'no'; END $f$;
        SELECT pgque.create_queue('q');
        SELECT pgque_worker.handle('q', 'c', '*', 'fails(pgque.message)');
        SELECT pgque_worker.set_consumer('q', 'c', retry_after => '1 hour');
        SELECT pgque.send('q', 'e', 'x');
    });
    ok(wait_for($up, 'up', 'SELECT count(*) FROM pgque.retry_queue', '1', 60), 'upstream: the failure was nacked');
    is($up->safe_psql('up', 'SELECT count(*) FROM planted_calls'), '0', 'upstream: the planted _nack_read was not called');
    is($up->safe_psql('up', q{SELECT ev_data || '/' || ev_retry FROM pgque.retry_queue}), 'x/1',
       'upstream: pgque.nack kept the message');
    $up->stop('fast');
}
done_testing();
