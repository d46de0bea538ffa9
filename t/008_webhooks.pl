# HTTP callbacks against a real receiver on 127.0.0.1: body and headers,
# signatures, retries with the same webhook-id, timeouts, refused
# connections, dead letters, what may be declared, and kill -9 mid-delivery.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use IPC::Run;
use JSON::PP;
use Test::More;
use Time::HiRes qw(usleep);

my $secret = webhook_secret();
my $receiver = start_receiver('webhooks');
my $base = $receiver->{base};

my $node = new_node('webhooks', "pgque_worker.tick_interval = '200ms'", "pgque_worker.retry_interval = '100ms'",
    "pgque_worker.http_allowed_hosts = '127.0.0.1, localhost'", 'restart_after_crash = on');
install_pgque($node, 'postgres');
sub run { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }
sub wait_sql { my ($sql, $want, $secs) = @_; return wait_for($node, 'postgres', $sql, $want, $secs // 30); }
sub requests { return receiver_requests($receiver, @_); }
sub wait_requests { return wait_receiver_requests($receiver, @_); }

# --- delivery: body, headers, signature --------------------------------------
run(qq{CREATE ROLE app; GRANT pgque_reader, pgque_writer TO app;
       SELECT pgque.create_queue('orders');
       SET ROLE app;
       SELECT pgque_worker.handle_http('orders', 'hooks', '*', '$base/ok', '{"X-Tenant": "t1"}', '$secret', '5 seconds');
       RESET ROLE;
       SELECT pgque.send('orders', 'order.created', '{"id": 1, "items": [1, 2]}'::jsonb);
       SELECT pgque.send('orders', 'note', 'plain text, not JSON');});
ok(wait_requests('/ok', 2), 'both messages were POSTed');
my @got = sort { $a->{body}{msg_id} <=> $b->{body}{msg_id} } @{ requests('/ok') };
my ($json, $text) = @got;
is($json->{body}{queue} . '/' . $json->{body}{consumer}, 'orders/hooks', 'queue and consumer in the body');
is($json->{body}{type}, 'order.created', 'type');
is_deeply($json->{body}{payload}, { id => 1, items => [1, 2] }, 'a JSON payload is embedded as JSON');
is($text->{body}{payload}, 'plain text, not JSON', 'a text payload is a JSON string');
ok(!defined $json->{body}{retry_count}, 'retry_count is null on first delivery');
like($json->{body}{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$/, 'created_at is ISO 8601');
ok(exists $json->{body}{$_}, "body has $_") for qw(batch_id extra1 extra2 extra3 extra4);
is($json->{headers}{'content-type'}, 'application/json', 'Content-Type: application/json');
is($json->{headers}{'x-tenant'}, 't1', 'the route\'s own headers are sent');
like($json->{headers}{'webhook-id'}, qr/^msg_[0-9a-f]{16}_\d+$/, 'webhook-id');
ok(abs($json->{headers}{'webhook-timestamp'} - time()) < 60, 'webhook-timestamp is the current unix time');
ok($json->{signature_valid} && $text->{signature_valid}, 'the receiver verified both signatures with the secret');
ok(wait_sql(q{SELECT processed || '/' || failed FROM pgque_worker.consumers WHERE consumer = 'hooks'}, '2/0'),
    'counted as processed and acked');

# --- the same webhook-id on a retry ------------------------------------------
run(qq{SELECT pgque.create_queue('retried');
       SELECT pgque_worker.handle_http('retried', 'hooks', '*', '$base/fail_first');
       SELECT pgque_worker.set_consumer('retried', 'hooks', retry_after => '0 seconds');
       SELECT pgque.send('retried', 'e', 'r' || i) FROM generate_series(1, 3) i;});
ok(wait_requests('/fail_first', 6), 'three messages, two attempts each');
my %by_id;
push @{ $by_id{ $_->{headers}{'webhook-id'} } }, $_ for @{ requests('/fail_first') };
is(scalar(keys %by_id), 3, 'three webhook-ids');
is(join(',', map { scalar @{ $by_id{$_} } } sort keys %by_id), '2,2,2', 'each retried once, with the same webhook-id');
is(join(',', sort map { $_->[1]{body}{retry_count} } values %by_id), '1,1,1', 'the second attempt has retry_count 1');
ok(wait_sql(q{SELECT processed || '/' || failed || '/' || retried FROM pgque_worker.consumers WHERE queue = 'retried'},
    '3/3/3'), 'three failures retried, then three deliveries');

# --- permanent failure, timeout, refused connection: dead letters -------------
run(qq{SELECT pgque.create_queue('failing');
       SELECT pgque.set_queue_config('failing', 'max_retries', '1');
       SELECT pgque_worker.handle_http('failing', 'hooks', 'boom', '$base/fail_always');
       SELECT pgque_worker.handle_http('failing', 'hooks', 'slow', '$base/slow', '{}', NULL, '500 milliseconds');
       SELECT pgque_worker.handle_http('failing', 'hooks', 'refused', 'http://127.0.0.1:1/nobody');
       SELECT pgque_worker.set_consumer('failing', 'hooks', retry_after => '0 seconds');
       SELECT pgque.send('failing', t, t) FROM unnest(array['boom', 'slow', 'refused']) t;});
ok(wait_sql(q{SELECT count(*) FROM pgque.dlq_inspect('failing')}, '3', 60), 'all three dead-lettered after max_retries');
my $reasons = run(q{SELECT string_agg(ev_type || ' ' || ev_retry || ': ' || dl_reason, E'\n' ORDER BY ev_type)
                      FROM pgque.dlq_inspect('failing')});
like($reasons, qr/^boom 1: HTTP 500: boom$/m, 'a 5xx: the status and the start of the body');
like($reasons, qr/^slow 1: HTTP request failed: .*(timed out|[Tt]imeout)/m, 'a timeout');
like($reasons, qr/^refused 1: HTTP request failed: .*(refused|Couldn't connect|Failed to connect)/mi, 'a refused connection');
is(scalar(@{ requests('/fail_always') }), 2, 'the failing endpoint got the first attempt and one retry');

# --- what may be declared ----------------------------------------------------
my @refused = (
    ["SET ROLE app; SELECT pgque_worker.handle_http('orders', 'x', '*', 'http://10.1.2.3/hook')",
     qr/host "10.1.2.3" is not in pgque_worker.http_allowed_hosts/, 'a host outside the allow-list, for a non-superuser'],
    ["SELECT pgque_worker.handle_http('orders', 'x', '*', 'ftp://127.0.0.1/x')", qr/only http and https/, 'another scheme'],
    ["SELECT pgque_worker.handle_http('orders', 'x', '*', 'not a url')", qr/cannot route to not a url/, 'not a URL'],
    ["SELECT pgque_worker.handle_http('orders', 'x', '*', 'http://u:p\@127.0.0.1/')", qr/credentials/, 'credentials in the URL'],
    ["SELECT pgque_worker.handle_http('orders', 'x', '*', '$base/ok', '{}', 'plain-secret')", qr/whsec_/, 'a secret not in whsec_ form'],
    ["SELECT pgque_worker.handle_http('orders', 'x', '*', '$base/ok', '{\"Bad Header\": \"v\"}')", qr/header "Bad Header" is not allowed/, 'a malformed header name'],
    ["SELECT pgque_worker.handle_http('orders', 'x', '*', '$base/ok', '{\"webhook-id\": \"v\"}')", qr/header "webhook-id" is not allowed/, 'a reserved header'],
    ["SELECT pgque_worker.handle_http('orders', 'x', '*', '$base/ok', '{}', NULL, '0')", qr/timeout must be between 1 millisecond and 24 days/, 'a zero timeout'],
    ["SELECT pgque_worker.handle('orders', 'hooks', 'sqlish', 'pgque.version()')", qr/(HTTP routes|exactly one argument)/, 'a SQL route on an HTTP consumer'],
);
for my $case (@refused) {
    my ($rc, $out, $err) = $node->psql('postgres', $case->[0]);
    like($err, $case->[1], "refused: $case->[2]");
}
is(run(q{SELECT count(*) FROM pgque_worker.handlers WHERE consumer = 'x'}), '0', 'and nothing was declared');

# --- secrets -----------------------------------------------------------------
is(run(q{SELECT secret FROM pgque_worker.handlers WHERE queue = 'orders' AND consumer = 'hooks'}), '********',
    'the handlers view masks the secret');
run(q{CREATE ROLE snoop; GRANT pgque_reader TO snoop;});
is(run(q{SET ROLE snoop; SELECT count(*) FROM pgque_worker.route_secret}), '0', 'another role cannot read it');
is(run(q{SET ROLE app; SELECT secret FROM pgque_worker.route_secret}), $secret, 'its owner can');

# --- kill -9 in the middle of deliveries: nothing lost ------------------------
run(qq{SELECT pgque.create_queue('crash');
       SELECT pgque_worker.handle_http('crash', 'hooks', '*', '$base/ok');
       SELECT pgque_worker.set_consumer('crash', 'hooks', max_messages => 10);
       SELECT pgque.send('crash', 'e', 'c' || i) FROM generate_series(1, 300) i;});
ok(wait_requests('/ok', 2 + 30, 30), 'deliveries under way');
my $pid = run(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgque_worker consumer' AND query LIKE '%"crash"%'});
kill 'KILL', $pid if $pid;
ok($pid, 'killed the consumer worker with SIGKILL');
my %ids;
for (1 .. 1200) {  # up to 60 s
    %ids = ();
    for my $r (@{ requests('/ok') }) {
        next unless $r->{body}{queue} eq 'crash';
        $ids{ $r->{body}{msg_id} }{ $r->{headers}{'webhook-id'} }++;
    }
    last if keys %ids >= 300;
    usleep(50_000);
}
is(scalar(keys %ids), 300, 'every message was delivered');
is(scalar(grep { keys %{ $ids{$_} } != 1 } keys %ids), 0, 'each with one webhook-id, however often it was sent');

$node->stop('fast');
stop_receiver($receiver);
done_testing();
