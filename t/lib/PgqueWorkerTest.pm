# Helpers shared by the TAP tests: a cluster with the module preloaded, the
# extensions installed, and a plain receive/ack consumer loop that drains a
# queue the way pgque's clients do (no ticker() call: the worker ticks).
package PgqueWorkerTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(time usleep);
use FindBin;
use IPC::Run;
use JSON::PP;

our @EXPORT = qw(new_node install_pgque drain wait_for wait_until_up webhook_secret start_receiver receiver_requests
                 wait_receiver_requests stop_receiver);

# A started node with pgque_worker preloaded; extra lines for postgresql.conf.
sub new_node {
    my ($name, @conf) = @_;
    my $node = PostgreSQL::Test::Cluster->new($name);
    $node->init;
    $node->append_conf('postgresql.conf', join("\n",
        "shared_preload_libraries = 'pgque_worker'",
        "max_worker_processes = 16",
        @conf));
    $node->start;
    return $node;
}

sub install_pgque {
    my ($node, $db) = @_;
    $node->safe_psql($db, 'CREATE EXTENSION pgque_pgq CASCADE; CREATE EXTENSION pgque_worker;');
}

# Polls $sql until it returns $expected, for at most $seconds; true if it did.
sub wait_for {
    my ($node, $db, $sql, $expected, $seconds) = @_;
    my $deadline = time() + ($seconds // 30);
    while (time() < $deadline) {
        # A server in crash recovery can close psql before it has read its
        # input: IPC::Run then dies of the broken pipe. That is a "not yet".
        my ($rc, $out) = eval { $node->psql($db, $sql) };
        return 1 if defined $rc && $rc == 0 && defined $out && $out eq $expected;
        usleep(50_000);
    }
    return 0;
}

# Receives and acks batches of $queue for $consumer until $want events have
# arrived (undef: until nothing new arrived for 3 seconds) or $seconds
# passed; returns the payloads in arrival order.
sub drain {
    my ($node, $db, $queue, $consumer, $want, $seconds) = @_;
    my @got;
    my $deadline = time() + ($seconds // 60);
    my $last_progress = time();
    while ((defined $want ? @got < $want : time() - $last_progress < 3) && time() < $deadline) {
        my ($rc, $out) = eval { $node->psql($db, qq{
            CREATE TEMP TABLE b AS SELECT * FROM pgque.receive('$queue', '$consumer', 1000);
            SELECT string_agg(payload, ',' ORDER BY msg_id) FROM b;
            SELECT pgque.ack(batch_id) FROM b LIMIT 1;
        }) };
        $rc //= 1;  # died of a broken pipe: the server is restarting
        # A server restarting under us is not a reason to stop draining.
        if ($rc == 0 && defined $out && $out ne '') {
            my ($payloads) = split /\n/, $out;
            if (defined $payloads && $payloads ne '') {
                push @got, split(/,/, $payloads);
                $last_progress = time();
            }
        } else {
            usleep(20_000);
        }
    }
    return \@got;
}

# Waits (at most $seconds, default 60) until the server accepts queries again,
# e.g. after crash recovery; true if it does.
sub wait_until_up {
    my ($node, $seconds) = @_;
    return wait_for($node, 'postgres', 'SELECT 1', '1', $seconds // 60);
}

# The signing secret the test receiver verifies with.
sub webhook_secret { return 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'; }

# A webhook receiver (t/lib/webhook_receiver.py) on 127.0.0.1, logging to
# tmp_check/NAME.jsonl; its base URL is $receiver->{base}.
sub start_receiver {
    my ($name) = @_;
    my $log = "$PostgreSQL::Test::Utils::tmp_check/$name.jsonl";
    my ($out, $err) = ('', '');
    my $harness = IPC::Run::start(['/usr/bin/python3', "$FindBin::Bin/lib/webhook_receiver.py", $log, webhook_secret()],
        '>', \$out, '2>', \$err);
    $harness->pump until $out =~ /^(\d+)\n/;
    return { base => "http://127.0.0.1:$1", log => $log, harness => $harness };
}

# The requests the receiver got, in order, optionally for one path.
sub receiver_requests {
    my ($receiver, $path) = @_;
    return [] unless -e $receiver->{log};
    # Only whole lines: the receiver may be writing the last one right now.
    my $text = slurp_file($receiver->{log});
    $text =~ s/[^\n]*\z//;
    my @all = map { decode_json($_) } grep { /\S/ } split /\n/, $text;
    return [grep { !defined $path || $_->{path} eq $path } @all];
}

# Waits (at most $seconds, default 30) until the receiver got $count
# requests (for $path, or in all); true if it did.
sub wait_receiver_requests {
    my ($receiver, $path, $count, $seconds) = @_;
    for (1 .. ($seconds // 30) * 20) {
        return 1 if @{ receiver_requests($receiver, $path) } >= $count;
        usleep(50_000);
    }
    return 0;
}

sub stop_receiver { my ($receiver) = @_; $receiver->{harness}->kill_kill; }

1;
