-- pgque_worker 0.2.0: background workers that tick pgque queues, run their
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

-- ---------------------------------------------------------------------------
-- Consumers and routes: which messages go to which handler.
--
-- One ownership rule, enforced in the data: a consumer belongs to its owner;
-- its routes, their signing secrets and their header values belong to the
-- consumer's owner too. Everyone may read consumers and routes (not secrets
-- nor header values); only a member of the consumer's owner (or a superuser)
-- may add, change or remove anything of it. Row-level security and the
-- triggers below apply the rule to the API functions (SECURITY INVOKER) and
-- to plain DML alike. The workers receive, nack and ack as the consumer's
-- owner and call each handler as its route's owner: see docs/consumers.md.
-- ---------------------------------------------------------------------------

create table pgque_worker.consumer (
    id            serial primary key,
    queue         text not null,
    consumer      text not null,
    -- Owners are role names, not regrole: a dump restores where the role is
    -- missing (the consumer then stops, see _stop_reason), and pg_dump output
    -- stays loadable whatever roles the target has.
    owner         name not null default current_user,
    max_messages  int not null default 100 check (max_messages between 1 and 100000),
    retry_after   interval not null default '60 seconds'
                  check (retry_after between interval '0' and interval '365 days'),
    poll_interval interval not null default '30 seconds'
                  check (poll_interval between interval '100 milliseconds' and interval '1 day'),
    enabled       boolean not null default true,
    created       timestamptz not null default now(),
    unique (queue, consumer)
);

create table pgque_worker.route (
    consumer_id int not null references pgque_worker.consumer (id) on delete cascade,
    event_type  text not null,                 -- '*': types without a route of their own
    kind        text not null default 'sql' check (kind in ('sql', 'http')),
    -- kind 'sql': the function's signature, schema-qualified (as text, not
    -- regprocedure: pg_upgrade cannot carry function oids over). Resolved
    -- when a consumer worker loads its configuration; a dropped function
    -- stops the consumer visibly (_stop_reason).
    handler     text,
    url         text,                          -- kind 'http'
    -- SQL: statement_timeout of the handler; HTTP: request timeout (capped by
    -- pgque_worker.http_timeout). statement_timeout is an int of milliseconds.
    timeout     interval check (timeout between interval '1 millisecond' and interval '24 days'),
    owner       name not null default current_user,
    primary key (consumer_id, event_type),
    check (kind <> 'sql' or handler is not null),
    check (kind <> 'http' or url is not null)
);

-- What an HTTP route sends that nobody but its owner may read: the signing
-- secret and the values of its extra headers (an Authorization header is a
-- credential). Apart from the routes, so that row-level security can hide
-- them; the views show only whether a secret is set and the header names.
create table pgque_worker.route_secret (
    consumer_id int not null,
    event_type  text not null,
    secret      text,                          -- 'whsec_' + base64, or NULL: unsigned
    owner       name not null default current_user,
    headers     jsonb not null default '{}',   -- extra request headers: name -> value
    primary key (consumer_id, event_type),
    foreign key (consumer_id, event_type) references pgque_worker.route on delete cascade
);

select pg_catalog.pg_extension_config_dump('pgque_worker.consumer', '');
select pg_catalog.pg_extension_config_dump('pgque_worker.consumer_id_seq', '');
select pg_catalog.pg_extension_config_dump('pgque_worker.route', '');
select pg_catalog.pg_extension_config_dump('pgque_worker.route_secret', '');

-- Whether the current role is a superuser: its writes to the configuration
-- tables (a pg_restore's among them) skip the checks of the owner's grants.
create function pgque_worker._superuser_writes()
returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select coalesce((select a.rolsuper from pg_catalog.pg_roles a where a.rolname = current_user), false)
$$;

-- Whether the current role is a member of role `owner`, or a superuser.
-- For a role that does not exist (a restored row of a role missing here):
-- false, not an error, unless the current role is a superuser.
create function pgque_worker._is_member(owner name)
returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select coalesce((select pg_catalog.pg_has_role(a.oid, 'MEMBER')
                       from pg_catalog.pg_roles a where a.rolname = _is_member.owner),
                    pgque_worker._superuser_writes())
$$;

-- Whether the current role may change consumer `id` (and what hangs off it):
-- a member of its owner, or a superuser. False for a consumer that does not
-- exist.
create function pgque_worker._may_change_consumer(id int)
returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select coalesce((select pgque_worker._is_member(c.owner)
                       from pgque_worker.consumer c where c.id = _may_change_consumer.id), false)
$$;

alter table pgque_worker.consumer enable row level security;
alter table pgque_worker.route enable row level security;
alter table pgque_worker.route_secret enable row level security;
create policy read_all on pgque_worker.consumer for select using (true);
create policy owner_writes on pgque_worker.consumer for all
    using (pgque_worker._is_member(owner))
    with check (pgque_worker._is_member(owner));
create policy read_all on pgque_worker.route for select using (true);
-- A route runs as its own owner, which must be the caller (or a role the
-- caller is a member of), on a consumer the caller may change.
create policy consumer_owner_writes on pgque_worker.route for all
    using (pgque_worker._may_change_consumer(consumer_id))
    with check (pgque_worker._is_member(owner)
                and pgque_worker._may_change_consumer(consumer_id));
create policy owner_only on pgque_worker.route_secret for all
    using (pgque_worker._is_member(owner))
    with check (pgque_worker._is_member(owner)
                and pgque_worker._may_change_consumer(consumer_id));
grant select, insert, update, delete on pgque_worker.consumer, pgque_worker.route,
    pgque_worker.route_secret to public;
grant usage on sequence pgque_worker.consumer_id_seq to public;

-- A consumer row stands for a pgque consumer that the workers will receive
-- from as the row's owner: creating one (or pointing one at another queue
-- or consumer name, or at another owner) takes what pgque.register_consumer
-- takes. Checked for every write, through the API or not.
create function pgque_worker._check_consumer()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_register oid;
begin
    if tg_op = 'UPDATE' and new.queue = old.queue and new.consumer = old.consumer
       and new.owner = old.owner then
        return new;
    end if;
    -- By catalog, not by name: a name lookup would need USAGE on schema pgque.
    select p.oid into v_register from pg_proc p
     where p.pronamespace = (select n.oid from pg_namespace n where n.nspname = 'pgque')
       and p.proname = 'register_consumer' and p.proargtypes = '25 25'::oidvector;
    if v_register is null then
        raise exception 'the pgque API is not installed in this database'
            using errcode = 'undefined_function',
                  hint = 'CREATE EXTENSION pgque_pgq CASCADE (or install upstream pgque) first.';
    end if;
    -- A superuser's write (a restore's among them) stands as it is, whatever
    -- roles and grants this server has: a row of a role missing here never
    -- runs (_stop_reason), and the engine calls run as the owner, so its
    -- privileges are checked again when the consumer runs.
    if pgque_worker._superuser_writes() then
        return new;
    end if;
    if not has_function_privilege(new.owner, v_register, 'EXECUTE') then
        raise exception 'role % may not consume from pgque queues', new.owner
            using errcode = 'insufficient_privilege',
                  hint = 'GRANT pgque_reader TO the role that owns the consumer.';
    end if;
    return new;
end
$$;
create trigger check_consumer before insert or update on pgque_worker.consumer
    for each row execute function pgque_worker._check_consumer();

-- A route must name a function that takes one pgque.message and that its
-- owner may execute, or a URL its owner may send to. Checked for every
-- write, through the API or not.
create function pgque_worker._check_route()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_args   oidvector;
    v_proc   regprocedure;
    v_error  text;
begin
    if new.event_type is null or new.event_type = '' then
        raise exception 'event_type must not be empty (use ''*'' for a catch-all route)'
            using errcode = 'invalid_parameter_value';
    end if;
    -- HTTP I/O happens outside the transaction that acks, SQL handlers inside
    -- it: a consumer does one or the other.
    if exists (select from pgque_worker.route r
                where r.consumer_id = new.consumer_id and r.kind <> new.kind
                  and r.event_type <> new.event_type) then
        raise exception 'consumer already has % routes; % routes need a consumer of their own',
            case new.kind when 'sql' then 'HTTP' else 'SQL' end, upper(new.kind)
            using errcode = 'invalid_parameter_value';
    end if;
    if new.kind = 'http' then
        -- The URL's form only (as for the bootstrap superuser, oid 10): the
        -- allow-list is checked by handle_http() for its caller and at
        -- dispatch (_stop_reason), not here, so that a dump restores into a
        -- server with another pgque_worker.http_allowed_hosts.
        v_error := pgque_worker._http_target_error(new.url, 10::oid::regrole);
        if v_error is not null then
            raise exception 'cannot route to %: %', new.url, v_error
                using errcode = 'invalid_parameter_value';
        end if;
    end if;
    if new.kind = 'sql' then
        -- Resolved under this function's search_path (pg_catalog, pg_temp):
        -- through plain DML, give the schema.
        v_proc := to_regprocedure(new.handler);
        select p.proargtypes into v_args from pg_proc p where p.oid = v_proc;
        if not found then
            raise exception 'handler function % does not exist', new.handler
                using errcode = 'undefined_function',
                      hint = 'Name it with its schema and argument types, e.g. public.ship(pgque.message).';
        end if;
        new.handler := v_proc::text;   -- canonical and schema-qualified
        if array_length(v_args::oid[], 1) is distinct from 1
           or v_args[0] <> 'pgque.message'::regtype then
            raise exception 'handler % must take exactly one argument of type pgque.message', new.handler
                using errcode = 'invalid_function_definition',
                      hint = 'Declare it as: CREATE FUNCTION f(msg pgque.message) RETURNS void ...';
        end if;
        if (select p.prokind from pg_proc p where p.oid = v_proc) <> 'f' then
            raise exception 'handler % must be a function, not a procedure or aggregate', new.handler
                using errcode = 'invalid_function_definition';
        end if;
        -- As for consumers (_check_consumer); the handler is called with a
        -- check of this privilege too.
        if not pgque_worker._superuser_writes()
           and not has_function_privilege(new.owner, v_proc, 'EXECUTE') then
            raise exception 'role % may not execute handler %', new.owner, new.handler
                using errcode = 'insufficient_privilege';
        end if;
    end if;
    return new;
end
$$;
create trigger check_route before insert or update on pgque_worker.route
    for each row execute function pgque_worker._check_route();

-- Credentials go with an HTTP route, and headers must be ones a request can
-- carry. Checked for every write, through the API or not.
create function pgque_worker._check_route_secret()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_header text;
begin
    if not exists (select from pgque_worker.route r
                    where r.consumer_id = new.consumer_id and r.event_type = new.event_type
                      and r.kind = 'http') then
        raise exception 'signing secrets and headers belong to HTTP routes only'
            using errcode = 'invalid_parameter_value';
    end if;
    if new.secret is not null then
        begin
            if new.secret !~ '^whsec_[A-Za-z0-9+/]+={0,2}$'
               or length(decode(substr(new.secret, 7), 'base64')) = 0 then
                raise exception using errcode = 'invalid_parameter_value';
            end if;
        exception when others then
            raise exception 'secret must be ''whsec_'' followed by base64, as Standard Webhooks gives it'
                using errcode = 'invalid_parameter_value';
        end;
    end if;
    if jsonb_typeof(new.headers) <> 'object' then
        raise exception 'headers must be a JSON object of header names and string values'
            using errcode = 'invalid_parameter_value';
    end if;
    select h.key into v_header from jsonb_each(new.headers) h
     where jsonb_typeof(h.value) <> 'string'
        or h.key !~ '^[A-Za-z0-9!#$%&''*+.^_`|~-]+$'
        or h.value #>> '{}' ~ '[\r\n\x00]'
        or lower(h.key) in ('content-type', 'content-length', 'host', 'transfer-encoding',
                            'webhook-id', 'webhook-timestamp', 'webhook-signature')
     limit 1;
    if found then
        raise exception 'header "%" is not allowed (a header needs a token name and a one-line string value; Content-Type and webhook-* are set by pgque_worker)', v_header
            using errcode = 'invalid_parameter_value';
    end if;
    return new;
end
$$;
create trigger check_route_secret before insert or update on pgque_worker.route_secret
    for each row execute function pgque_worker._check_route_secret();

-- Row-level security keeps each role to the rows of roles it is a member
-- of, but a role with BYPASSRLS (a backup role, say) skips it, and every
-- role holds INSERT, UPDATE and DELETE here. The same rule, for every writer
-- that is not a superuser, whatever its attributes: a row names an owner the
-- writer is a member of, and changes only rows of such owners. Without it a
-- BYPASSRLS role could name a superuser as the owner of a route and have
-- the workers run its handler as that superuser.
create function pgque_worker._check_writer()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    if tg_op <> 'INSERT' and not pgque_worker._is_member(old.owner) then
        raise exception 'this row of pgque_worker.% belongs to role %', tg_table_name, old.owner
            using errcode = 'insufficient_privilege',
                  hint = 'Only its owner or a superuser may change it.';
    end if;
    if tg_op = 'DELETE' then
        return old;
    end if;
    if not pgque_worker._is_member(new.owner) then
        raise exception 'role % may not write a row of pgque_worker.% owned by role %',
            current_user, tg_table_name, new.owner
            using errcode = 'insufficient_privilege',
                  hint = 'The owner must be the current role or a role it is a member of.';
    end if;
    -- (nested: PL/pgSQL would look for the field even where the table has none)
    if tg_table_name <> 'consumer' then
        if not pgque_worker._may_change_consumer(new.consumer_id) then
            raise exception 'role % may not change consumer %', current_user, new.consumer_id
                using errcode = 'insufficient_privilege',
                      hint = 'Only the consumer''s owner or a superuser may add routes and secrets to it.';
        end if;
    end if;
    return new;
end
$$;
create trigger check_writer before insert or update or delete on pgque_worker.consumer
    for each row execute function pgque_worker._check_writer();
create trigger check_writer before insert or update or delete on pgque_worker.route
    for each row execute function pgque_worker._check_writer();
create trigger check_writer before insert or update or delete on pgque_worker.route_secret
    for each row execute function pgque_worker._check_writer();

-- Config changes reach the workers within a second: at commit, this wakes
-- the database worker, which starts, stops or reconfigures consumer workers.
create function pgque_worker._config_changed()
returns trigger
language c
as 'MODULE_PATHNAME', 'pgque_worker_config_changed';
create trigger config_changed after insert or update or delete or truncate on pgque_worker.consumer
    for each statement execute function pgque_worker._config_changed();
create trigger config_changed after insert or update or delete or truncate on pgque_worker.route
    for each statement execute function pgque_worker._config_changed();
create trigger config_changed after insert or update or delete or truncate on pgque_worker.route_secret
    for each statement execute function pgque_worker._config_changed();

-- The consumer row of (queue, consumer), or a clear error.
create function pgque_worker._consumer(queue text, consumer text)
returns pgque_worker.consumer
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
    c pgque_worker.consumer;
begin
    if queue is null or consumer is null then
        raise exception 'queue and consumer must not be null' using errcode = 'null_value_not_allowed';
    end if;
    select * into c from pgque_worker.consumer k where k.queue = _consumer.queue and k.consumer = _consumer.consumer;
    if not found then
        raise exception 'no pgque_worker consumer "%" on queue "%"', consumer, queue
            using errcode = 'undefined_object',
                  hint = 'Declare one with pgque_worker.handle() or pgque_worker.set_consumer().';
    end if;
    return c;
end
$$;

-- Clear error unless the current role may change consumer c.
create function pgque_worker._check_owner(c pgque_worker.consumer)
returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
    if not pgque_worker._is_member(c.owner) then
        raise exception 'consumer "%" on queue "%" belongs to role %', c.consumer, c.queue, c.owner
            using errcode = 'insufficient_privilege',
                  hint = 'Only its owner or a superuser may change it.';
    end if;
end
$$;

-- The consumer a new route goes to: created with the defaults (and
-- registered with pgque) when needed; an error unless the caller may change it.
create function pgque_worker._route_consumer(queue text, consumer text)
returns pgque_worker.consumer
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    c pgque_worker.consumer;
begin
    if queue is not null and consumer is not null
       and not exists (select from pgque_worker.consumer k
                        where k.queue = _route_consumer.queue and k.consumer = _route_consumer.consumer) then
        perform pgque_worker.set_consumer(queue, consumer);
    end if;
    c := pgque_worker._consumer(queue, consumer);
    perform pgque_worker._check_owner(c);
    return c;
end
$$;

-- Creates (with the defaults: 100 messages, 60 s retry delay, 30 s poll,
-- enabled) or updates a consumer; NULL or an omitted argument keeps the
-- current value. Registers the pgque consumer when needed.
create function pgque_worker.set_consumer(
    queue text, consumer text,
    max_messages int default null, retry_after interval default null,
    poll_interval interval default null, enabled boolean default null)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    c pgque_worker.consumer;
begin
    if queue is null or consumer is null then
        raise exception 'queue and consumer must not be null' using errcode = 'null_value_not_allowed';
    end if;
    if max_messages is not null and max_messages not between 1 and 100000 then
        raise exception 'max_messages must be between 1 and 100000, got %', max_messages
            using errcode = 'invalid_parameter_value';
    end if;
    if retry_after not between interval '0' and interval '365 days' then
        raise exception 'retry_after must be between 0 and 365 days, got %', retry_after
            using errcode = 'invalid_parameter_value';
    end if;
    if poll_interval not between interval '100 milliseconds' and interval '1 day' then
        raise exception 'poll_interval must be between 100 milliseconds and 1 day, got %', poll_interval
            using errcode = 'invalid_parameter_value';
    end if;
    select * into c from pgque_worker.consumer k
     where k.queue = set_consumer.queue and k.consumer = set_consumer.consumer;
    if found then
        perform pgque_worker._check_owner(c);
        update pgque_worker.consumer k
           set max_messages = coalesce(set_consumer.max_messages, k.max_messages),
               retry_after = coalesce(set_consumer.retry_after, k.retry_after),
               poll_interval = coalesce(set_consumer.poll_interval, k.poll_interval),
               enabled = coalesce(set_consumer.enabled, k.enabled)
         where k.id = c.id;
        return;
    end if;
    perform pgque.register_consumer(queue, consumer);   -- errors for an unknown queue
    insert into pgque_worker.consumer (queue, consumer, max_messages, retry_after, poll_interval, enabled)
    values (queue, consumer, coalesce(max_messages, 100), coalesce(retry_after, '60 seconds'),
            coalesce(poll_interval, '30 seconds'), coalesce(enabled, true));
end
$$;

-- Clear error unless timeout (NULL: none) fits a route: statement_timeout
-- is an int of milliseconds, so at most 24 days.
create function pgque_worker._check_timeout(timeout interval)
returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
    if timeout not between interval '1 millisecond' and interval '24 days' then
        raise exception 'timeout must be between 1 millisecond and 24 days, got %', timeout
            using errcode = 'invalid_parameter_value';
    end if;
end
$$;

-- Routes event_type ('*': every type without a route of its own) of
-- (queue, consumer) to handler, a function taking one pgque.message, run as
-- the calling role under statement_timeout = timeout when given. Creates the
-- consumer when needed; replaces an existing route for the type.
create function pgque_worker.handle(queue text, consumer text, event_type text,
                                    handler regprocedure, timeout interval default null)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    c pgque_worker.consumer;
begin
    if handler is null then
        raise exception 'handler must not be null' using errcode = 'null_value_not_allowed';
    end if;
    perform pgque_worker._check_timeout(timeout);
    c := pgque_worker._route_consumer(queue, consumer);
    insert into pgque_worker.route as r (consumer_id, event_type, kind, handler, timeout)
    values (c.id, event_type, 'sql', handler::text, timeout)
    on conflict on constraint route_pkey do update
       set kind = 'sql', handler = excluded.handler, url = null,
           timeout = excluded.timeout, owner = excluded.owner;
    delete from pgque_worker.route_secret s
     where s.consumer_id = c.id and s.event_type = handle.event_type;
end
$$;

create function pgque_worker.unhandle(queue text, consumer text, event_type text)
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    c pgque_worker.consumer := pgque_worker._consumer(queue, consumer);
begin
    perform pgque_worker._check_owner(c);
    delete from pgque_worker.route r where r.consumer_id = c.id and r.event_type = unhandle.event_type;
    return found;
end
$$;

-- Stops and forgets a consumer; with unregister, also unregisters it from
-- the queue (its position and pending retries are lost).
create function pgque_worker.drop_consumer(queue text, consumer text, unregister boolean default false)
returns boolean
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    c pgque_worker.consumer;
begin
    select * into c from pgque_worker.consumer k
     where k.queue = drop_consumer.queue and k.consumer = drop_consumer.consumer;
    if not found then
        return false;
    end if;
    perform pgque_worker._check_owner(c);
    delete from pgque_worker.consumer k where k.id = c.id;
    if unregister then
        perform pgque.unregister_consumer(queue, consumer);
    end if;
    return true;
end
$$;

-- Turns dispatching to (queue, consumer) off or on; an error for a consumer
-- that was never declared.
create function pgque_worker._set_enabled(queue text, consumer text, enabled boolean)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pgque_worker._consumer(queue, consumer);
    perform pgque_worker.set_consumer(queue, consumer, enabled => enabled);
end
$$;

-- Stops dispatching to (queue, consumer) until resume(); its messages wait in
-- the queue.
create function pgque_worker.pause(queue text, consumer text)
returns void
language sql
set search_path = pg_catalog, pg_temp
as $$ select pgque_worker._set_enabled(queue, consumer, false) $$;

create function pgque_worker.resume(queue text, consumer text)
returns void
language sql
set search_path = pg_catalog, pg_temp
as $$ select pgque_worker._set_enabled(queue, consumer, true) $$;

-- Why url is no place an HTTP route of `owner` may send to, or NULL:
-- http/https only, a host, and unless owner is a superuser, a host that
-- pgque_worker.http_allowed_hosts allows.
create function pgque_worker._http_target_error(url text, owner regrole)
returns text
language c stable
as 'MODULE_PATHNAME', 'pgque_worker_http_target_error';

-- Routes event_type of (queue, consumer) to an HTTP endpoint: each message is
-- POSTed as JSON, with Standard Webhooks headers, signed when a secret
-- ('whsec_' + base64) is given. Creates the consumer when needed; replaces
-- an existing route for the type. See docs/webhooks.md.
create function pgque_worker.handle_http(queue text, consumer text, event_type text, url text,
                                         headers jsonb default '{}', secret text default null,
                                         timeout interval default '10 seconds')
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    c pgque_worker.consumer;
    v_error text;
begin
    if url is null then
        raise exception 'url must not be null' using errcode = 'null_value_not_allowed';
    end if;
    if headers is null then
        raise exception 'headers must not be null (use ''{}'')' using errcode = 'null_value_not_allowed';
    end if;
    if timeout is null then
        raise exception 'timeout must be a positive interval, got NULL'
            using errcode = 'invalid_parameter_value';
    end if;
    perform pgque_worker._check_timeout(timeout);
    v_error := pgque_worker._http_target_error(url, current_user::regrole);
    if v_error like '%allowed_hosts%' then
        raise exception 'cannot route to %: %', url, v_error
            using errcode = 'insufficient_privilege',
                  hint = 'A superuser decides which hosts are allowed: pgque_worker.http_allowed_hosts.';
    end if;
    c := pgque_worker._route_consumer(queue, consumer);
    insert into pgque_worker.route as r (consumer_id, event_type, kind, handler, url, timeout)
    values (c.id, event_type, 'http', null, url, timeout)
    on conflict on constraint route_pkey do update
       set kind = 'http', handler = null, url = excluded.url,
           timeout = excluded.timeout, owner = excluded.owner;
    delete from pgque_worker.route_secret s
     where s.consumer_id = c.id and s.event_type = handle_http.event_type;
    if secret is not null or headers <> '{}' then
        insert into pgque_worker.route_secret (consumer_id, event_type, secret, headers)
        values (c.id, event_type, secret, headers);
    end if;
end
$$;

-- What every role may know of a route's credentials: whether it is signed,
-- and the names (not the values) of its extra headers. SECURITY DEFINER:
-- route_secret itself is readable by its owner only.
create function pgque_worker._route_credentials(consumer_id int, event_type text,
                                                out signed boolean, out header_names text[])
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select s.secret is not null,
           array(select k from pg_catalog.jsonb_object_keys(coalesce(s.headers, '{}')) k order by k)
      from (select) one
      left join pgque_worker.route_secret s
        on s.consumer_id = _route_credentials.consumer_id
       and s.event_type = _route_credentials.event_type
$$;

create view pgque_worker.handlers as
select c.queue, c.consumer, r.event_type, r.kind,
       case r.kind when 'sql' then r.handler else r.url end as target,
       k.header_names,
       case when k.signed then '********' end as secret,
       r.timeout, r.owner
  from pgque_worker.route r join pgque_worker.consumer c on c.id = r.consumer_id
  cross join lateral pgque_worker._route_credentials(r.consumer_id, r.event_type) k;

-- Whether the pgque API here is one that superusers installed: schema pgque
-- and every function in it belong to superusers. The SECURITY DEFINER
-- functions below call that API as their (superuser) owner, as the workers
-- do, and only then: a role that created schema pgque where the API is
-- missing could otherwise have its functions run as a superuser.
create function pgque_worker._pgque_api_trusted()
returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select exists (select from pg_catalog.pg_namespace n
                     join pg_catalog.pg_roles o on o.oid = n.nspowner
                    where n.nspname = 'pgque' and o.rolsuper)
       and not exists (select from pg_catalog.pg_proc p
                         join pg_catalog.pg_namespace n on n.oid = p.pronamespace
                         join pg_catalog.pg_roles o on o.oid = p.proowner
                        where n.nspname = 'pgque' and not o.rolsuper)
       and not exists (select from pg_catalog.pg_class c
                         join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                         join pg_catalog.pg_roles o on o.oid = c.relowner
                        where n.nspname = 'pgque' and not o.rolsuper)
$$;

-- A consumer's lag as pgque reports it; NULLs while the database has no
-- pgque API (pgque_worker may be installed first). SECURITY DEFINER: lag is
-- not secret, and readers of the view need not be pgque_reader.
create function pgque_worker._consumer_lag(queue text, consumer text,
                                           out lag interval, out pending_events bigint)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if to_regprocedure('pgque.get_consumer_info(text,text)') is null
       or not pgque_worker._pgque_api_trusted() then
        return;
    end if;
    select i.lag, i.pending_events into lag, pending_events
      from pgque.get_consumer_info(queue, consumer) i;
end
$$;

-- Why the workers do not run consumer c, or NULL when they do. The consumer
-- supervisor asks the same question, so the view says what the workers do.
-- A dropped owner stops the consumer (its messages wait in the queue) rather
-- than letting the workers act for a role that no longer exists.
create function pgque_worker._stop_reason(c pgque_worker.consumer)
returns text
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select case
        when not c.enabled then 'paused'
        when not exists (select from pgque_worker.route r where r.consumer_id = c.id) then 'no handlers'
        when not exists (select from pg_catalog.pg_roles a where a.rolname = c.owner)
            then 'stopped: owner role "' || c.owner || '" does not exist'
        else coalesce(
            (select 'stopped: owner role "' || r.owner || '" of the route for event type "'
                    || r.event_type || '" does not exist'
               from pgque_worker.route r
              where r.consumer_id = c.id
                and not exists (select from pg_catalog.pg_roles a where a.rolname = r.owner)
              order by r.event_type limit 1),
            (select 'stopped: handler ' || r.handler || ' does not exist'
               from pgque_worker.route r
              where r.consumer_id = c.id and r.kind = 'sql'
                and pg_catalog.to_regprocedure(r.handler) is null
              order by r.event_type limit 1),
            -- The allow-list is this server's (a restored route may name a
            -- host this server does not allow): checked here, not when the
            -- row is written, so the consumer waits until a superuser allows
            -- the host or the route changes.
            (select 'stopped: the route for event type "' || r.event_type || '" may not send: ' || e.error
               from pgque_worker.route r
               join pg_catalog.pg_roles a on a.rolname = r.owner
              cross join lateral (select pgque_worker._http_target_error(r.url, a.oid::regrole)) e(error)
              where r.consumer_id = c.id and r.kind = 'http' and e.error is not null
              order by r.event_type limit 1))
    end
$$;

-- This database's consumer worker slots (shared memory): which consumer has
-- one, its process, its consecutive failures, and when it is started again
-- after one.
create function pgque_worker._consumer_processes(out consumer_id int, out pid int, out failures int,
                                                 out next_start timestamptz, out state text)
returns setof record
language c strict volatile
as 'MODULE_PATHNAME', 'pgque_worker_consumer_processes';

-- Every worker slot, database and consumer, in its raw life-cycle state
-- (src/worker/README.md): superuser only, for tests and post-mortems.
create function pgque_worker._slot_table(out kind text, out slot int, out database oid, out consumer_id int,
                                         out phase text, out generation bigint, out pid int, out failures int,
                                         out stop_cause text)
returns setof record
language c strict volatile
as 'MODULE_PATHNAME', 'pgque_worker_slot_table';
revoke all on function pgque_worker._slot_table() from public;

-- The consumers' counters in shared memory (this database's), since the
-- server started or since they were saved at the last clean shutdown; a
-- crash loses them. last_error is NULL unless the caller is a member of the
-- consumer's owner (an error text can quote a response body or data).
create function pgque_worker._consumer_counters(
    out consumer_id int, out batches bigint, out messages bigint, out processed bigint,
    out failed bigint, out retried bigint, out dead_lettered bigint, out unhandled bigint,
    out batch_seconds float8, out handler_seconds float8,
    out http_2xx bigint, out http_3xx bigint, out http_4xx bigint, out http_5xx bigint,
    out http_transport_errors bigint, out counters_since timestamptz,
    out last_batch_at timestamptz, out last_error text, out last_error_at timestamptz)
returns setof record
language c strict volatile
as 'MODULE_PATHNAME', 'pgque_worker_consumer_counters';

-- Consumers whose counters were evicted from the full shared hash since the
-- server started (pgque_worker.max_tracked_consumers is too small when this
-- grows).
create function pgque_worker.counter_evictions()
returns bigint
language c strict volatile
as 'MODULE_PATHNAME', 'pgque_worker_counter_evictions';

-- What the workers are really doing with each consumer: why it does not run
-- (_stop_reason), or whether it has a process, waits for one, or cannot get
-- one because its database is not served.
create view pgque_worker.consumers as
select c.queue, c.consumer, c.owner, c.max_messages, c.retry_after, c.poll_interval, c.enabled,
       coalesce(pgque_worker._stop_reason(c),
                case when p.pid is not null then p.state
                     when w.state like 'not served (max_workers = %' then 'database ' || w.state
                     when w.state is distinct from 'running' then
                         'database not served (' || coalesce('worker ' || w.state, 'no database worker')
                         || '; see pgque_worker.workers)'
                     when p.state is not null then p.state
                     else 'waiting for a worker slot (max_consumer_workers = '
                          || pg_catalog.current_setting('pgque_worker.max_consumer_workers') || ')'
                end) as state,
       p.pid,
       coalesce(s.processed, 0) as processed, coalesce(s.failed, 0) as failed,
       coalesce(s.retried, 0) as retried, coalesce(s.dead_lettered, 0) as dead_lettered,
       coalesce(s.unhandled, 0) as unhandled, s.last_batch_at,
       -- An error text can quote a response body or data: its owner's only.
       case when pgque_worker._is_member(c.owner) then s.last_error end as last_error,
       s.last_error_at,
       i.lag, i.pending_events,
       coalesce(s.batches, 0) as batches, coalesce(s.messages, 0) as messages,
       coalesce(s.batch_seconds, 0) as batch_seconds, coalesce(s.handler_seconds, 0) as handler_seconds,
       coalesce(s.http_2xx, 0) as http_2xx, coalesce(s.http_3xx, 0) as http_3xx,
       coalesce(s.http_4xx, 0) as http_4xx, coalesce(s.http_5xx, 0) as http_5xx,
       coalesce(s.http_transport_errors, 0) as http_transport_errors, s.counters_since
  from pgque_worker.consumer c
  left join pgque_worker._consumer_counters() s
    on s.consumer_id = c.id and s.counters_since >= c.created   -- not a dropped namesake's
  left join pgque_worker._consumer_processes() p on p.consumer_id = c.id
  left join pgque_worker.workers w on w.database = pg_catalog.current_database()
  left join lateral pgque_worker._consumer_lag(c.queue, c.consumer) i on true;

grant select on pgque_worker.handlers, pgque_worker.consumers to public;

-- ---------------------------------------------------------------------------
-- Metrics: one row per queue, consumer and database worker, in the shape
-- Prometheus' postgres_exporter scrapes (contrib/prometheus/queries.yaml).
-- See docs/monitoring.md.
-- ---------------------------------------------------------------------------

-- Per queue: events ever sent, events not yet in a batch, and how far the
-- last tick is behind. No rows while the database has no pgque API.
-- events_sent is the queue's event id sequence under pgque_pgq (which marks
-- id 1 used at create_queue and never advances the sequence otherwise); NULL
-- on upstream pgque, whose forced ticks advance it by thousands. SECURITY
-- DEFINER: these figures are not secret, and readers need not be
-- pgque_reader.
create function pgque_worker._queue_metrics(out queue text, out events_sent bigint,
                                            out events_pending bigint, out ticker_lag_seconds float8)
returns setof record
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_pgque_pgq boolean := exists (select from pg_catalog.pg_extension where extname = 'pgque_pgq');
    v_seq text;
begin
    if pg_catalog.to_regprocedure('pgque.get_queue_info()') is null
       or not pgque_worker._pgque_api_trusted() then
        return;
    end if;
    for queue, events_pending, ticker_lag_seconds in
        select i.queue_name, i.ev_new, extract(epoch from i.ticker_lag)::float8
          from pgque.get_queue_info() i order by 1
    loop
        events_sent := null;
        if v_pgque_pgq then
            execute 'select q.queue_event_seq from pgq.queue q where q.queue_name = $1' into v_seq using queue;
            if v_seq is not null then
                events_sent := coalesce(pg_catalog.pg_sequence_last_value(v_seq::regclass) - 1, 0);
            end if;
        end if;
        return next;
    end loop;
end
$$;

create view pgque_worker.queue_metrics as
select queue, events_sent, events_pending, ticker_lag_seconds
  from pgque_worker._queue_metrics();

-- Per consumer: the shared-memory counters (since counters_since), whether
-- a consumer worker runs it, its lag and pending events.
create view pgque_worker.consumer_metrics as
select c.queue, c.consumer,
       (p.pid is not null)::int as running,
       coalesce(s.processed, 0) as delivered, coalesce(s.failed, 0) as failed,
       coalesce(s.retried, 0) as retried, coalesce(s.dead_lettered, 0) as dead_lettered,
       coalesce(s.unhandled, 0) as unhandled, coalesce(s.batches, 0) as batches,
       coalesce(s.messages, 0) as messages,
       coalesce(s.batch_seconds, 0) as batch_seconds, coalesce(s.handler_seconds, 0) as handler_seconds,
       coalesce(s.http_2xx, 0) as http_2xx, coalesce(s.http_3xx, 0) as http_3xx,
       coalesce(s.http_4xx, 0) as http_4xx, coalesce(s.http_5xx, 0) as http_5xx,
       coalesce(s.http_transport_errors, 0) as http_transport_errors,
       extract(epoch from i.lag)::float8 as lag_seconds, i.pending_events,
       extract(epoch from pg_catalog.now() - s.last_batch_at)::float8 as seconds_since_last_batch
  from pgque_worker.consumer c
  left join pgque_worker._consumer_counters() s
    on s.consumer_id = c.id and s.counters_since >= c.created   -- not a dropped namesake's
  left join pgque_worker._consumer_processes() p on p.consumer_id = c.id
  left join lateral pgque_worker._consumer_lag(c.queue, c.consumer) i on true;

-- Per database worker (every database the launcher serves, seen from any).
create view pgque_worker.worker_metrics as
select database, state, (state = 'running')::int as up, ticks, failures,
       extract(epoch from pg_catalog.now() - last_tick)::float8 as seconds_since_tick
  from pgque_worker.workers;

grant select on pgque_worker.queue_metrics, pgque_worker.consumer_metrics, pgque_worker.worker_metrics
    to public;

-- ---------------------------------------------------------------------------
-- Webhook history: every HTTP delivery attempt, readable by its route's
-- owner only. Three tables used in turn (like PgQ's event tables): attempt
-- id i goes to table (i / pgque_worker.webhook_history) % 3, and a table is
-- emptied with TRUNCATE before it is used again, so the history keeps the
-- database's latest 2 to 3 times webhook_history attempts and never
-- deletes a row. See docs/webhooks.md.
-- ---------------------------------------------------------------------------

create sequence pgque_worker.delivery_id_seq;

create table pgque_worker.delivery (
    id           bigint not null,
    part         smallint not null,      -- which of the three tables
    at           timestamptz not null,   -- when the request was sent
    consumer_id  int not null,           -- no foreign key: a dropped consumer's history ages out
    event_type   text not null,          -- with consumer_id: the route
    owner        regrole not null,       -- the route's owner, the only reader
    msg_id       bigint not null,
    attempt      int not null,           -- 1 for the first delivery
    webhook_id   text not null,          -- the webhook-id header, stable across retries
    status       int,                    -- HTTP status; NULL without a response
    error        text,                   -- transport error or why it was not sent; NULL otherwise
    duration     interval not null,      -- from the start of the request to its end
    response     text not null           -- the start of the response body, valid UTF-8, at most 256 bytes
) partition by list (part);
create table pgque_worker.delivery_0 partition of pgque_worker.delivery for values in (0);
create table pgque_worker.delivery_1 partition of pgque_worker.delivery for values in (1);
create table pgque_worker.delivery_2 partition of pgque_worker.delivery for values in (2);
create index on pgque_worker.delivery (id);
create index on pgque_worker.delivery (consumer_id, event_type, id);

alter table pgque_worker.delivery enable row level security;
create policy route_owner_reads on pgque_worker.delivery for select
    using (pg_catalog.pg_has_role(owner, 'MEMBER'));
-- Reading only, and through the parent only (which applies the policy).
grant select on pgque_worker.delivery to public;

-- The consumer workers' way in: one multi-row INSERT per slice of attempts,
-- after emptying any of the newest three blocks' tables that still holds an
-- older round. SECURITY DEFINER: the workers' role needs no privilege on the
-- tables, only EXECUTE here (granted to pgque_admin, which the worker role
-- has). A table that is busy (a reader holds it) is not waited for: it
-- keeps its older round until its next turn.
create function pgque_worker._record_deliveries(
    block_size int, consumer_id int, event_types text[], owners oid[], msg_ids bigint[],
    attempts int[], webhook_ids text[], statuses int[], errors text[], responses text[],
    durations float8[], ats bigint[])
returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp
set lock_timeout = '100ms'
as $$
declare
    v_count bigint := coalesce(pg_catalog.cardinality(msg_ids), 0);
    v_ids   bigint[];
    v_top   bigint;
    v_block bigint;
    v_part  int;
    v_full  int[] := '{}';
    v_stale boolean;
begin
    -- EXECUTE is pgque_admin's, as the workers' role is; but a member of
    -- pgque_admin must not write attempts into any route owner's history nor
    -- push it out: only the consumer workers' processes (and superusers) may.
    if not exists (select from pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) a
                    where a.backend_type = 'pgque_worker consumer')
       and not exists (select from pg_catalog.pg_roles r  -- the caller: SET ROLE's, or the session's
                        where r.rolname = coalesce(nullif(
                                  pg_catalog.current_setting('role'), 'none'), session_user)
                          and r.rolsuper) then
        raise exception 'permission denied: only the pgque_worker consumer workers record webhook deliveries'
            using errcode = 'insufficient_privilege';
    end if;
    if block_size is null or block_size < 1 then
        raise exception 'block_size must be positive' using errcode = 'invalid_parameter_value';
    end if;
    if v_count = 0 then
        return;
    end if;
    -- The slice's ids first; the newest three blocks follow from the newest
    -- id any worker has taken.
    select pg_catalog.array_agg(pg_catalog.nextval('pgque_worker.delivery_id_seq') order by g)
      into v_ids
      from pg_catalog.generate_series(1, v_count) g;
    v_top := pg_catalog.pg_sequence_last_value('pgque_worker.delivery_id_seq') / block_size;
    -- Block b goes to table b % 3, emptied before the block's first attempt.
    -- A table that a reader held then (lock_timeout) keeps its older round
    -- until its next turn: emptying it once its block has begun would take
    -- the newest attempts with it.
    for v_block in greatest(v_top - 2, 0) .. v_top loop
        v_part := v_block % 3;
        -- Still a round older than its last turn's: a reader held it at two
        -- turns in a row (any role can, with an open SELECT). Unless emptied
        -- now it takes none of this block, or the history would grow for as
        -- long as it is held.
        v_stale := exists (select from pgque_worker.delivery d
                            where d.part = v_part and d.id < (v_block - 3) * block_size);
        if exists (select from pgque_worker.delivery d
                    where d.part = v_part and d.id < v_block * block_size)
           and not exists (select from pgque_worker.delivery d
                            where d.part = v_part and d.id >= v_block * block_size) then
            -- deadlock_detected: another writer empties it at the same time
            -- (each holds ACCESS SHARE from the checks above); its TRUNCATE goes on.
            begin
                -- A stale table is tried by every slice of its block (it takes
                -- no rows, so it stays due): without waiting, or each slice
                -- would wait lock_timeout for the reader.
                if v_stale then
                    execute pg_catalog.format('lock table pgque_worker.%I in access exclusive mode nowait',
                                              'delivery_' || v_part);
                end if;
                execute pg_catalog.format('truncate pgque_worker.%I', 'delivery_' || v_part);
                v_stale := false;
            exception when lock_not_available or deadlock_detected then
                null;
            end;
        end if;
        if v_stale then
            v_full := v_full || v_part;
        end if;
    end loop;
    -- A slice longer than two blocks: its attempts older than the newest three
    -- blocks would be pushed out at once, so they are not written.
    insert into pgque_worker.delivery
        (id, part, at, consumer_id, event_type, owner, msg_id, attempt, webhook_id, status, error,
         duration, response)
    select v_ids[u.n], ((v_ids[u.n] / block_size) % 3)::smallint,
           timestamptz '2000-01-01 00:00:00+00' + u.at_us * interval '1 microsecond',
           _record_deliveries.consumer_id, u.event_type, u.owner::regrole, u.msg_id, u.attempt,
           u.webhook_id, u.status, u.error, u.duration * interval '1 second', u.response
      from unnest(event_types, owners, msg_ids, attempts, webhook_ids, statuses, errors,
                  responses, durations, ats) with ordinality
           as u(event_type, owner, msg_id, attempt, webhook_id, status, error, response,
                duration, at_us, n)
     where v_ids[u.n] >= (v_top - 2) * block_size
       and (v_ids[u.n] / block_size) % 3 <> all (v_full);
end
$$;
revoke all on function pgque_worker._record_deliveries(int, int, text[], oid[], bigint[], int[], text[],
    int[], text[], text[], float8[], bigint[]) from public;
do $$
begin
    if exists (select from pg_catalog.pg_roles where rolname = 'pgque_admin') then
        grant execute on function pgque_worker._record_deliveries(int, int, text[], oid[], bigint[], int[],
            text[], int[], text[], text[], float8[], bigint[]) to pgque_admin;
    end if;
end
$$;

-- The history with queue and consumer names; security_invoker, so that the
-- policy above applies to the reader, not to the view's owner.
create view pgque_worker.webhook_history with (security_invoker = true) as
select d.at, c.queue, c.consumer, d.event_type, d.msg_id, d.attempt, d.webhook_id,
       d.status, d.error, d.duration, d.response
  from pgque_worker.delivery d
  left join pgque_worker.consumer c on c.id = d.consumer_id;
grant select on pgque_worker.webhook_history to public;
