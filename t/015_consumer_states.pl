# What pgque_worker.consumers says each consumer is doing (issue 11, in
# part): running with its pid, paused, waiting for a worker slot when
# pgque_worker.max_consumer_workers is reached, and running once it is
# raised.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('states', "pgque_worker.tick_interval = '200ms'", 'pgque_worker.max_consumer_workers = 2');
install_pgque($node, 'postgres');
sub run { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }
sub wait_sql { my ($sql, $want, $secs) = @_; return wait_for($node, 'postgres', $sql, $want, $secs // 30); }

run(q{CREATE FUNCTION noop(m pgque.message) RETURNS void LANGUAGE sql AS $$ SELECT $$;
      SELECT pgque.create_queue('q');
      SELECT pgque_worker.handle('q', 'c' || i, '*', 'noop(pgque.message)') FROM generate_series(1, 3) i;});
# A running consumer is 'idle' between batches.
my $busy = q{replace(state, 'idle', 'running')};
ok(wait_sql(qq{SELECT string_agg($busy, ',' ORDER BY state) FROM pgque_worker.consumers},
    'running,running,waiting for a worker slot (max_consumer_workers = 2)'),
    'two consumers run, the third says it waits for a worker slot');
is(run(q{SELECT count(*) FROM pgque_worker.consumers c JOIN pg_stat_activity a ON a.pid = c.pid
          WHERE a.backend_type = 'pgque_worker consumer'}), '2', 'the running ones show their process');
is(run(q{SELECT count(*) FROM pgque_worker.consumers WHERE state LIKE 'waiting%' AND pid IS NULL}), '1',
    'the waiting one has none');

run(q{ALTER SYSTEM SET pgque_worker.max_consumer_workers = 3; SELECT pg_reload_conf();});
ok(wait_sql(qq{SELECT string_agg($busy, ',') FROM pgque_worker.consumers}, 'running,running,running'),
    'raising the limit starts it');

run(q{SELECT pgque_worker.pause('q', 'c1')});
ok(wait_sql(q{SELECT state || ' ' || (pid IS NULL) FROM pgque_worker.consumers WHERE consumer = 'c1'}, 'paused true'),
    'a paused consumer says so and has no process');
$node->stop('fast');
done_testing();
