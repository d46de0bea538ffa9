-- Both extensions install on a fresh database, and the API has pgque's
-- signatures (argument names and defaults are part of the API).
\set VERBOSITY terse
-- The suites tick the queues themselves: the workers must not serve this
-- database (make installcheck runs them on a server with the module
-- preloaded). The database worker says so in pgque_worker.workers.
DO $$ BEGIN
    EXECUTE format('ALTER DATABASE %I SET pgque_worker.serve_database = off', current_database());
END $$;
CREATE EXTENSION pgque_pgq CASCADE;
CREATE EXTENSION pgque_worker;

SELECT pgque.version(), pgque_worker.version();

\pset format unaligned
SELECT p.proname || '(' || pg_get_function_arguments(p.oid) || ') -> '
       || pg_get_function_result(p.oid) AS signature
  FROM pg_proc p
 WHERE p.pronamespace = 'pgque'::regnamespace AND p.proname !~ '^_'
 ORDER BY 1;
\pset format aligned

-- pgque.message has pgque's fields, in pgque's order.
SELECT attnum, attname, format_type(atttypid, atttypmod)
  FROM pg_attribute WHERE attrelid = 'pgque.message'::regclass AND attnum > 0
 ORDER BY attnum;

-- Nothing is executable by PUBLIC; the three roles exist.
SELECT count(*) AS public_executable
  FROM pg_proc p
 WHERE p.pronamespace = 'pgque'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT rolname FROM pg_roles WHERE rolname LIKE 'pgque\_%' ORDER BY 1;

-- Only admin calls are SQL functions: with SECURITY DEFINER or SET, a SQL
-- function is parsed and planned again on every call, so everything on a hot
-- path is PL/pgSQL (docs/engine.md). A new SQL function shows up here.
SELECT p.oid::regprocedure AS sql_function
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'pgque'::regnamespace AND l.lanname = 'sql'
 ORDER BY 1::text;
