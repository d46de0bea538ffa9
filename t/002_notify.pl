# Every tick notifies channel pgque_<queue> with the tick id as payload, as
# pgque's clients expect when they LISTEN for new batches.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('notify');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pgque_worker'");
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION pgque_pgq CASCADE;
    SELECT pgque.create_queue('orders');
    SELECT pgque.create_queue('it''s odd');
});

# One psql session: LISTEN, tick; psql prints the notification it received.
sub tick_and_listen {
    my ($queue_literal, $channel_ident, $tick_sql) = @_;
    my ($rc, $out, $err) = $node->psql('postgres', qq{
        LISTEN $channel_ident;
        SELECT pgque.force_next_tick($queue_literal) IS NOT NULL;
        SELECT 'tick=' || $tick_sql;
    });
    is($rc, 0, "tick of $queue_literal ran") or diag($err);
    return $out;
}

my $out = tick_and_listen("'orders'", 'pgque_orders', "pgque.ticker('orders')");
my ($tick) = $out =~ /tick=(\d+)/;
ok(defined $tick, 'ticker(queue) returned a tick id');
like($out, qr/Asynchronous notification "pgque_orders" with payload "$tick" received/,
    'ticker(queue) notified pgque_orders with the tick id');

$out = tick_and_listen("'orders'", 'pgque_orders', 'pgque.ticker()');
like($out, qr/Asynchronous notification "pgque_orders" with payload "\d+" received/,
    'ticker() notifies too');

$out = tick_and_listen("'it''s odd'", q{"pgque_it's odd"}, q{pgque.ticker('it''s odd')});
($tick) = $out =~ /tick=(\d+)/;
like($out, qr/Asynchronous notification "pgque_it's odd" with payload "$tick" received/,
    'a queue name with a quote and a space gets its own channel');

# No tick, no notification.
my ($rc, $quiet) = $node->psql('postgres', q{
    LISTEN pgque_orders;
    SELECT pgque.set_queue_config('orders', 'ticker_idle_period', '1 hour');
    -- PgQ also ticks an idle queue once the last tick is older than half of
    -- ticker_max_lag (3 s by default): a slow machine gets there.
    SELECT pgque.set_queue_config('orders', 'ticker_max_lag', '1 hour');
    SELECT coalesce(pgque.ticker('orders')::text, 'none');
});
like($quiet, qr/none/, 'no tick was due');
unlike($quiet, qr/Asynchronous notification/, 'and nothing was notified');

$node->stop;
done_testing();
