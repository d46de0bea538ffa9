-- pgque_worker 0.1.0: background workers that tick pgque queues, run their
-- maintenance and dispatch their messages. The module must be in
-- shared_preload_libraries; see README.md.

\echo Use "CREATE EXTENSION pgque_worker" to load this file. \quit

create function pgque_worker.version()
returns text
language c strict immutable
as 'MODULE_PATHNAME', 'pgque_worker_version';

comment on function pgque_worker.version() is 'version of the loaded pgque_worker module';
