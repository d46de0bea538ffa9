-- Declaring consumers and SQL handlers: pgque_worker.handle() and friends.
-- (The regression database is not served by a worker: this checks the API.)
\set VERBOSITY terse
SELECT pgque.create_queue('shop');
CREATE TABLE shop_log (msg_id bigint, who text);
CREATE FUNCTION on_order(msg pgque.message) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO shop_log VALUES (msg.msg_id, current_user) $$;
CREATE FUNCTION on_anything(msg pgque.message) RETURNS void LANGUAGE plpgsql
    AS $$ BEGIN NULL; END $$;

-- handle() creates the consumer (and registers it with pgque) with defaults.
SELECT pgque_worker.handle('shop', 'fulfilment', 'order.created', 'on_order(pgque.message)');
SELECT pgque_worker.handle('shop', 'fulfilment', '*', 'on_anything(pgque.message)', '5 seconds');
SELECT queue, consumer, max_messages, retry_after, poll_interval, enabled, state
  FROM pgque_worker.consumers;
SELECT queue, consumer, event_type, kind, target, timeout FROM pgque_worker.handlers ORDER BY event_type;
SELECT consumer_name FROM pgque.get_consumer_info('shop');

-- A second handle() for the same type replaces the route.
SELECT pgque_worker.handle('shop', 'fulfilment', 'order.created', 'on_anything(pgque.message)');
SELECT event_type, target FROM pgque_worker.handlers ORDER BY event_type;

-- set_consumer(): named arguments, NULL or omitted keeps the current value.
SELECT pgque_worker.set_consumer('shop', 'fulfilment', max_messages => 10);
SELECT pgque_worker.set_consumer('shop', 'fulfilment', retry_after => '5 seconds');
SELECT max_messages, retry_after, poll_interval, enabled FROM pgque_worker.consumers;
SELECT pgque_worker.pause('shop', 'fulfilment');
SELECT enabled, state FROM pgque_worker.consumers;
SELECT pgque_worker.resume('shop', 'fulfilment');
SELECT enabled, state FROM pgque_worker.consumers;

-- Bad declarations fail with a clear error and change nothing.
SELECT pgque_worker.handle('shop', 'fulfilment', 'x', 'no_such_function(pgque.message)');
CREATE FUNCTION wrong_arg(payload text) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SELECT pgque_worker.handle('shop', 'fulfilment', 'x', 'wrong_arg(text)');
CREATE FUNCTION two_args(msg pgque.message, extra int) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SELECT pgque_worker.handle('shop', 'fulfilment', 'x', 'two_args(pgque.message, int)');
CREATE PROCEDURE a_procedure(msg pgque.message) LANGUAGE sql AS $$ SELECT $$;
SELECT pgque_worker.handle('shop', 'fulfilment', 'x', 'a_procedure(pgque.message)');
SELECT pgque_worker.handle('shop', 'fulfilment', 'x', NULL);
SELECT pgque_worker.handle('shop', 'fulfilment', '', 'on_order(pgque.message)');
SELECT pgque_worker.handle('shop', NULL, 'x', 'on_order(pgque.message)');
SELECT pgque_worker.handle('no_such_queue', 'c', 'x', 'on_order(pgque.message)');
SELECT pgque_worker.set_consumer('shop', 'fulfilment', max_messages => 0);
SELECT pgque_worker.set_consumer('shop', 'fulfilment', retry_after => '-1 second');
SELECT pgque_worker.set_consumer('shop', 'fulfilment', poll_interval => '0');
SELECT pgque_worker.unhandle('shop', 'nobody', 'x');
SELECT pgque_worker.pause('shop', 'nobody');
SELECT pgque_worker.resume('shop', 'nobody');
SELECT count(*) AS routes FROM pgque_worker.handlers;
SELECT count(*) AS consumers FROM pgque_worker.consumers;
SELECT count(*) FROM pgque_worker.consumers WHERE queue = 'no_such_queue';

-- Roles: a route runs as the role that declared it, and only that role (or a
-- superuser) may change the consumer. The grants an application role needs:
CREATE ROLE shop_app;
CREATE ROLE other_app;
GRANT pgque_reader TO shop_app, other_app;
CREATE FUNCTION private_handler(msg pgque.message) RETURNS void LANGUAGE sql AS $$ SELECT $$;
REVOKE EXECUTE ON FUNCTION private_handler(pgque.message) FROM PUBLIC;
SET ROLE shop_app;
SELECT pgque_worker.handle('shop', 'app', 'order.created', 'on_order(pgque.message)');
SELECT pgque_worker.handle('shop', 'app', 'secret', 'private_handler(pgque.message)');  -- may not execute it
SELECT queue, consumer, owner FROM pgque_worker.consumers WHERE consumer = 'app';
SELECT event_type, owner FROM pgque_worker.handlers WHERE consumer = 'app';
SET ROLE other_app;
SELECT pgque_worker.handle('shop', 'app', 'order.paid', 'on_order(pgque.message)');
SELECT pgque_worker.set_consumer('shop', 'app', max_messages => 1);
SELECT pgque_worker.pause('shop', 'app');
SELECT pgque_worker.unhandle('shop', 'app', 'order.created');
SELECT pgque_worker.drop_consumer('shop', 'app');
UPDATE pgque_worker.consumer SET enabled = false WHERE consumer = 'app';  -- row security: no rows
DELETE FROM pgque_worker.route;                                            -- idem
SELECT count(*) AS visible_to_everyone FROM pgque_worker.handlers;
RESET ROLE;
SELECT enabled, max_messages FROM pgque_worker.consumers WHERE consumer = 'app';
SELECT count(*) AS routes FROM pgque_worker.handlers;

-- unhandle / drop_consumer.
SELECT pgque_worker.unhandle('shop', 'fulfilment', 'order.created');
SELECT pgque_worker.unhandle('shop', 'fulfilment', 'order.created');
SELECT event_type FROM pgque_worker.handlers WHERE consumer = 'fulfilment';
SELECT pgque_worker.drop_consumer('shop', 'fulfilment');
SELECT pgque_worker.drop_consumer('shop', 'fulfilment');
SELECT consumer_name FROM pgque.get_consumer_info('shop') ORDER BY 1;     -- still registered
SELECT pgque_worker.drop_consumer('shop', 'app', unregister => true);
SELECT consumer_name FROM pgque.get_consumer_info('shop') ORDER BY 1;
SELECT to_regclass('pgque_worker.consumer_stats') IS NULL AS no_stats_table;  -- counters are in shared memory
