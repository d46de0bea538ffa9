# The metrics pipeline (issue 12): Debian's prometheus-postgres-exporter
# scrapes a cluster with contrib/prometheus/queries.yaml, and the queue,
# consumer and worker metrics appear with the values the workers counted.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use HTTP::Tiny;
use IO::Socket::INET;
use IPC::Run;
use Test::More;
use Time::HiRes qw(time usleep);

my $exporter = '/usr/bin/prometheus-postgres-exporter';
my $queries = "$FindBin::Bin/../contrib/prometheus/queries.yaml";
BAIL_OUT("$exporter is missing: run scripts/install-deps.sh") unless -x $exporter;

my $receiver = start_receiver('metrics_hooks');
my $base = $receiver->{base};
my $node = new_node('metrics', "pgque_worker.tick_interval = '100ms'",
    "pgque_worker.http_allowed_hosts = '127.0.0.1'");
install_pgque($node, 'postgres');
sub run { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }
sub wait_sql { my ($sql, $want, $secs) = @_; return wait_for($node, 'postgres', $sql, $want, $secs // 30); }

# A SQL consumer and an HTTP consumer whose routes answer 2xx, 3xx, 4xx
# (410: dead-lettered at once), 5xx, and no answer at all (a closed port).
run(qq{
    CREATE FUNCTION noop(m pgque.message) RETURNS void LANGUAGE sql AS 'SELECT';
    SELECT pgque.create_queue('orders');
    SELECT pgque_worker.handle('orders', 'ledger', '*', 'noop(pgque.message)');
    SELECT pgque.create_queue('hooks');
    SELECT pgque_worker.set_consumer('hooks', 'web', retry_after => '1 hour');
    SELECT pgque_worker.handle_http('hooks', 'web', 'ok', '$base/ok');
    SELECT pgque_worker.handle_http('hooks', 'web', 'moved', '$base/moved');
    SELECT pgque_worker.handle_http('hooks', 'web', 'gone', '$base/gone');
    SELECT pgque_worker.handle_http('hooks', 'web', 'boom', '$base/fail_always');
    SELECT pgque_worker.handle_http('hooks', 'web', 'down', 'http://127.0.0.1:1/');
});
run(q{SELECT pgque.send('orders', 'e', 'o' || i) FROM generate_series(1, 5) i});
run(q{SELECT pgque.send('hooks', t, '{}'::jsonb) FROM unnest(array['ok', 'ok', 'ok', 'moved', 'gone', 'boom', 'down']) t});
ok(wait_sql(q{SELECT delivered || '/' || batches FROM pgque_worker.consumer_metrics WHERE consumer = 'ledger'}, '5/1'),
    'the SQL consumer handled its batch');
ok(wait_sql(q{SELECT delivered || '/' || failed || '/' || dead_lettered || '/' || retried
              FROM pgque_worker.consumer_metrics WHERE consumer = 'web'}, '3/4/1/3'),
    'the HTTP consumer handled its batch');

# --- the exporter, on 127.0.0.1 and a free port, over the Unix socket ----------
my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1, Proto => 'tcp')
    or die "no free port: $!";
my $port = $probe->sockport;
close $probe;
my $dsn = sprintf('postgresql://%s@:%d/postgres?host=%s&sslmode=disable',
    scalar(getpwuid($<)), $node->port, $node->host);
my ($out, $err) = ('', '');
my $harness = IPC::Run::start(
    [$exporter, "--web.listen-address=127.0.0.1:$port", "--extend.query-path=$queries",
     '--disable-default-metrics', '--disable-settings-metrics'],
    '>', \$out, '2>', \$err, init => sub { $ENV{DATA_SOURCE_NAME} = $dsn });

# Scrapes until every pgque metric is there (bounded wait).
my $metrics = '';
my $deadline = time() + 30;
while (time() < $deadline) {
    my $r = HTTP::Tiny->new(timeout => 5)->get("http://127.0.0.1:$port/metrics");
    $metrics = $r->{content} // '' if $r->{success};
    last if $metrics =~ /^pgque_worker_up\{/m && $metrics =~ /^pgque_consumer_delivered_total\{/m
        && $metrics =~ /^pgque_queue_events_sent_total\{/m;
    usleep(200_000);
}
ok($metrics =~ /^pgque_consumer_delivered_total\{/m, 'the exporter serves the pgque metrics')
    or diag("exporter: " . (eval { $harness->pump_nb; 1 } ? $err : '') . "\nmetrics:\n" . substr($metrics, 0, 3000));

# The value of metric $name whose labels include every pair of %labels.
sub metric {
    my ($name, %labels) = @_;
    for my $line (split /\n/, $metrics) {
        next unless $line =~ /^\Q$name\E\{([^}]*)\} (\S+)$/;
        my ($set, $value) = ($1, $2);
        next if grep { $set !~ /(?:^|,)\Q$_\E="\Q$labels{$_}\E"/ } keys %labels;
        return $value;
    }
    return undef;
}
my %ledger = (queue => 'orders', consumer => 'ledger', datname => 'postgres');
my %web = (queue => 'hooks', consumer => 'web', datname => 'postgres');
is(metric('pgque_consumer_delivered_total', %ledger), 5, 'delivered (SQL)');
is(metric('pgque_consumer_batches_total', %ledger), 1, 'batches');
is(metric('pgque_consumer_messages_total', %ledger), 5, 'messages');
is(metric('pgque_consumer_running', %ledger), 1, 'running');
is(metric('pgque_consumer_pending_events', %ledger), 0, 'pending events');
ok(defined metric('pgque_consumer_lag_seconds', %ledger), 'lag seconds');
cmp_ok(metric('pgque_consumer_batch_seconds_total', %ledger), '>', 0, 'batch duration');
cmp_ok(metric('pgque_consumer_handler_seconds_total', %ledger), '>', 0, 'handler time');
is(metric('pgque_consumer_delivered_total', %web), 3, 'delivered (HTTP)');
is(metric('pgque_consumer_failed_total', %web), 4, 'failed');
is(metric('pgque_consumer_retried_total', %web), 3, 'retried');
is(metric('pgque_consumer_dead_lettered_total', %web), 1, 'dead-lettered');
is(join(',', map { metric("pgque_consumer_http_${_}_total", %web) } qw(2xx 3xx 4xx 5xx transport_errors)),
    '3,1,1,1,1', 'webhook status classes: 2xx, 3xx, 4xx, 5xx, transport errors');
is(metric('pgque_queue_events_sent_total', queue => 'orders'), 5, 'events sent to orders');
is(metric('pgque_queue_events_sent_total', queue => 'hooks'), 7, 'events sent to hooks');
is(metric('pgque_worker_up', database => 'postgres', state => 'running'), 1, 'worker up');
cmp_ok(metric('pgque_worker_ticks_total', database => 'postgres') // 0, '>', 0, 'worker ticks');

$harness->kill_kill;
$node->stop('fast');
stop_receiver($receiver);
done_testing();
