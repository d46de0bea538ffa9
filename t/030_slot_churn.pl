# The slot protocol under churn (issue 11): 100 cycles of creating and
# dropping consumers, databases and the extension while events flow, with a
# sampler of pg_stat_activity every 10 ms; afterwards every slot is free and
# max_consumer_workers consumers still start. Then the limits are lowered and
# raised at run time with the views' states checked at each step, a fifth
# database shows why it is not served, and pause() logs no FATAL.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = new_node('churn', "pgque_worker.tick_interval = '100ms'", 'pgque_worker.max_consumer_workers = 4',
    'max_worker_processes = 24');
install_pgque($node, 'postgres');
sub run { my ($sql, $db) = @_; return $node->safe_psql($db // 'postgres', $sql); }
sub wait_sql { my ($sql, $want, $secs) = @_; return wait_for($node, 'postgres', $sql, $want, $secs // 30); }
sub consumer_states {
    return qq{SELECT string_agg(consumer || '=' || replace(state, 'idle', 'running'), ',' ORDER BY consumer)
                FROM pgque_worker.consumers};
}

# The handler records which process handled which delivery.
my $handler_sql = q{
    CREATE TABLE seen (batch_id bigint, msg_id bigint, pid int);
    CREATE FUNCTION h(m pgque.message) RETURNS void LANGUAGE sql
        AS $$ INSERT INTO public.seen VALUES (m.batch_id, m.msg_id, pg_catalog.pg_backend_pid()) $$;
    GRANT INSERT ON seen TO PUBLIC;
};
run($handler_sql . q{ SELECT pgque.create_queue('q'); SELECT pgque_worker.handle('q', 'steady', '*', 'h(pgque.message)');});
run('CREATE DATABASE other');
install_pgque($node, 'other');
run($handler_sql . q{ SELECT pgque.create_queue('q');}, 'other');
# Databases of the churn are copies of a template (not served: a template)
# with a consumer declared.
run('CREATE DATABASE tmpl');
install_pgque($node, 'tmpl');
run($handler_sql . q{ SELECT pgque.create_queue('q'); SELECT pgque_worker.handle('q', 'dc', '*', 'h(pgque.message)');},
    'tmpl');
run('ALTER DATABASE tmpl IS_TEMPLATE true');

# The sampler: one psql session running, every 10 ms, (1) consumers that two
# slots name at once, each with a live process, and (2) consumers that two
# live processes dispatch at once (pg_stat_activity's query names them).
my $samples = "$PostgreSQL::Test::Utils::tmp_check/churn_samples.txt";
my $sampler_sql = q{
SELECT 'sample ' ||
  (SELECT count(*) FROM (SELECT s.database, s.consumer_id FROM pgque_worker._slot_table() s
                           JOIN pg_catalog.pg_stat_activity a ON a.pid = s.pid
                          WHERE s.kind = 'consumer' GROUP BY 1, 2 HAVING count(*) > 1) d) || ' ' ||
  (SELECT count(*) FROM (SELECT datname, query FROM pg_catalog.pg_stat_activity
                          WHERE backend_type = 'pgque_worker consumer' AND state = 'active'
                            AND query LIKE 'pgque_worker: consumer "%'
                          GROUP BY 1, 2 HAVING count(*) > 1) a)
\watch 0.01
};
my $sampler_file = "$PostgreSQL::Test::Utils::tmp_check/churn_sampler.sql";
open(my $fh, '>', $sampler_file) or die $!;
print $fh $sampler_sql;
close($fh);
# IPC::Run feeds stdin only when pumped: the script is a file instead.
my $sampler = IPC::Run::start(
    [ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-f', $sampler_file ],
    '>', $samples, '2>', \my $sampler_err,
    IPC::Run::timeout(900));

my $cycle_errors = 0;
my $drop_retries = 0;
my $churn_offset = -s $node->logfile;
for my $i (1 .. 100) {
    my $c = "churn$i";
    # One psql per cycle (each statement commits on its own). Every other
    # cycle lets the process start (polling the view, at most 5 s); the
    # others drop it at once (while registered, or attaching).
    my $wait_started = $i % 2 ? qq{
        DO \$\$ BEGIN
            FOR i IN 1 .. 250 LOOP
                EXIT WHEN EXISTS (SELECT FROM pgque_worker.consumers WHERE consumer = '$c' AND pid IS NOT NULL);
                PERFORM pg_catalog.pg_sleep(0.02);
            END LOOP;
        END \$\$;} : '';
    my $pause = $i % 3 == 0 ? qq{SELECT pgque_worker.pause('q', '$c'); SELECT pgque_worker.resume('q', '$c');} : '';
    my ($rc, $out, $err) = $node->psql('postgres', qq{
        SELECT pgque_worker.handle('q', '$c', '*', 'h(pgque.message)');
        SELECT pgque.send('q', 'e$i');
        $wait_started
        $pause}, on_error_stop => 1);
    $cycle_errors++ if $rc != 0;
    diag("cycle $i: $err") if $rc != 0;
    # Unregistering a consumer whose batch is open can deadlock with that
    # batch's ack in PgQ (the user's statement is the one cancelled): tried
    # again, as a client would.
    for my $try (1 .. 5) {
        ($rc, $out, $err) = $node->psql('postgres', qq{SELECT pgque_worker.drop_consumer('q', '$c', true)});
        last if $rc == 0;
        $drop_retries++;
        last unless $err =~ /deadlock detected/;
    }
    $cycle_errors++ if $rc != 0;
    if ($i % 10 == 0) {
        # A database with a running consumer, dropped while events flow.
        run("CREATE DATABASE d$i TEMPLATE tmpl");
        run(q{SELECT pgque.send('q', 'x')}, "d$i");
        wait_sql(qq{SELECT count(*) FROM pgque_worker._slot_table() s JOIN pg_database d ON d.oid = s.database
                     WHERE d.datname = 'd$i' AND s.kind = 'consumer' AND s.pid IS NOT NULL}, '1', 10) if $i % 20;
        ($rc, $out, $err) = $node->psql('postgres', "DROP DATABASE d$i");
        $cycle_errors++ if $rc != 0;
        diag("DROP DATABASE d$i: $err") if $rc != 0;
    }
    if ($i % 10 == 5) {
        # The extension dropped under a running consumer, and created again.
        run(q{SELECT pgque_worker.handle('q', 'o1', '*', 'h(pgque.message)'); SELECT pgque.send('q', 'y');}, 'other');
        wait_sql(q{SELECT count(*) FROM pgque_worker._slot_table() s JOIN pg_database d ON d.oid = s.database
                    WHERE d.datname = 'other' AND s.kind = 'consumer' AND s.pid IS NOT NULL}, '1', 10);
        run('DROP EXTENSION pgque_worker; CREATE EXTENSION pgque_worker;', 'other');
    }
}
is($cycle_errors, 0, '100 churn cycles ran without an error');
my @fatal = grep { /FATAL/ } split /\n/, slurp_file($node->logfile, $churn_offset);
is(scalar(@fatal), 0, 'the churn logged no FATAL (every stop it asked for was clean)') or diag(join("\n", @fatal[0 .. 4]));

# Afterwards: only the steady consumer holds a slot; dropped databases hold none.
ok(wait_sql(q{SELECT string_agg(s.kind || ':' || coalesce(c.consumer, d.datname), ','
                                ORDER BY s.kind || ':' || coalesce(c.consumer, d.datname))
                FROM pgque_worker._slot_table() s
                LEFT JOIN pg_database d ON d.oid = s.database
                LEFT JOIN pgque_worker.consumer c ON c.id = s.consumer_id AND s.kind = 'consumer'
               WHERE s.phase <> 'free'},
    'consumer:steady,database:other,database:postgres', 30),
    'after the churn only the steady consumer and the two databases hold slots')
    or diag(run(q{SELECT * FROM pgque_worker._slot_table() WHERE phase <> 'free'}));
# SIGINT ends \watch; psql then reaches the end of its script and exits,
# flushing what it sampled.
$sampler->signal('INT');
$sampler->finish;
diag("sampler: $sampler_err") if $sampler_err;
my @samples = grep { /^sample / } split /\n/, slurp_file($samples);
my $dup_slots = 0;
my $dup_active = 0;
for (@samples) { my (undef, $s, $a) = split / /; $dup_slots += $s; $dup_active += $a; }
cmp_ok(scalar(@samples), '>', 100, 'the sampler ran during the churn');
is($dup_slots, 0, 'no sample saw two live processes in slots of one consumer');
is($dup_active, 0, 'no sample saw two processes dispatching one consumer');
is(run(q{SELECT count(*) FROM (SELECT batch_id, msg_id FROM seen GROUP BY 1, 2 HAVING count(DISTINCT pid) > 1) d}),
    '0', 'no delivery was handled by two processes');
diag(sprintf('churn: 100 cycles, %d samples, duplicate slots seen %d, duplicate dispatchers seen %d, '
    . 'drop_consumer retried after a deadlock %d times', scalar(@samples), $dup_slots, $dup_active, $drop_retries));

run(q{SELECT pgque_worker.drop_consumer('q', 'steady', true)});
ok(wait_sql(q{SELECT count(*) FROM pgque_worker._slot_table() WHERE kind = 'consumer' AND phase <> 'free'}, '0'),
    'every consumer slot is free once the consumers are dropped');

# max_consumer_workers (4) consumers can still start; a fifth waits.
run(q{SELECT pgque_worker.handle('q', 'c' || i, '*', 'h(pgque.message)') FROM generate_series(1, 4) i});
ok(wait_sql(consumer_states(), 'c1=running,c2=running,c3=running,c4=running'),
    'max_consumer_workers consumers still start after the churn');
run(q{SELECT pgque_worker.handle('q', 'c5', '*', 'h(pgque.message)')});
ok(wait_sql(consumer_states(),
    'c1=running,c2=running,c3=running,c4=running,c5=waiting for a worker slot (max_consumer_workers = 4)'),
    'a fifth waits for a worker slot');

# Lowered at run time: the newest stop, at LOG, and say why.
my $offset = -s $node->logfile;
run(q{ALTER SYSTEM SET pgque_worker.max_consumer_workers = 2; SELECT pg_reload_conf();});
ok(wait_sql(consumer_states(),
    'c1=running,c2=running,c3=waiting for a worker slot (max_consumer_workers = 2),'
    . 'c4=waiting for a worker slot (max_consumer_workers = 2),c5=waiting for a worker slot (max_consumer_workers = 2)'),
    'lowered to 2: the newest stop and wait for a slot');
is(run(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'}), '2',
    'two consumer processes remain');
run(q{ALTER SYSTEM SET pgque_worker.max_consumer_workers = 0; SELECT pg_reload_conf();});
ok(wait_sql(q{SELECT count(*) FROM pgque_worker.consumers WHERE state = 'waiting for a worker slot (max_consumer_workers = 0)' AND pid IS NULL}, '5'),
    'lowered to 0: every consumer stops and says why');
ok(wait_sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'}, '0'),
    'and no consumer process is left');
run(q{ALTER SYSTEM SET pgque_worker.max_consumer_workers = 6; SELECT pg_reload_conf();});
ok(wait_sql(consumer_states(), 'c1=running,c2=running,c3=running,c4=running,c5=running'),
    'raised to 6: all five run');
my $log = slurp_file($node->logfile, $offset);
like($log, qr/consumer "c3" of queue "q" in database "postgres": stopping: over the limit \(pgque_worker.max_consumer_workers = 2\)/,
    'a consumer stopped by the limit says so in the log');
unlike($log, qr/FATAL/, 'limit stops log no FATAL');

# A fifth database with max_workers = 4 (the default): not served, and says so.
for my $db (qw(e3 e4 e5)) {
    run("CREATE DATABASE $db");
    install_pgque($node, $db);
}
run($handler_sql . q{SELECT pgque.create_queue('q'); SELECT pgque_worker.handle('q', 'late', '*', 'h(pgque.message)');}, 'e5');
ok(wait_sql(q{SELECT string_agg(database || '=' || state, ',' ORDER BY database) FROM pgque_worker.workers},
    'e3=running,e4=running,e5=not served (max_workers = 4),other=running,postgres=running'),
    'the fifth database is not served, and the workers view says why');
ok(wait_for($node, 'e5', q{SELECT state FROM pgque_worker.consumers}, 'database not served (max_workers = 4)'),
    'its consumer says why it does not run');
run(q{ALTER SYSTEM SET pgque_worker.max_workers = 3; SELECT pg_reload_conf();});
ok(wait_sql(q{SELECT string_agg(database || '=' || state, ',' ORDER BY database) FROM pgque_worker.workers},
    'e3=running,e4=not served (max_workers = 3),e5=not served (max_workers = 3),other=running,postgres=running'),
    'lowered to 3: the newest database worker stops');
run(q{ALTER SYSTEM SET pgque_worker.max_workers = 5; SELECT pg_reload_conf();});
ok(wait_sql(q{SELECT string_agg(database || '=' || state, ',' ORDER BY database) FROM pgque_worker.workers},
    'e3=running,e4=running,e5=running,other=running,postgres=running'),
    'raised to 5: every database is served');
ok(wait_for($node, 'e5', q{SELECT replace(state, 'idle', 'running') FROM pgque_worker.consumers}, 'running'),
    'and the fifth database\'s consumer runs');

# pause() stops a consumer cleanly: LOG, no FATAL.
$offset = -s $node->logfile;
my $pid = run(q{SELECT pid FROM pgque_worker.consumers WHERE consumer = 'c1'});
run(q{SELECT pgque_worker.pause('q', 'c1')});
ok(wait_sql(qq{SELECT count(*) FROM pg_stat_activity WHERE pid = $pid}, '0'), 'pause() stops the process');
is(run(q{SELECT state || ' ' || (pid IS NULL) FROM pgque_worker.consumers WHERE consumer = 'c1'}), 'paused true',
    'the view says paused');
$log = slurp_file($node->logfile, $offset);
like($log, qr/LOG:  pgque_worker: consumer "c1" of queue "q" in database "postgres": stopping: paused/,
    'the stop is logged at LOG');
unlike($log, qr/FATAL/, 'pause() leaves no FATAL in the log');

$node->stop('fast');
done_testing();
