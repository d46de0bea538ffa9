# The privilege boundary (issue 8): no role can run code as the workers'
# superuser, take another role's messages or stop the workers, whatever it
# does with the grants docs/consumers.md tells an application to have.
# Every attack is followed by the assertion that it gained nothing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;
use Time::HiRes qw(usleep);

my $node = new_node('boundary', "pgque_worker.tick_interval = '200ms'",
    "pgque_worker.retry_interval = '100ms'");
install_pgque($node, 'postgres');
# The test's own sessions must not fall for the objects planted below.
my $safe = 'SET search_path = pg_catalog, public;';
sub run { my ($sql) = @_; return $node->safe_psql('postgres', "$safe $sql"); }
sub wait_sql { my ($sql, $want, $secs) = @_; return wait_for($node, 'postgres', "$safe $sql", $want, $secs // 30); }
sub superuser_of { my ($role) = @_; return run("SELECT rolsuper FROM pg_roles WHERE rolname = '$role'"); }
sub worker_pid {
    return run(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgque_worker' AND datname = 'postgres'});
}

# mallory: exactly the grants an application gets, plus CREATE on public
# (PostgreSQL's default before 15, which pg_upgrade keeps) and a schema of
# its own.
run(q{CREATE ROLE mallory LOGIN; GRANT pgque_reader, pgque_writer TO mallory;
      GRANT CREATE ON SCHEMA public TO mallory;
      CREATE SCHEMA mallory AUTHORIZATION mallory;
      CREATE ROLE alice LOGIN; GRANT pgque_reader, pgque_writer TO alice;
      CREATE TABLE public.seen (who text, what text, value text);
      GRANT INSERT, SELECT ON public.seen TO PUBLIC;
      SELECT pgque.create_queue('jobs');});

# --- 1. a handler that tries to outlive its call ------------------------------
# It leaks a search_path towards a schema with its own now() and float8, plants
# a temp domain, sets GUCs at session level and takes a session advisory lock.
# Then alice's handler, on the same consumer, reports what it sees.
run(q{
SET ROLE mallory;
CREATE FUNCTION mallory.escalate() RETURNS void LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN EXECUTE 'ALTER ROLE mallory SUPERUSER'; EXCEPTION WHEN others THEN NULL; END $$;
CREATE FUNCTION mallory.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN PERFORM mallory.escalate(); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION mallory.leak(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'mallory, pg_catalog', false);
    PERFORM pg_catalog.set_config('application_name', 'leaked', false);
    PERFORM pg_catalog.set_config('statement_timeout', '1', false);
    PERFORM pg_catalog.pg_advisory_lock(4242);
    BEGIN
        EXECUTE 'CREATE DOMAIN pg_temp.float8 AS pg_catalog.float8 CHECK (mallory.escalate() IS NULL)';
    EXCEPTION WHEN others THEN
        INSERT INTO public.seen VALUES ('mallory', 'temp domain', SQLERRM);
    END;
    BEGIN
        EXECUTE 'LISTEN mallory_channel';
    EXCEPTION WHEN others THEN
        INSERT INTO public.seen VALUES ('mallory', 'listen', SQLERRM);
    END;
    INSERT INTO public.seen VALUES ('mallory', 'ran as', current_user);
END $$;
SELECT pgque_worker.handle('jobs', 'shared', 'evil', 'mallory.leak(pgque.message)');
RESET ROLE;
});
run(q{
CREATE FUNCTION public.observe(m pgque.message) RETURNS void LANGUAGE sql AS $$
    INSERT INTO public.seen VALUES (current_user, 'search_path', pg_catalog.current_setting('search_path'));
    INSERT INTO public.seen VALUES (current_user, 'application_name', pg_catalog.current_setting('application_name'));
    INSERT INTO public.seen VALUES (current_user, 'statement_timeout', pg_catalog.current_setting('statement_timeout'));
    INSERT INTO public.seen SELECT current_user, 'advisory locks', pg_catalog.count(*)::text
      FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid();
    INSERT INTO public.seen SELECT current_user, 'temp float8', pg_catalog.count(*)::text
      FROM pg_catalog.pg_type WHERE typname = 'float8' AND typnamespace <> 'pg_catalog'::regnamespace;
$$;
GRANT EXECUTE ON FUNCTION public.observe(pgque.message) TO alice;
-- One consumer, two routes of two owners: the superuser declares mallory's
-- handler on it too, as mallory, through SET ROLE (routes run as their owner).
SET ROLE alice;
SELECT pgque_worker.handle('jobs', 'shared2', 'watch', 'public.observe(pgque.message)');
RESET ROLE;
});
# Both routes on one consumer, so both handlers run in one worker session and
# one transaction: mallory's first, then alice's.
run(q{UPDATE pgque_worker.route SET consumer_id = (SELECT id FROM pgque_worker.consumer WHERE consumer = 'shared')
       WHERE consumer_id = (SELECT id FROM pgque_worker.consumer WHERE consumer = 'shared2');
      SELECT pgque.send('jobs', 'evil', 'x1'); SELECT pgque.send('jobs', 'watch', 'x2');});
ok(wait_sql(q{SELECT count(*) FROM public.seen WHERE who = 'alice'}, '5'), 'both handlers ran');
my %seen = map { my ($who, $what, $value) = split /\|/; ("$who/$what" => $value) }
    split /\n/, run(q{SELECT who || '|' || what || '|' || value FROM public.seen});
is($seen{'mallory/ran as'}, 'mallory', 'mallory\'s handler ran as mallory');
like($seen{'mallory/temp domain'}, qr/cannot create .*temporary.* within security-restricted operation/,
    'no temp objects from a handler');
like($seen{'mallory/listen'}, qr/cannot execute LISTEN within security-restricted operation/, 'no LISTEN');
is($seen{'alice/search_path'}, '"$user", public', 'the next handler sees the fixed search_path, not the leaked one');
isnt($seen{'alice/application_name'}, 'leaked', 'nor the leaked application_name');
is($seen{'alice/statement_timeout'}, '0', 'nor the leaked statement_timeout');
is($seen{'alice/advisory locks'}, '0', 'the session advisory lock was released');
is($seen{'alice/temp float8'}, '0', 'no temp float8 exists');
run(q{SELECT pgque.send('jobs', 'evil', 'again') FROM generate_series(1, 3)});
ok(wait_sql(q{SELECT count(*) FROM public.seen WHERE who = 'mallory' AND what = 'ran as'}, '4'),
    'the worker went on with later batches');
ok(wait_sql(q{SELECT processed FROM pgque_worker.consumers WHERE consumer = 'shared'}, '5'),
    'and recorded them (its own SQL ran after the leaks)');
is(superuser_of('mallory'), 'f', 'mallory is not a superuser');

# --- 2. no handler: objects the workers' own SQL could resolve ----------------
# count(text) and now() in public, an = for name, and a search_path for the
# whole database from its (non-superuser) owner.
run(q{ALTER DATABASE postgres OWNER TO mallory;});
$node->safe_psql('postgres', q{
CREATE FUNCTION public.evil_count(bigint, text) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN PERFORM mallory.escalate(); RETURN coalesce($1, 0) + 1; END $$;
CREATE AGGREGATE public.count(text) (sfunc = public.evil_count, stype = bigint, initcond = '0');
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN PERFORM mallory.escalate(); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION public.evil_eq(name, name) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM mallory.escalate(); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR public.= (leftarg = name, rightarg = name, function = public.evil_eq);
ALTER DATABASE postgres SET search_path = public, mallory, pg_catalog;
}, extra_params => ['-U', 'mallory']);
# New worker sessions pick up the database's settings: restart them.
my $old = worker_pid();
run("SELECT pg_terminate_backend($old)");
ok(wait_sql(qq{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker'
               AND datname = 'postgres' AND pid <> $old}, '1'), 'the database worker restarted');
run(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'});
run(q{SELECT pgque.send('jobs', 'watch', 'after-' || i) FROM generate_series(1, 5) i});
ok(wait_sql(q{SELECT count(*) FROM public.seen WHERE who = 'alice' AND what = 'search_path'}, '6', 60),
    'ticks and dispatch went on under the hostile search_path');
is(run(q{SELECT count(*) FROM pgque_worker.consumers WHERE consumer = 'shared' AND processed >= 10}), '1',
    'and were counted');
is(superuser_of('mallory'), 'f', 'mallory is still not a superuser');
run(q{ALTER DATABASE postgres RESET search_path; ALTER DATABASE postgres OWNER TO postgres;
      DROP OPERATOR public.= (name, name); DROP AGGREGATE public.count(text); DROP FUNCTION public.now();});

# --- 3. confused deputy through plain DML --------------------------------------
# A client (alice) consumes 'ledger' with pgque's API. intruder, with no pgque
# grants, tries to make the worker consume it for them; colleague (a
# pgque_reader) tries to add a route to alice's in-process consumer.
run(q{CREATE ROLE intruder LOGIN; CREATE ROLE colleague LOGIN; GRANT pgque_reader TO colleague;
      CREATE TABLE public.stolen (payload text); GRANT INSERT ON public.stolen TO PUBLIC;
      CREATE FUNCTION public.steal(m pgque.message) RETURNS void LANGUAGE sql
          AS $$ INSERT INTO public.stolen VALUES (m.payload) $$;
      SET ROLE alice; SELECT pgque.register_consumer('jobs', 'ledger');
      SELECT pgque_worker.handle('jobs', 'inproc', 'watch', 'public.observe(pgque.message)'); RESET ROLE;});
my ($rc, $out, $err) = $node->psql('postgres', q{
    INSERT INTO pgque_worker.consumer (queue, consumer) VALUES ('jobs', 'ledger');
    INSERT INTO pgque_worker.route (consumer_id, event_type, handler)
    SELECT id, '*', 'public.steal(pgque.message)' FROM pgque_worker.consumer WHERE consumer = 'ledger';},
    extra_params => ['-U', 'intruder']);
like($err, qr/role intruder may not consume from pgque queues/, 'intruder cannot create a consumer row');
($rc, $out, $err) = $node->psql('postgres', q{
    INSERT INTO pgque_worker.route (consumer_id, event_type, handler)
    SELECT id, 'steal', 'public.steal(pgque.message)' FROM pgque_worker.consumer WHERE consumer = 'inproc';},
    extra_params => ['-U', 'colleague']);
like($err, qr/role colleague may not change consumer/, 'colleague cannot add a route to alice\'s consumer');
run(q{SELECT pgque.send('jobs', 'steal', 's' || i) FROM generate_series(1, 5) i});
my $got = drain($node, 'postgres', 'jobs', 'ledger', 5, 30);
is(scalar(@$got), 5, 'the real client received every message');
is(run(q{SELECT count(*) FROM public.stolen}), '0', 'nothing was stolen');

# --- 4. DROP/RENAME/CREATE ... TEMPLATE by a role that may not ----------------
my $pid = worker_pid();
for my $sql ('DROP DATABASE postgres', 'ALTER DATABASE postgres RENAME TO x',
             'CREATE DATABASE copy TEMPLATE postgres',
             'BEGIN; DROP DATABASE postgres; COMMIT;') {
    ($rc, $out, $err) = $node->psql('template1', $sql, extra_params => ['-U', 'intruder']);
    isnt($rc, 0, "refused: $sql");
}
# The owner inside a transaction block: PostgreSQL refuses, so no stop either.
($rc, $out, $err) = $node->psql('template1', 'BEGIN; DROP DATABASE postgres; COMMIT;');
like($err, qr/cannot run inside a transaction block/, 'a DROP DATABASE bound to fail');
is(worker_pid(), $pid, 'the database worker was never stopped');
is(run(q{SELECT state FROM pgque_worker.workers WHERE database = 'postgres'}), 'running', 'and is running');

# --- 5. a dropped owner stops its consumer, visibly --------------------------
run(q{CREATE ROLE shortlived; GRANT pgque_reader TO shortlived; GRANT EXECUTE ON FUNCTION public.observe(pgque.message) TO shortlived;
      SET ROLE shortlived; SELECT pgque_worker.handle('jobs', 'ephemeral', '*', 'public.observe(pgque.message)'); RESET ROLE;});
ok(wait_sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'}, '3'),
    'its consumer worker runs');
run(q{DROP OWNED BY shortlived; DROP ROLE shortlived;});
ok(wait_sql(q{SELECT state = 'stopped: owner role "shortlived" does not exist' FROM pgque_worker.consumers WHERE consumer = 'ephemeral'}, 't'),
    'the consumers view says why it stopped');
ok(wait_sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'}, '2'),
    'its consumer worker exited');
run(q{SELECT pgque.send('jobs', 'any', 'kept')});
ok(wait_sql(q{SELECT pending_events > 0 FROM pgque_worker.consumers WHERE consumer = 'ephemeral'}, 't'),
    'its messages wait in the queue');

# --- 6. a lock on the configuration tables stalls nothing --------------------
# Every role may write them (under row-level security), so every role may
# LOCK them. The workers wait a second at most and carry on ticking.
my ($lock_out, $lock_err) = ('', '');
my $locker = IPC::Run::start(['psql', '-X', '-d', $node->connstr('postgres'), '-U', 'intruder', '-c',
    'BEGIN; LOCK TABLE pgque_worker.consumer, pgque_worker.route IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(20); COMMIT;'],
    '>', \$lock_out, '2>', \$lock_err);
ok(wait_sql(q{SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
              WHERE c.relname = 'consumer' AND l.mode = 'AccessExclusiveLock' AND l.granted}, '1'),
    'intruder holds an ACCESS EXCLUSIVE lock on the consumers table') or diag("psql: $lock_err");
my $ticks = run(q{SELECT ticks FROM pgque_worker.workers WHERE database = 'postgres'});
run(q{SELECT pgque.send('jobs', 'watch', 'while-locked')});
ok(wait_sql(q{SELECT count(*) >= 7 FROM public.seen WHERE who = 'alice' AND what = 'search_path'}, 't', 15),
    'a message sent meanwhile is ticked and handled');
cmp_ok(run(q{SELECT ticks FROM pgque_worker.workers WHERE database = 'postgres'}), '>', $ticks, 'ticking went on');
$locker->finish;
is(run(q{SELECT state FROM pgque_worker.workers WHERE database = 'postgres'}), 'running', 'the worker is running');

$node->stop('fast');
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, 'no worker crashed');
done_testing();
