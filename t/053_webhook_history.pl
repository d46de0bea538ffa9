# Per-delivery webhook history (issue 12): every HTTP attempt with its time,
# status, duration, attempt number, webhook-id and a valid UTF-8 excerpt of
# the response; readable by the route's owner only; bounded by three tables
# emptied in turn with TRUNCATE (no row is ever deleted or updated); and a
# history that cannot be written never turns a delivery into a redelivery.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $receiver = start_receiver('history_hooks');
my $base = $receiver->{base};
my $node = new_node('history', "pgque_worker.tick_interval = '100ms'",
    "pgque_worker.http_allowed_hosts = '127.0.0.1'", 'pgque_worker.webhook_history = 5');
install_pgque($node, 'postgres');
sub run { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }
sub as { my ($role, $sql) = @_; return $node->safe_psql('postgres', "SET ROLE $role; $sql"); }
sub wait_sql { my ($sql, $want, $secs) = @_; return wait_for($node, 'postgres', $sql, $want, $secs // 30); }

run(qq{
    CREATE ROLE app LOGIN; GRANT pgque_reader, pgque_writer TO app;
    CREATE ROLE colleague LOGIN; GRANT pgque_reader, pgque_writer TO colleague;
    SELECT pgque.create_queue('hooks');
    SET ROLE app;
    SELECT pgque_worker.set_consumer('hooks', 'web', retry_after => '1 hour');
    SELECT pgque_worker.handle_http('hooks', 'web', 'ok', '$base/ok');
    SELECT pgque_worker.handle_http('hooks', 'web', 'boom', '$base/fail_always');
    SELECT pgque_worker.handle_http('hooks', 'web', 'latin1', '$base/latin1');
    SELECT pgque_worker.handle_http('hooks', 'web', 'down', 'http://127.0.0.1:1/');
});
run(q{SELECT pgque.send('hooks', t, '{}'::jsonb) FROM unnest(array['ok', 'boom', 'latin1', 'down']) t});
ok(wait_sql(q{SELECT count(*) FROM pgque_worker.delivery}, '4'), 'four attempts recorded');

# --- what an attempt records ---------------------------------------------------
is(as('app', q{SELECT string_agg(event_type || '|' || attempt || '|' || coalesce(status::text, '-') || '|'
                  || (error IS NOT NULL) || '|' || response || '|' || (duration > interval '0'), E'\n' ORDER BY msg_id)
                 FROM pgque_worker.webhook_history WHERE queue = 'hooks' AND consumer = 'web'}),
    join("\n", 'ok|1|204|false||true', 'boom|1|500|false|boom|true', 'latin1|1|500|false|caf\xE9 cr\xE8me|true',
         'down|1|-|true||true'),
    'status, attempt, response excerpt (invalid UTF-8 escaped) and duration, per attempt');
like(as('app', q{SELECT error FROM pgque_worker.webhook_history WHERE event_type = 'down'}),
    qr/connect/i, 'a transport error is kept as the error');
my %sent_ids = map { $_->{headers}{'webhook-id'} => 1 } @{ receiver_requests($receiver) };
my @ids = split /\n/, as('app', q{SELECT webhook_id FROM pgque_worker.webhook_history WHERE status IS NOT NULL});
is(scalar(grep { $sent_ids{$_} } @ids), 3, 'webhook_id is the header the receiver got');
like(as('app', q{SELECT bool_and(at BETWEEN now() - interval '1 minute' AND now()) FROM pgque_worker.webhook_history}),
    qr/^t$/, 'with the time it was sent');

# --- the route owner's only ----------------------------------------------------
is(as('colleague', q{SELECT count(*) FROM pgque_worker.webhook_history}), '0', 'another role sees no attempt (view)');
is(as('colleague', q{SELECT count(*) FROM pgque_worker.delivery}), '0', 'nor in the table');
for my $dml (q{INSERT INTO pgque_worker.delivery (id, part, at, consumer_id, event_type, owner, msg_id, attempt,
                   webhook_id, duration, response) VALUES (1, 0, now(), 1, 'ok', 'app', 1, 1, 'x', '1s', '')},
             q{UPDATE pgque_worker.delivery SET status = 200},
             q{DELETE FROM pgque_worker.delivery},
             q{TRUNCATE pgque_worker.delivery},
             q{SELECT count(*) FROM pgque_worker.delivery_0},
             q{SELECT pgque_worker._record_deliveries(5, 1, '{ok}', '{10}', '{1}', '{1}', '{x}', '{200}', '{NULL}',
                   '{forged}', '{0.1}', '{0}')}) {
    for my $role (qw(app colleague)) {
        my ($rc, $out, $err) = $node->psql('postgres', "SET ROLE $role; $dml");
        like($err, qr/permission denied/, "$role may not: " . (split /\s+/, $dml)[0] . ' ' . ((split /\s+/, $dml)[1] // ''));
    }
}
is(run(q{SELECT count(*) FROM pgque_worker.delivery WHERE response = 'forged'}), '0', 'nothing was forged');
# Even a superuser's call gets a clear error for a block size below 1, and the
# history stays as it was.
my $kept = run(q{SELECT count(*) FROM pgque_worker.delivery});
for my $size ('0', '-5', 'NULL') {
    my ($rc, $out, $err) = $node->psql('postgres', qq{SELECT pgque_worker._record_deliveries($size, 1, '{ok}',
        '{10}', '{1}', '{1}', '{x}', '{200}', '{NULL}', '{bad_size}', '{0.1}', '{0}')});
    like($err, qr/block_size must be positive/, "block_size $size: a clear error");
}
is(run(q{SELECT count(*) FROM pgque_worker.delivery}), $kept, 'and the history is unchanged');

# --- bounded by rotation, without deleting a row ------------------------------------
# 20 messages in one transaction are one batch, handled as one slice of 20
# attempts: four blocks of 5 ids, more than the history keeps.
run(q{SELECT pgque.send('hooks', 'ok', jsonb_build_object('n', i)) FROM generate_series(1, 20) i});
ok(wait_for($node, 'postgres', q{SELECT delivered >= 21 FROM pgque_worker.consumer_metrics WHERE consumer = 'web'}, 't', 30),
    '20 deliveries in one slice');
my $rows = run(q{SELECT count(*) FROM pgque_worker.delivery});
cmp_ok($rows, '<=', 15, "a slice longer than the history leaves at most 3 x webhook_history attempts ($rows)");
is(run(q{SELECT max(id) = (SELECT last_value FROM pgque_worker.delivery_id_seq) FROM pgque_worker.delivery}), 't',
    'the newest attempt of the slice is kept');
run("SELECT pgque.send('hooks', 'ok', '{\"one\": $_}'::jsonb)") for 1 .. 20;  # many slices
ok(wait_for($node, 'postgres', q{SELECT delivered >= 41 FROM pgque_worker.consumer_metrics WHERE consumer = 'web'}, 't', 30),
    '20 more deliveries');
my $last_msg = run(q{SELECT max(msg_id) FROM pgque_worker.delivery});
$rows = run(q{SELECT count(*) FROM pgque_worker.delivery});
cmp_ok($rows, '<=', 15, "at most 3 x webhook_history attempts are kept ($rows)");
cmp_ok($rows, '>=', 5, 'and at least one table of them');
is(run(q{SELECT max(id) = (SELECT last_value FROM pgque_worker.delivery_id_seq) FROM pgque_worker.delivery}), 't',
    'the newest attempt is kept');
# The consumer worker flushes its table statistics when it exits: pause it.
as('app', q{SELECT pgque_worker.pause('hooks', 'web')});
ok(wait_sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'}, '0'), 'paused');
my $churn = run(q{SELECT pg_stat_clear_snapshot();
    SELECT sum(n_tup_del + n_tup_upd) FROM pg_stat_user_tables
     WHERE schemaname = 'pgque_worker' AND relname LIKE 'delivery_%'});
is((split /\n/, $churn)[-1], '0',
    'no row was deleted or updated: old attempts went with TRUNCATE');
my $inserted = (split /\n/, run(q{SELECT pg_stat_clear_snapshot(); SELECT sum(n_tup_ins) FROM pg_stat_user_tables
                       WHERE schemaname = 'pgque_worker' AND relname LIKE 'delivery_%'}))[-1];
cmp_ok($inserted, '>', $rows, "while more attempts were inserted than are kept ($inserted > $rows)");
as('app', q{SELECT pgque_worker.resume('hooks', 'web')});
ok(wait_sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer'}, '1'), 'resumed');

# --- a reader holding a table at its rotation ----------------------------------------
# The table of the next block of 5 ids cannot be emptied while a reader holds
# it: it keeps its older round, and the newest attempts are never the ones
# that go.
my $block_start = run(q{SELECT (last_value / 5 + 1) * 5 FROM pgque_worker.delivery_id_seq});
my $busy_part = ($block_start / 5) % 3;
my $reader = $node->background_psql('postgres');
$reader->query_safe("BEGIN; LOCK TABLE pgque_worker.delivery_$busy_part IN ACCESS SHARE MODE;");
for my $n (1 .. 5) {
    last if run(q{SELECT last_value FROM pgque_worker.delivery_id_seq}) >= $block_start;
    my $last = run(q{SELECT last_value FROM pgque_worker.delivery_id_seq});
    run(qq{SELECT pgque.send('hooks', 'ok', '{"busy": $n}'::jsonb)});
    wait_sql(qq{SELECT last_value > $last FROM pgque_worker.delivery_id_seq}, 't');
}
is(run(qq{SELECT count(*) > 0 FROM pgque_worker.delivery_$busy_part WHERE id < $block_start}), 't',
    'the table a reader held at its rotation kept its older round');
$reader->query_safe('COMMIT');
$reader->quit;
my $newest = run(q{SELECT last_value FROM pgque_worker.delivery_id_seq});
run(q{SELECT pgque.send('hooks', 'ok', '{"after_reader": true}'::jsonb)});
ok(wait_sql(qq{SELECT last_value > $newest FROM pgque_worker.delivery_id_seq}, 't'), 'the next attempt was recorded');
$newest = run(q{SELECT last_value FROM pgque_worker.delivery_id_seq});
is(run(qq{SELECT count(*) FROM pgque_worker.delivery WHERE id >= $block_start}), $newest - $block_start + 1,
    'every attempt since that rotation is kept');
$rows = run(q{SELECT count(*) FROM pgque_worker.delivery});
cmp_ok($rows, '<=', 20, "at most 4 x webhook_history attempts meanwhile ($rows)");
for my $n (1 .. 15) {  # three more blocks: the held table's older round goes at its next turn
    run(qq{SELECT pgque.send('hooks', 'ok', '{"round": $n}'::jsonb)});
}
my $target = $newest + 15;
ok(wait_sql(qq{SELECT last_value >= $target FROM pgque_worker.delivery_id_seq}, 't'), '15 more attempts');
$rows = run(q{SELECT count(*) FROM pgque_worker.delivery});
cmp_ok($rows, '<=', 15, "then at most 3 x webhook_history attempts again ($rows)");

# --- a history that cannot be written changes nothing else ------------------------
my $bg = $node->background_psql('postgres');
$bg->query_safe('BEGIN; LOCK TABLE pgque_worker.delivery IN ACCESS EXCLUSIVE MODE;');
my $before = scalar(@{ receiver_requests($receiver, '/ok') });
run(q{SELECT pgque.send('hooks', 'ok', '{"locked": true}'::jsonb)});
ok(wait_receiver_requests($receiver, '/ok', $before + 1), 'delivered while the history is locked');
ok(wait_for($node, 'postgres', q{SELECT pending_events FROM pgque_worker.consumer_metrics WHERE consumer = 'web'}, '0', 30),
    'and acked');
ok(wait_for($node, 'postgres', q{SELECT 1}, '1', 1) && slurp_file($node->logfile) =~ /could not write the webhook history/,
    'the log says the history missed it');
$bg->query_safe('COMMIT');
$bg->quit;
run(q{SELECT pgque.send('hooks', 'ok', '{"after": true}'::jsonb)});
ok(wait_receiver_requests($receiver, '/ok', $before + 2), 'the next message goes out');
is(scalar(grep { ($_->{raw} // '') =~ /locked/ } @{ receiver_requests($receiver, '/ok') }), 1,
    'the message sent while the history was locked was not sent again');
ok(wait_sql(q{SELECT count(*) FROM pgque_worker.delivery WHERE msg_id = (SELECT max(msg_id) FROM pgque_worker.delivery)}, '1'),
    'and the history records again');

$node->stop('fast');
stop_receiver($receiver);
done_testing();
