# Found by an attacker review: a handler closed the consumer
# worker's own batch cursor (CLOSE through a PL/pgSQL refcursor named after
# pg_cursors). The worker keeps a pointer to the dropped portal and fetches
# the next slice from it. Any role that may declare a route (pgque_reader)
# could do this to its own consumer and crash the server (SIGSEGV). Now CLOSE
# fails the handler: the cursor is shielded while handlers run.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('attack_close', "pgque_worker.tick_interval = '200ms'");
install_pgque($node, 'postgres');
sub run { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }
run(q{
    CREATE ROLE mallory LOGIN; GRANT pgque_reader TO mallory;
    CREATE SCHEMA mallory AUTHORIZATION mallory;
    SELECT pgque.create_queue('q');
    SET ROLE mallory;
    CREATE FUNCTION mallory.h(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        c refcursor;
        n text;
    BEGIN
        FOR n IN SELECT name FROM pg_catalog.pg_cursors LOOP
            c := n;
            CLOSE c;
        END LOOP;
    END $$;
    SELECT pgque_worker.set_consumer('q', 'm', max_messages => 1, enabled => false);
    SELECT pgque_worker.handle('q', 'm', '*', 'mallory.h(pgque.message)');
    RESET ROLE;
    BEGIN;
    SELECT pgque.send('q', 't', 'x' || i) FROM generate_series(1, 5) i;
    COMMIT;
    SET ROLE mallory; SELECT pgque_worker.set_consumer('q', 'm', enabled => true); RESET ROLE;
});
wait_for($node, 'postgres', q{SELECT processed + failed > 0 FROM pgque_worker.consumers WHERE consumer = 'm'}, 't', 15);
wait_until_up($node);
ok(!$node->log_contains('terminated by signal'), 'no process crashed');
ok(!$node->log_contains('terminating any other active server processes'), 'the server did not go down (restart_after_crash: every session killed)');
done_testing();
