# Hostile input (issue 9): no message, response or setting can crash the
# server, corrupt stored text or exhaust memory. Deeply nested payloads,
# a handler that kills its worker on one message, a receiver that answers
# with invalid UTF-8, big and precise numbers, ten 10 MB messages in one
# batch, 429 with Retry-After and 410 Gone.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use IPC::Run;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time usleep);

my $secret = webhook_secret();
my $receiver = start_receiver('hostile_hooks');
my $base = $receiver->{base};
sub requests { return receiver_requests($receiver, @_); }
sub wait_requests { my ($path, $count, $secs) = @_; return wait_receiver_requests($receiver, $path, $count, $secs // 60); }

my $node = new_node('hostile', "pgque_worker.tick_interval = '200ms'", "pgque_worker.retry_interval = '100ms'",
    "pgque_worker.http_allowed_hosts = '127.0.0.1'", "pgque_worker.max_batch_bytes = '16MB'",
    'pgque_worker.max_consumer_workers = 16', 'max_worker_processes = 24',
    'restart_after_crash = on');
install_pgque($node, 'postgres');
sub run { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }
sub wait_sql { my ($sql, $want, $secs) = @_; return wait_for($node, 'postgres', $sql, $want, $secs // 60); }
my $started = run('SELECT pg_postmaster_start_time()');

# --- 1. deep nesting through both send overloads, to SQL and HTTP consumers ---
run(qq{CREATE TABLE deep_seen (msg_id bigint, len int);
       CREATE FUNCTION deep_len(m pgque.message) RETURNS void LANGUAGE sql
           AS \$\$ INSERT INTO deep_seen VALUES (m.msg_id, length(m.payload)) \$\$;
       CREATE FUNCTION deep_parse(m pgque.message) RETURNS void LANGUAGE sql
           AS \$\$ SELECT jsonb_typeof(m.payload::jsonb) \$\$;
       SELECT pgque.create_queue('deep_sql'); SELECT pgque.create_queue('deep_http');
       SELECT pgque.set_queue_config('deep_sql', 'max_retries', '0');
       SELECT pgque_worker.handle('deep_sql', 'c', 'len', 'deep_len(pgque.message)');
       SELECT pgque_worker.handle('deep_sql', 'c', 'parse', 'deep_parse(pgque.message)');
       SELECT pgque_worker.handle_http('deep_http', 'c', '*', '$base/ok');});
for my $depth (1000, 100000, 1000000) {
    my $nested = "repeat('[', $depth) || repeat(']', $depth)";
    run(qq{SELECT pgque.send('deep_sql', 'len', $nested); SELECT pgque.send('deep_sql', 'parse', $nested);
           SELECT pgque.send('deep_http', 'text', $nested);});
    my ($rc, $out, $err) = $node->psql('postgres', "SELECT pgque.send('deep_http', 'jsonb', ($nested)::jsonb)");
    if ($depth == 1000) {
        is($rc, 0, 'a 1k-deep jsonb payload is accepted');
    } else {
        like($err, qr/stack depth limit exceeded/, "a ${depth}-deep jsonb payload is refused by PostgreSQL itself");
    }
}
ok(wait_sql(q{SELECT string_agg(len::text, ',' ORDER BY len) FROM deep_seen}, '2000,200000,2000000'),
    'the SQL handler got every deep payload as text');
ok(wait_sql(q{SELECT count(*) FROM pgque.dlq_inspect('deep_sql') WHERE dl_reason LIKE '%stack depth limit exceeded%'}, '2'),
    'a handler that cannot parse them fails those messages, clearly');
ok(wait_sql(q{SELECT count(*) FROM pgque.dlq_inspect('deep_http')}, '2'), 'the two unsendable webhooks are dead letters');
like(run(q{SELECT string_agg(DISTINCT dl_reason, ',') FROM pgque.dlq_inspect('deep_http')}),
    qr/^not sent: the payload is JSON nested deeper than 10000 levels$/, 'with the reason');
ok(wait_requests('/ok', 2), 'the 1k-deep payloads were delivered');
is(scalar(grep { $_->{length} > 2000 && $_->{length} < 3000 } @{ requests('/ok') }), 2, 'as JSON, whole');
is(run('SELECT pg_postmaster_start_time()'), $started, 'the server never restarted');

# --- 2. big and precise numbers arrive byte for byte --------------------------
my $precise = '{"id":123456789012345678901234567890,"amount":19.9900000000000000001,"big":1e400,"k":[-0.0,1E+2]}';
run(qq{SELECT pgque.create_queue('numbers');
       SELECT pgque_worker.handle_http('numbers', 'c', '*', '$base/numbers', secret => '$secret');
       SELECT pgque.send('numbers', 'n', '$precise');});
ok(wait_requests('/numbers', 1), 'delivered');
my ($got) = @{ requests('/numbers') };
ok(index($got->{raw}, qq{"payload":$precise,}) >= 0, 'the payload is in the body exactly as stored');
ok($got->{signature_valid}, 'and signed over those bytes');

# --- 3. invalid UTF-8 from the network is never stored as text ----------------
run(qq{SELECT pgque.create_queue('bad_bytes'); SELECT pgque.set_queue_config('bad_bytes', 'max_retries', '0');
       SELECT pgque_worker.handle_http('bad_bytes', 'c', 'latin1', '$base/latin1');
       SELECT pgque_worker.handle_http('bad_bytes', 'c', 'cut', '$base/cut');
       SELECT pgque.send('bad_bytes', 'latin1', 'l'); SELECT pgque.send('bad_bytes', 'cut', 'c');});
ok(wait_sql(q{SELECT count(*) FROM pgque.dlq_inspect('bad_bytes')}, '2'), 'both dead-lettered');
is(run(q{SELECT dl_reason FROM pgque.dlq_inspect('bad_bytes') WHERE ev_type = 'latin1'}),
    'HTTP 500: caf\xE9 cr\xE8me', 'Latin-1 bytes are kept as \xNN escapes');
is(run(q{SELECT dl_reason = 'HTTP 500: ' || repeat('x', 199) FROM pgque.dlq_inspect('bad_bytes') WHERE ev_type = 'cut'}),
    't', 'a character across the excerpt\'s end is dropped whole, not cut');
is(run(q{SELECT count(*) FROM pgque.dead_letter WHERE NOT pg_catalog.convert_to(dl_reason, 'UTF8') IS NOT NULL}), '0',
    'every reason is valid text');
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT dl_reason FROM pgque.dead_letter',
    extra_params => ['-v', 'ON_ERROR_STOP=1'], on_error_die => 0);
{
    local $ENV{PGCLIENTENCODING} = 'LATIN1';
    ($rc, $out, $err) = $node->psql('postgres', 'SELECT dl_reason FROM pgque.dead_letter');
}
is($rc, 0, 'a LATIN1 client reads every reason') or diag($err);
run(q{ALTER SYSTEM SET pgque_worker.databases = 'postgres'; SELECT pg_reload_conf(); CREATE DATABASE restored;});
my $dump = "$PostgreSQL::Test::Utils::tmp_check/hostile.dump";
$node->command_ok(['pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres')], 'pg_dump');
IPC::Run::run(['pg_restore', '-d', $node->connstr('restored'), $dump], '>', \my $restore_out, '2>', \my $restore_err);
is($node->safe_psql('restored', 'SELECT count(*) FROM pgque.dead_letter'), run('SELECT count(*) FROM pgque.dead_letter'),
    'pg_dump and pg_restore keep every dead letter');
run(q{DROP DATABASE restored; ALTER SYSTEM RESET pgque_worker.databases; SELECT pg_reload_conf();});

# In a database that is neither UTF8 nor SQL_ASCII, text from outside is
# stored ASCII-escaped: valid there, readable, and restorable.
$node->safe_psql('postgres', q{CREATE DATABASE ej ENCODING 'EUC_JP' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
install_pgque($node, 'ej');
$node->safe_psql('ej', qq{SELECT pgque.create_queue('eq'); SELECT pgque.set_queue_config('eq', 'max_retries', '0');
                          SELECT pgque_worker.handle_http('eq', 'c', '*', '$base/euro');
                          SELECT pgque.send('eq', 'e', 'x');});
ok(wait_for($node, 'ej', q{SELECT dl_reason FROM pgque.dlq_inspect('eq')}, 'HTTP 500: \u20AC boom \u20AC', 60),
    'an EUC_JP database stores the euro signs of a response as \u20AC');
my $ej_dump = "$PostgreSQL::Test::Utils::tmp_check/ej.dump";
$node->command_ok(['pg_dump', '-Fc', '-f', $ej_dump, '-d', $node->connstr('ej')], 'pg_dump of the EUC_JP database');
$node->safe_psql('postgres', q{ALTER SYSTEM SET pgque_worker.databases = 'postgres'; SELECT pg_reload_conf();
                               CREATE DATABASE ej2 ENCODING 'EUC_JP' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;});
IPC::Run::run(['pg_restore', '-d', $node->connstr('ej2'), $ej_dump], '>', \my $ej_out, '2>', \my $ej_err);
is($node->safe_psql('ej2', 'SELECT count(*) FROM pgque.dead_letter'), '1', 'and it restores');
$node->safe_psql('postgres', q{DROP DATABASE ej2; DROP DATABASE ej WITH (FORCE);
                               ALTER SYSTEM RESET pgque_worker.databases; SELECT pg_reload_conf();});

# --- 4. 429 with Retry-After, 410 Gone, and the log -----------------------------
run(qq{SELECT pgque.create_queue('status');
       SELECT pgque_worker.handle_http('status', 'c', 'throttled', '$base/retry_after');
       SELECT pgque_worker.handle_http('status', 'c', 'gone', '$base/gone');
       SELECT pgque_worker.handle_http('status', 'c', 'marker', '$base/marker');
       SELECT pgque_worker.set_consumer('status', 'c', retry_after => '0 seconds');
       SELECT pgque.send('status', 'throttled', 't'); SELECT pgque.send('status', 'gone', 'g');});
ok(wait_requests('/retry_after', 2), 'a 429 is retried');
my ($first, $second) = @{ requests('/retry_after') };
cmp_ok($second->{received_at} - $first->{received_at}, '>=', 1.95, 'no sooner than its Retry-After: 2');
ok(wait_sql(q{SELECT dl_reason FROM pgque.dlq_inspect('status')}, 'HTTP 410: gone'), '410 Gone is dead-lettered');
run(q{SELECT pgque.send('status', 'marker', 'm')});
ok(wait_requests('/marker', 1), 'the consumer went on');
is(scalar(@{ requests('/gone') }), 1, 'after one attempt');
like(slurp_file($node->logfile), qr/consumer "c" of queue "status": dead-lettered message \d+: HTTP 410: gone/,
    'the log has a line for the dead letter');

# --- 5a. made-up event types cannot flood the log -----------------------------
my $log_before = -s $node->logfile;
run(q{SELECT pgque.create_queue('typed');
      CREATE FUNCTION typed_noop(m pgque.message) RETURNS void LANGUAGE sql AS $$ SELECT $$;
      SELECT pgque_worker.handle('typed', 'c', 'known', 'typed_noop(pgque.message)');
      SELECT pgque.send('typed', repeat(md5(i::text), 256) || i, '{}'::jsonb) FROM generate_series(1, 300) i;});
ok(wait_sql(q{SELECT unhandled FROM pgque_worker.consumers WHERE queue = 'typed'}, '300'), '300 unhandled types acked');
my $typed_log = substr(slurp_file($node->logfile), $log_before);
my $type_lines = () = $typed_log =~ /has no handler for event type/g;
cmp_ok($type_lines, '<=', 100, 'at most 100 of them logged');
like($typed_log, qr/more than 100 event types without a handler; no more are logged/, 'then one line that says so');
cmp_ok(length($typed_log), '<', 100_000, 'the log grew by less than 100 kB for 2.5 MB of type names');

# --- 5. ten 10 MB messages in one batch: memory stays bounded -----------------
run(qq{SELECT pgque.create_queue('big'); SELECT pgque_worker.handle_http('big', 'c', '*', '$base/big');});
# Its worker says which queue it serves while it loads its configuration.
ok(wait_sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'
              AND query LIKE '%queue "big"%'}, '1'), 'the consumer of big runs');
my $pid = run(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer' AND query LIKE '%queue "big"%'});
sub status_kb { my ($field) = @_; my ($v) = slurp_file("/proc/$pid/status") =~ /^$field:\s+(\d+) kB/m; return $v; }
my $baseline = status_kb('VmRSS');
run(q{SELECT pgque.send_batch('big', 'blob', array(SELECT repeat('x', 10 * 1024 * 1024) FROM generate_series(1, 10)))});
ok(wait_requests('/big', 10, 120), 'ten 10 MB messages delivered');
is(scalar(grep { $_->{length} > 10 * 1024 * 1024 } @{ requests('/big') }), 10, 'each whole');
ok(wait_sql(q{SELECT processed FROM pgque_worker.consumers WHERE queue = 'big'}, '10'), 'and acked');
my $peak = status_kb('VmHWM');
# The worker keeps its heap while busy and gives it back after a second idle.
my $after = status_kb('VmRSS');
for (my $waited = 0; $after - $baseline >= 24 * 1024 && $waited < 100; $waited++) {
    usleep(100_000);
    $after = status_kb('VmRSS');
}
diag(sprintf('consumer worker RSS: baseline %d MB, peak %d MB, after %d MB (max_batch_bytes 16 MB)',
    $baseline / 1024, $peak / 1024, $after / 1024));
cmp_ok($peak - $baseline, '<', 100 * 1024, 'the peak stays within a few budgets of 16 MB (it was 643 MB in 0.1.0)');
cmp_ok($after - $baseline, '<', 24 * 1024, 'and RSS returns close to its baseline');

# --- 6. a message that kills its worker, again and again ----------------------
# The handler makes itself visible, then waits to be killed: each kill -9 is a
# real crash of the cluster (crash recovery). After the first, the batch is
# replayed one message at a time; after poison_crash_limit (2) deaths with
# the poison in flight, it is dead-lettered and everything else is handled
# exactly once.
# A bystander on another queue has a slow message in flight during those
# crashes: they are not its doing, and it must not be blamed for them.
run(q{CREATE TABLE bystander_done (payload text);
      CREATE FUNCTION bystander(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(2); INSERT INTO bystander_done VALUES (m.payload); END $$;
      SELECT pgque.create_queue('bystander');
      SELECT pgque_worker.handle('bystander', 'c', '*', 'bystander(pgque.message)');
      SELECT pgque.send_batch('bystander', 'e', array['b1', 'b2', 'b3', 'b4', 'b5', 'b6']);});
run(q{CREATE TABLE handled (payload text);
      CREATE FUNCTION poison_handler(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
          IF m.payload = 'poison' THEN
              PERFORM set_config('application_name', 'pgque_poison_in_flight', true);
              PERFORM pg_sleep(300);
          END IF;
          INSERT INTO handled VALUES (m.payload);
      END $$;
      SELECT pgque.create_queue('poison');
      SELECT pgque_worker.handle('poison', 'c', '*', 'poison_handler(pgque.message)');
      SELECT pgque.send_batch('poison', 'e', array['p1', 'p2', 'p3', 'p4', 'poison', 'p6', 'p7', 'p8', 'p9']);});
for my $kill (1 .. 3) {
    my $victim = '';
    for (1 .. 1200) {
        my ($rc2, $found) = eval { $node->psql('postgres',
            q{SELECT pid FROM pg_stat_activity WHERE application_name = 'pgque_poison_in_flight'}) };
        if (defined $rc2 && $rc2 == 0 && $found) { $victim = $found; last; }
        usleep(50_000);
    }
    ok($victim, "crash $kill: the poison message is in flight");
    kill 'KILL', $victim if $victim;
    wait_until_up($node) or die 'the server did not come back';
}
ok(wait_sql(q{SELECT dl_reason FROM pgque.dlq_inspect('poison')}, 'crashed the consumer worker 2 times', 120),
    'the poison message is a dead letter, with the reason');
ok(wait_sql(q{SELECT string_agg(payload, ',' ORDER BY payload) FROM handled}, 'p1,p2,p3,p4,p6,p7,p8,p9'),
    'every other message of the batch was handled exactly once');
ok(wait_sql(q{SELECT dead_lettered FROM pgque_worker.consumers WHERE queue = 'poison'}, '1'), 'the view counts it');
ok(wait_sql(q{SELECT string_agg(payload, ',' ORDER BY payload) FROM bystander_done}, 'b1,b2,b3,b4,b5,b6', 120),
    'the bystander, interrupted by the same crashes, handled all its messages');
is(run(q{SELECT count(*) FROM pgque.dlq_inspect('bystander')}), '0', 'and dead-lettered none of them');

# --- 7. pause while a slow message is in flight ------------------------------
# pause() is an orderly stop (issue 11): the worker finishes the batch in
# hand, then exits at LOG; the message is handled once, never blamed.
run(q{CREATE TABLE paused_done (payload text);
      CREATE FUNCTION slow_handler(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
          PERFORM set_config('application_name', 'pgque_slow_in_flight', true);
          PERFORM pg_sleep(3);
          INSERT INTO paused_done VALUES (m.payload);
      END $$;
      SELECT pgque.create_queue('pausing');
      SELECT pgque_worker.handle('pausing', 'c', '*', 'slow_handler(pgque.message)');
      SELECT pgque.send('pausing', 'e', 'slow');});
ok(wait_sql(q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgque_slow_in_flight'}, '1'),
    'pause: the slow message is in flight');
run(q{SELECT pgque_worker.pause('pausing', 'c')});
ok(wait_sql(q{SELECT state || ' ' || (pid IS NULL) FROM pgque_worker.consumers WHERE queue = 'pausing'}, 'paused true'),
    'pause: its worker stopped');
is(run(q{SELECT string_agg(payload, ',') FROM paused_done}), 'slow', 'after finishing the message in flight');
run(q{SELECT pgque_worker.resume('pausing', 'c')});
ok(wait_sql(q{SELECT string_agg(payload, ',') FROM paused_done}, 'slow', 60), 'the message was handled after all');
is(run(q{SELECT count(*) FROM pgque.dlq_inspect('pausing')}), '0', 'never dead-lettered');
like(slurp_file($node->logfile), qr/queue "poison": dead-lettered message \d+: crashed the consumer worker 2 times/,
    'and the log says it');

$node->stop('fast');
unlike(slurp_file($node->logfile), qr/terminated by signal (?!9)/, 'no process died of anything but our kill -9');
stop_receiver($receiver);
done_testing();
