# Docs that run as written (issue 12): every fenced ```sql block of README.md
# and docs/*.md runs, in order, in one psql session against a fresh database
# per file, on a cluster with the worker preloaded. Only example.com URLs
# are replaced, by a local webhook receiver. A block that is deliberately not
# runnable is preceded by the line "<!-- not run: why -->" and counted.
# A file that creates neither extension itself gets both installed
# first; databases and roles a file creates are dropped after it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = "$FindBin::Bin/..";
my @files = ("$root/README.md", sort glob("$root/docs/*.md"));
ok(-e "$root/README.md" && @files > 3, 'README.md and docs/ are here') or BAIL_OUT('no docs to run');

my $receiver = start_receiver('docs');
my $node = new_node('docs', "pgque_worker.tick_interval = '200ms'", "pgque_worker.http_allowed_hosts = '127.0.0.1'");

# The fenced blocks of a Markdown text: [runnable sql blocks], count of not-run ones.
sub sql_blocks {
    my ($text) = @_;
    my (@run, $not_run, $in, $skip, @lines, $previous);
    $not_run = 0;
    for my $line (split /\n/, $text) {
        if (!defined $in && $line =~ /^```(\S*)\s*$/) {
            $in = $1;
            $skip = defined $previous && $previous =~ /^<!-- not run:/;
            @lines = ();
        } elsif (defined $in && $line =~ /^```\s*$/) {
            if ($in eq 'sql') {
                if ($skip) { $not_run++ } else { push @run, join("\n", @lines) . "\n" }
            }
            undef $in;
        } elsif (defined $in) {
            push @lines, $line;
        }
        $previous = $line if $line =~ /\S/;
    }
    return (\@run, $not_run);
}

my ($total_run, $total_not_run) = (0, 0);
my $n = 0;
for my $file (@files) {
    (my $name = $file) =~ s{^\Q$root\E/}{};
    my ($blocks, $not_run) = sql_blocks(slurp_file($file));
    $total_not_run += $not_run;
    next unless @$blocks;
    my $db = 'doc_' . ++$n;
    my $roles_before = $node->safe_psql('postgres', 'SELECT string_agg(rolname, \',\') FROM pg_roles');
    my $dbs_before = $node->safe_psql('postgres', 'SELECT string_agg(datname, \',\') FROM pg_database');
    $node->safe_psql('postgres', "CREATE DATABASE $db");
    my $sql = join("\n", @$blocks);
    # Only example.com hosts (and their subdomains) go to the local receiver.
    $sql =~ s{https?://(?:[a-z0-9-]+\.)*example\.com(?::\d+)?}{$receiver->{base}}g;
    install_pgque($node, $db) unless $sql =~ /CREATE EXTENSION pgque_/i;
    my ($rc, $out, $err) = $node->psql($db, $sql, on_error_stop => 1, extra_params => ['-a']);
    is($rc, 0, "$name: its " . scalar(@$blocks) . " sql blocks run" . ($not_run ? " ($not_run marked not run)" : ''))
        or diag("$err\n--- output:\n$out");
    $total_run += @$blocks;
    $node->safe_psql('postgres', "DROP DATABASE $db WITH (FORCE)");
    my %dbs = map { $_ => 1 } split /,/, $dbs_before;
    for my $other (split /,/, $node->safe_psql('postgres', 'SELECT string_agg(datname, \',\') FROM pg_database')) {
        $node->safe_psql('postgres', qq{DROP DATABASE "$other" WITH (FORCE)}) unless $dbs{$other} || $other eq $db;
    }
    my %before = map { $_ => 1 } split /,/, $roles_before;
    for my $role (split /,/, $node->safe_psql('postgres', 'SELECT string_agg(rolname, \',\') FROM pg_roles')) {
        $node->safe_psql('postgres', qq{DROP ROLE "$role"}) unless $before{$role};
    }
}
ok($total_run >= 8, "$total_run sql blocks ran, $total_not_run marked not run");

$node->stop;
stop_receiver($receiver);
done_testing();
