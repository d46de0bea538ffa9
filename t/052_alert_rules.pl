# The shipped Prometheus alert rules (issue 12): promtool checks them and
# runs their unit tests on synthetic series (contrib/prometheus/alerts_test.yaml).
use strict;
use warnings;
use FindBin;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;

my $promtool = '/usr/bin/promtool';
BAIL_OUT("$promtool is missing (Debian package prometheus): run scripts/install-deps.sh") unless -x $promtool;
my $dir = "$FindBin::Bin/../contrib/prometheus";

my ($out, $err) = run_command([$promtool, 'check', 'rules', "$dir/alerts.yaml"]);
like($out, qr/SUCCESS: 5 rules found/, 'promtool check rules: the five rules are valid') or diag($err);
($out, $err) = run_command([$promtool, 'test', 'rules', "$dir/alerts_test.yaml"]);
like($out . $err, qr/SUCCESS/, 'promtool test rules: every alert fires when, and only when, it should')
    or diag($out . $err);
unlike($out . $err, qr/FAILED/, 'no failed rule test');

# The alerts and the Grafana dashboard use only metrics that queries.yaml
# makes: <query name>_<column>, columns other than labels.
my %made;
my ($namespace, $in_metrics);
for (split /\n/, slurp_file("$dir/queries.yaml")) {
    if (/^(pgque_\w+):/) { $namespace = $1; next; }
    if (/^    - (\w+):/ && $namespace) { my $col = $1; $made{"${namespace}_$col"} = 1; }
}
ok(exists $made{pgque_consumer_delivered_total}, 'queries.yaml parsed (' . scalar(keys %made) . ' columns)');
my $dashboard = eval { decode_json(slurp_file("$FindBin::Bin/../contrib/grafana/pgque_worker.json")) };
ok($dashboard && @{ $dashboard->{panels} } >= 8, 'the Grafana dashboard is valid JSON with its panels');
my @exprs = map { $_->{expr} } map { @{ $_->{targets} } } @{ $dashboard->{panels} // [] };
my $rules = slurp_file("$dir/alerts.yaml");
my %used = map { $_ => 1 } (join(' ', @exprs) . ' ' . $rules) =~ /\b(pgque_(?:consumer|queue|worker)_\w+)\b/g;
my @unknown = grep { !$made{$_} } sort keys %used;
is(join(',', @unknown), '', 'every metric the dashboard and the alerts use is scraped (' . scalar(keys %used) . ' used)');
done_testing();
