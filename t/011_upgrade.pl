# ALTER EXTENSION ... UPDATE of pgque_worker and pgque_pgq from 0.1.0 to
# 0.2.0: an updated database is the same as a fresh 0.2.0 one, catalog by
# catalog, for both schemas; keeps its
# consumers, routes, secrets and pending events, moves header values to the
# owner-only table, and goes on dispatching with nothing lost.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('upgrade', "pgque_worker.tick_interval = '200ms'",
    "pgque_worker.http_allowed_hosts = '127.0.0.1'");

# Every object of schema pgque_worker, described by what it does, not by oid.
my $describe_worker = q{
SELECT string_agg(line, E'\n' ORDER BY line) FROM (
  SELECT 'column ' || c.relname || ': ' ||
         string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                    || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                    || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum)
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
   WHERE c.relnamespace = 'pgque_worker'::regnamespace GROUP BY c.relname
  UNION ALL
  SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' rls=' || c.relrowsecurity
         || ' acl=' || coalesce(c.relacl::text, '') || ' options=' || coalesce(c.reloptions::text, '')
    FROM pg_class c WHERE c.relnamespace = 'pgque_worker'::regnamespace
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'pgque_worker'::regnamespace
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index
   WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'pgque_worker'::regnamespace)
  UNION ALL
  SELECT 'policy ' || tablename || ' ' || policyname || ' ' || permissive || ' ' || roles::text || ' ' || cmd
         || ' using ' || coalesce(qual, '') || ' check ' || coalesce(with_check, '')
    FROM pg_policies WHERE schemaname = 'pgque_worker'
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t
   WHERE NOT t.tgisinternal
     AND t.tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'pgque_worker'::regnamespace)
  UNION ALL
  SELECT 'function ' || pg_get_functiondef(p.oid) || ' acl=' || coalesce(p.proacl::text, '')
    FROM pg_proc p WHERE p.pronamespace = 'pgque_worker'::regnamespace
  UNION ALL
  SELECT 'view ' || c.relname || ' ' || pg_get_viewdef(c.oid)
    FROM pg_class c WHERE c.relnamespace = 'pgque_worker'::regnamespace AND c.relkind = 'v'
  UNION ALL
  SELECT 'config dump ' || x::regclass::text || ' ' || coalesce(f, '')
    FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(x, f) WHERE e.extname = 'pgque_worker'
  UNION ALL
  SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM pg_depend
   WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
     AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgque_worker')
  UNION ALL
  SELECT 'version ' || extversion FROM pg_extension WHERE extname = 'pgque_worker'
) lines(line)};

$node->safe_psql('postgres', 'CREATE DATABASE fresh; CREATE DATABASE upgraded;');
# The same description for any schema (and its extension).
sub describe {
    my ($db, $schema, $extension) = @_;
    (my $sql = $describe_worker) =~ s/pgque_worker/$extension/g;
    $sql =~ s/'$extension'::regnamespace/'$schema'::regnamespace/g;
    $sql =~ s/schemaname = '$extension'/schemaname = '$schema'/g;
    return $node->safe_psql($db, $sql);
}
$node->safe_psql('fresh', 'CREATE EXTENSION pgque_pgq CASCADE; CREATE EXTENSION pgque_worker;');
$node->safe_psql('upgraded', q{
    CREATE EXTENSION pgque_pgq VERSION '0.1.0' CASCADE; CREATE EXTENSION pgque_worker VERSION '0.1.0';
    CREATE ROLE app; GRANT pgque_reader, pgque_writer TO app;
    CREATE TABLE got (payload text); GRANT INSERT ON got TO app;
    CREATE FUNCTION keep(m pgque.message) RETURNS void LANGUAGE sql AS $$ INSERT INTO got VALUES (m.payload) $$;
    SELECT pgque.create_queue('q');
    SET ROLE app;
    SELECT pgque_worker.handle('q', 'sql_consumer', '*', 'keep(pgque.message)', '30 days');
    SELECT pgque_worker.handle_http('q', 'http_consumer', '*', 'http://127.0.0.1:9/hook',
        '{"Authorization": "Bearer t0ken"}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    SELECT pgque_worker.set_consumer('q', 'http_consumer', poll_interval => '2 days', enabled => false);
    RESET ROLE;
    SELECT pgque.send('q', 'e', 'before-' || i) FROM generate_series(1, 3) i;});
is($node->safe_psql('upgraded', q{SELECT extversion FROM pg_extension WHERE extname = 'pgque_worker'}), '0.1.0',
    'a 0.1.0 database with consumers, routes, secrets and pending events');
ok(wait_for($node, 'upgraded', q{SELECT last_error LIKE '%runs no consumers until ALTER EXTENSION pgque_worker UPDATE'
                                  FROM pgque_worker.workers WHERE database = 'upgraded'}, 't'),
    'the new module serves it but runs no consumers on the old schema, and says so');
is($node->safe_psql('upgraded', q{SELECT count(*) FROM got}), '0', 'so nothing was dispatched yet');

$node->safe_psql('upgraded', 'ALTER EXTENSION pgque_pgq UPDATE; ALTER EXTENSION pgque_worker UPDATE;');
for my $pair (['pgque_worker', 'pgque_worker'], ['pgque', 'pgque_pgq']) {
    my $fresh = describe('fresh', @$pair);
    my $upgraded = describe('upgraded', @$pair);
    ok(length($fresh) > 5000, "the description covers schema $pair->[0]");
    is($upgraded, $fresh, "extension $pair->[1], updated, is the same as a fresh 0.2.0 one") or do {
        my $dir = $PostgreSQL::Test::Utils::tmp_check;
        PostgreSQL::Test::Utils::append_to_file("$dir/$pair->[0].fresh", $fresh);
        PostgreSQL::Test::Utils::append_to_file("$dir/$pair->[0].upgraded", $upgraded);
        diag(scalar `diff $dir/$pair->[0].fresh $dir/$pair->[0].upgraded`);
    };
}

is($node->safe_psql('upgraded', q{SELECT count(*) FROM pgque_worker.consumer}), '2', 'consumers kept');
is($node->safe_psql('upgraded', q{SELECT header_names::text || ' ' || secret FROM pgque_worker.handlers WHERE kind = 'http'}),
    '{Authorization} ********', 'the header value moved out of sight, the secret kept');
is($node->safe_psql('upgraded', q{SET ROLE app; SELECT headers ->> 'Authorization' FROM pgque_worker.route_secret}),
    'Bearer t0ken', 'and its owner still reads it');
is($node->safe_psql('upgraded', q{SELECT timeout FROM pgque_worker.handlers WHERE kind = 'sql'}), '24 days',
    'an out-of-range timeout was clamped');
is($node->safe_psql('upgraded', q{SELECT poll_interval FROM pgque_worker.consumers WHERE consumer = 'http_consumer'}),
    '1 day', 'and an out-of-range poll_interval');
ok(wait_for($node, 'upgraded', q{SELECT string_agg(payload, ',' ORDER BY payload) FROM got}, 'before-1,before-2,before-3'),
    'the pending events were dispatched after the update');
$node->safe_psql('upgraded', q{SELECT pgque.send('q', 'e', 'after')});
ok(wait_for($node, 'upgraded', q{SELECT count(*) FROM got}, '4'), 'and new ones too, exactly once');

$node->stop('fast');
done_testing();
