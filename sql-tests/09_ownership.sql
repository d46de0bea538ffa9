-- One ownership rule in the data (issue 8): a consumer's routes, secrets and
-- header values belong to the consumer's owner, and creating a consumer row
-- takes what pgque.register_consumer takes, through the API and through
-- plain DML alike. Header values are credentials: readable by their owner
-- only. Timeouts and intervals are bounded where they end up in C integers.
\set VERBOSITY terse
SELECT pgque.create_queue('vault');
CREATE FUNCTION noop(msg pgque.message) RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE ROLE victim;
CREATE ROLE intruder;     -- no pgque grants at all
CREATE ROLE colleague;    -- pgque_reader, but not a member of victim
GRANT pgque_reader TO victim, colleague;
SET pgque_worker.http_allowed_hosts = '*';

SET ROLE victim;
SELECT pgque_worker.handle_http('vault', 'payments', 'paid', 'http://127.0.0.1:9/hook',
    headers => '{"Authorization": "Bearer victim-token", "X-Tenant": "v"}',
    secret => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
SELECT pgque_worker.handle('vault', 'ledger', 'paid', 'noop(pgque.message)');
RESET ROLE;

-- The view shows header names, never values, to everyone.
SET ROLE colleague;
SELECT consumer, event_type, header_names, secret FROM pgque_worker.handlers ORDER BY 1;
SELECT count(*) AS secrets_visible FROM pgque_worker.route_secret;
RESET ROLE;
SET ROLE victim;
SELECT secret IS NOT NULL AS has_secret, headers FROM pgque_worker.route_secret;
RESET ROLE;

-- A role with no pgque grants cannot create a consumer row by DML (the
-- worker would receive that pgque consumer's messages for it).
SET ROLE intruder;
INSERT INTO pgque_worker.consumer (queue, consumer) VALUES ('vault', 'client_side');
INSERT INTO pgque_worker.consumer (queue, consumer, owner) VALUES ('vault', 'client_side', 'victim');
RESET ROLE;

-- Nor can anyone add a route to, or plant a secret on, a consumer they do
-- not own, by DML or through the API; nor take over a consumer by renaming
-- their own.
SET ROLE colleague;
INSERT INTO pgque_worker.route (consumer_id, event_type, kind, url)
SELECT id, 'refund', 'http', 'http://127.0.0.1:9/steal' FROM pgque_worker.consumer WHERE consumer = 'payments';
INSERT INTO pgque_worker.route (consumer_id, event_type, handler)
SELECT id, 'refund', 'public.noop(pgque.message)' FROM pgque_worker.consumer WHERE consumer = 'ledger';
INSERT INTO pgque_worker.route_secret (consumer_id, event_type, secret)
SELECT id, 'paid', 'whsec_AAAA' FROM pgque_worker.consumer WHERE consumer = 'payments';
SELECT pgque_worker.handle('vault', 'ledger', 'refund', 'noop(pgque.message)');
UPDATE pgque_worker.route SET url = 'http://127.0.0.1:9/steal';
UPDATE pgque_worker.route_secret SET headers = '{}';
DELETE FROM pgque_worker.route_secret;
SELECT pgque_worker.handle('vault', 'mine', 'x', 'noop(pgque.message)');
UPDATE pgque_worker.route SET consumer_id = (SELECT id FROM pgque_worker.consumer WHERE consumer = 'ledger')
 WHERE consumer_id = (SELECT id FROM pgque_worker.consumer WHERE consumer = 'mine');
UPDATE pgque_worker.consumer SET owner = 'victim' WHERE consumer = 'mine';
-- Renaming one's own consumer is allowed: any pgque_reader may consume
-- under any consumer name, as pgque's clients may.
UPDATE pgque_worker.consumer SET consumer = 'renamed' WHERE consumer = 'mine';
SELECT pgque.register_consumer('vault', 'renamed');
RESET ROLE;
SELECT c.consumer, r.event_type, r.owner, coalesce(r.url, r.handler::text) AS target
  FROM pgque_worker.route r JOIN pgque_worker.consumer c ON c.id = r.consumer_id ORDER BY 1, 2;
SELECT consumer_id, secret IS NOT NULL AS has_secret, headers, owner FROM pgque_worker.route_secret;

-- Credentials belong to HTTP routes and are validated however they arrive.
INSERT INTO pgque_worker.route_secret (consumer_id, event_type, secret)
SELECT id, 'paid', 'x' FROM pgque_worker.consumer WHERE consumer = 'ledger';
UPDATE pgque_worker.route_secret SET secret = 'not-whsec';
UPDATE pgque_worker.route_secret SET headers = '{"Host": "evil"}';
UPDATE pgque_worker.route_secret SET headers = '{"X-A": "line\r\nbreak"}';
UPDATE pgque_worker.route_secret SET headers = '["x"]';

-- Bounds: a statement_timeout is an int of milliseconds.
SELECT pgque_worker.handle('vault', 'ledger', 'slow', 'noop(pgque.message)', timeout => '25 days');
SELECT pgque_worker.handle('vault', 'ledger', 'slow', 'noop(pgque.message)', timeout => '0');
SELECT pgque_worker.handle_http('vault', 'payments', 'slow', 'http://127.0.0.1:9/', timeout => '100 years');
SELECT pgque_worker.set_consumer('vault', 'ledger', retry_after => '400 days');
SELECT pgque_worker.set_consumer('vault', 'ledger', poll_interval => '2 days');
UPDATE pgque_worker.route SET timeout = '30 days';
UPDATE pgque_worker.consumer SET poll_interval = '1 year';
SELECT pgque_worker.handle('vault', 'ledger', 'slow', 'noop(pgque.message)', timeout => '24 days');
SELECT event_type, timeout FROM pgque_worker.handlers WHERE consumer = 'ledger' ORDER BY 1;

-- A dropped owner stops its consumer, visibly; nothing runs as a role that
-- no longer exists.
CREATE ROLE shortlived;
GRANT pgque_reader TO shortlived;
SET ROLE shortlived;
SELECT pgque_worker.handle('vault', 'ephemeral', '*', 'noop(pgque.message)');
RESET ROLE;
SELECT state FROM pgque_worker.consumers WHERE consumer = 'ephemeral';
DROP ROLE shortlived;
SELECT state FROM pgque_worker.consumers WHERE consumer = 'ephemeral';
-- Owners are names: a row of a role that does not exist is inert, and only a
-- superuser (or a restore run by one) may write one; a member of nothing
-- cannot claim it, nor write a new one.
SET ROLE colleague;
UPDATE pgque_worker.consumer SET max_messages = 1 WHERE consumer = 'ephemeral';
INSERT INTO pgque_worker.consumer (queue, consumer, owner) VALUES ('vault', 'orphan', 'no_such_role');
SELECT pgque_worker.set_consumer('vault', 'ephemeral', max_messages => 1);
RESET ROLE;
SELECT max_messages FROM pgque_worker.consumers WHERE consumer = 'ephemeral';

-- An error text can quote a response body or data: only the consumer's
-- owner sees last_error (t/050_counters.pl checks it with real failures).
-- The counters live in shared memory; no table of them is left to read.
SELECT to_regclass('pgque_worker.consumer_stats') IS NULL AS no_stats_table;

-- pgque_admin may not put triggers on the dead letters (SECURITY DEFINER
-- functions owned by a superuser write them).
SELECT privilege, has_table_privilege('pgque_admin', 'pgque.dead_letter', privilege) AS granted
  FROM unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRIGGER', 'TRUNCATE', 'REFERENCES']) privilege;

-- Handlers are stored as schema-qualified text (pg_upgrade cannot carry
-- regprocedure columns); through DML the schema must be given.
SELECT target FROM pgque_worker.handlers WHERE consumer = 'ledger' ORDER BY event_type;
INSERT INTO pgque_worker.route (consumer_id, event_type, handler)
SELECT id, 'dml', 'noop(pgque.message)' FROM pgque_worker.consumer WHERE consumer = 'ledger';
INSERT INTO pgque_worker.route (consumer_id, event_type, handler)
SELECT id, 'dml', 'public.noop(pgque.message)' FROM pgque_worker.consumer WHERE consumer = 'ledger';
-- A dropped handler stops its consumer, visibly; its messages wait.
CREATE FUNCTION doomed(msg pgque.message) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SELECT pgque_worker.handle('vault', 'doomed', '*', 'doomed(pgque.message)');
DROP FUNCTION doomed(pgque.message);
SELECT consumer, state FROM pgque_worker.consumers WHERE consumer = 'doomed';

-- Clean up for the suites that follow.
SELECT pgque_worker.drop_consumer(queue, consumer, true) FROM pgque_worker.consumer ORDER BY id;
RESET pgque_worker.http_allowed_hosts;
