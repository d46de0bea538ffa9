-- pgque_worker 0.1.0: background workers that tick pgque queues, run their
-- maintenance and dispatch their messages. The module must be in
-- shared_preload_libraries; see README.md.

\echo Use "CREATE EXTENSION pgque_worker" to load this file. \quit

create function pgque_worker.version()
returns text
language c strict immutable
as 'MODULE_PATHNAME', 'pgque_worker_version';

comment on function pgque_worker.version() is 'version of the loaded pgque_worker module';

create function pgque_worker.worker_status(
    out database text, out pid int, out state text, out started timestamptz,
    out last_tick timestamptz, out ticks bigint, out last_maintenance timestamptz,
    out last_error text, out last_error_at timestamptz, out failures int)
returns setof record
language c strict volatile
as 'MODULE_PATHNAME', 'pgque_worker_status';

-- One row per database the launcher serves (or has probed), in every database.
create view pgque_worker.workers as
select database, pid, state, started, last_tick, ticks, last_maintenance,
       last_error, last_error_at, failures
  from pgque_worker.worker_status();

comment on view pgque_worker.workers is
    'pgque_worker database workers: state, ticks, maintenance and errors';

-- When this CREATE EXTENSION commits, the launcher starts this database's
-- worker at once instead of at its next periodic probe.
create function pgque_worker._wake_launcher_at_commit()
returns void
language c strict volatile
as 'MODULE_PATHNAME', 'pgque_worker_wake_launcher_at_commit';
revoke all on function pgque_worker._wake_launcher_at_commit() from public;
select pgque_worker._wake_launcher_at_commit();

grant usage on schema pgque_worker to public;
grant select on pgque_worker.workers to public;
