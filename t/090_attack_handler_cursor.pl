# Found by an attacker review: a handler of one owner could reach the
# consumer worker's own batch cursor (an SPI portal, visible by name in
# pg_cursors and fetchable from PL/pgSQL through a refcursor) and reads or
# skips the messages of another owner's routes in the same consumer. The
# skipped messages were acked as if handled: lost. The worker now shields its
# cursor while handlers run (pg::CursorShield): FETCH fails the handler.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use PgqueWorkerTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_node('attack_cursor', "pgque_worker.tick_interval = '200ms'");
install_pgque($node, 'postgres');
sub run { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }

run(q{
    CREATE ROLE grp NOLOGIN; GRANT pgque_reader TO grp;
    CREATE ROLE carol LOGIN; CREATE ROLE bob LOGIN;
    GRANT grp TO carol, bob;
    CREATE SCHEMA carol AUTHORIZATION carol; CREATE SCHEMA bob AUTHORIZATION bob;
    SELECT pgque.create_queue('q');
    SET ROLE carol;
    CREATE TABLE carol.log (what text, payload text);
    -- Carol's handler: handles her own message, then drains every cursor of
    -- the session it can see (the worker's batch cursor among them).
    CREATE FUNCTION carol.h(m pgque.message) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        c refcursor;
        r record;
        n text;
    BEGIN
        INSERT INTO carol.log VALUES ('own', m.payload);
        FOR n IN SELECT name FROM pg_catalog.pg_cursors LOOP
            INSERT INTO carol.log VALUES ('cursor', n);
            c := n;
            LOOP
                FETCH c INTO r;
                EXIT WHEN NOT FOUND;
                INSERT INTO carol.log VALUES ('stolen', (r.m).payload);
            END LOOP;
        END LOOP;
    END $$;
    RESET ROLE;
    SET ROLE bob;
    CREATE TABLE bob.log (payload text);
    CREATE FUNCTION bob.h(m pgque.message) RETURNS void LANGUAGE sql
        AS $$ INSERT INTO bob.log VALUES (m.payload) $$;
    RESET ROLE;
    SET ROLE grp;
    SELECT pgque_worker.set_consumer('q', 'shared', max_messages => 1, enabled => false);
    RESET ROLE;
    SET ROLE carol; SELECT pgque_worker.handle('q', 'shared', 'c', 'carol.h(pgque.message)'); RESET ROLE;
    SET ROLE bob; SELECT pgque_worker.handle('q', 'shared', 'b', 'bob.h(pgque.message)'); RESET ROLE;
});
# One transaction: one batch, carol's message first, then bob's.
run(q{BEGIN;
    SELECT pgque.send('q', 'c', 'carol-1');
    SELECT pgque.send('q', 'b', 'bob-secret-' || i) FROM generate_series(1, 5) i;
    COMMIT;});
run(q{SET ROLE grp; SELECT pgque_worker.set_consumer('q', 'shared', enabled => true); RESET ROLE;});
ok(wait_for($node, 'postgres', q{SELECT processed + failed > 0 AND coalesce(pending_events, 0) = 0
                                   FROM pgque_worker.consumers WHERE consumer = 'shared'},
    't', 30), 'the batch was handled and acked');
note run(q{SELECT string_agg(what || ':' || payload, ',') FROM carol.log});
note run(q{SELECT processed || '/' || failed FROM pgque_worker.consumers WHERE consumer = 'shared'});
is(run(q{SELECT count(*) FROM carol.log WHERE what = 'stolen'}), '0',
    "carol's handler reads none of bob's messages through the worker's cursor");
is(run(q{SELECT count(*) FROM bob.log}), '5', "bob's handler got all 5 of his messages");
done_testing();
