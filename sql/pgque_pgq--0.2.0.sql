-- pgque_pgq 0.2.0: pgque's SQL API on the PgQ extension.
--
-- PgQ (Debian's postgresql-15-pgq3) does the queueing: event tables rotated
-- with TRUNCATE, ticks as snapshots, per-consumer cursors, the retry queue.
-- This file adds pgque's API on top of it, with pgque's signatures, so pgque's
-- client libraries and pgque_worker run unchanged against it.
--
-- Conventions:
--   * Every function is SECURITY DEFINER with a fixed search_path and fully
--     qualified names: callers need EXECUTE (granted to the pgque_* roles at
--     the end), never rights on PgQ's tables.
--   * Names of queues and consumers are data: they are never spliced into SQL
--     text. (PgQ's own dynamic SQL uses queue ids, never names.)
--   * Bad input raises an error that names the argument and the value.
--
-- Where this engine differs from upstream pgque (documented in docs/engine.md):
--   * receive() + ack() never skip an event: when a batch holds more events
--     than max_return, ack() acknowledges the page that was returned and the
--     next receive() returns the rest of the same batch (table batch_page).
--   * receive() skips over empty batches instead of returning an empty set
--     while events are waiting in a later batch.
--   * dlq_replay() re-delivers to the consumer that dead-lettered the event,
--     not to every consumer of the queue.

\echo Use "CREATE EXTENSION pgque_pgq CASCADE" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Roles (cluster-wide, like PgQ's pgq_reader/pgq_writer/pgq_admin): created
-- when missing, never dropped by DROP EXTENSION.
-- ---------------------------------------------------------------------------
do $roles$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'pgque_reader') then
        create role pgque_reader nologin;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'pgque_writer') then
        create role pgque_writer nologin;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'pgque_admin') then
        create role pgque_admin nologin in role pgque_reader, pgque_writer;
    end if;
end
$roles$;

-- ---------------------------------------------------------------------------
-- Types and tables
-- ---------------------------------------------------------------------------

-- One message as receive() returns it. retry_count is NULL on first delivery.
create type pgque.message as (
    msg_id      bigint,
    batch_id    bigint,
    type        text,
    payload     text,
    retry_count int4,
    created_at  timestamptz,
    extra1      text,
    extra2      text,
    extra3      text,
    extra4      text
);

-- Per-queue settings PgQ has no column for.
create table pgque.queue_setting (
    queue_id    int4 primary key references pgq.queue (queue_id) on delete cascade,
    max_retries int4 check (max_retries >= 0)   -- NULL: the default, 5
);

-- Progress through a batch that held more events than one receive() returned.
-- A row exists only while such a batch is open, so the common case (a batch
-- that fits in one receive) writes nothing here.
create table pgque.batch_page (
    batch_id          bigint primary key,
    acked_through     bigint,      -- last msg_id acknowledged by ack(); NULL: none yet
    delivered_through bigint,      -- last msg_id returned by the latest receive()
    complete          boolean not null default false  -- that receive() reached the batch's end
);

-- Ticks asked for by force_next_tick() and not yet made by ticker(). One row
-- per queue, flipped in place (a HOT update: no bloat). PgQ's force_tick()
-- instead advances the event sequence by 2 * ticker_max_count + 1000, which
-- would inflate ev_per_sec and pending_events at every forced tick.
create table pgque.tick_request (
    queue_id  int4 primary key references pgq.queue (queue_id) on delete cascade,
    requested boolean not null default false
) with (fillfactor = 50);

-- Messages that failed max_retries times (columns as in upstream pgque).
create table pgque.dead_letter (
    dl_id           bigserial primary key,
    dl_queue_id     int4 not null references pgq.queue (queue_id) on delete cascade,
    dl_consumer_id  int4 not null references pgq.consumer (co_id) on delete cascade,
    dl_time         timestamptz not null default now(),
    dl_reason       text,
    ev_id           bigint not null,
    ev_time         timestamptz not null,
    ev_txid         xid8,
    ev_retry        int4,
    ev_type         text,
    ev_data         text,
    ev_extra1       text,
    ev_extra2       text,
    ev_extra3       text,
    ev_extra4       text
);
create index dead_letter_queue_time_idx on pgque.dead_letter (dl_queue_id, dl_time);
-- One row per (queue, consumer, event): a repeated nack() of a dead message is a no-op.
create unique index dead_letter_event_uq on pgque.dead_letter (dl_queue_id, dl_consumer_id, ev_id);

-- User data: pg_dump must keep it.
select pg_catalog.pg_extension_config_dump('pgque.queue_setting', '');
select pg_catalog.pg_extension_config_dump('pgque.batch_page', '');
select pg_catalog.pg_extension_config_dump('pgque.tick_request', '');
select pg_catalog.pg_extension_config_dump('pgque.dead_letter', '');
select pg_catalog.pg_extension_config_dump('pgque.dead_letter_dl_id_seq', '');

-- ---------------------------------------------------------------------------
-- Argument checks shared by the API (internal)
-- ---------------------------------------------------------------------------

-- The queue's id, or a clear error. Also rejects NULL.
create function pgque._queue_id(queue text)
returns int4
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_id int4;
begin
    if queue is null then
        raise exception 'queue name must not be null' using errcode = 'null_value_not_allowed';
    end if;
    select q.queue_id into v_id from pgq.queue q where q.queue_name = queue;
    if not found then
        raise exception 'queue not found: %', queue
            using errcode = 'undefined_object',
                  hint = 'Create it with pgque.create_queue().';
    end if;
    return v_id;
end
$$;

-- The subscription (sub_id, queue_id) of consumer on queue, or a clear error.
create function pgque._subscription(queue text, consumer text,
                                    out sub_id int4, out queue_id int4)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    queue_id := pgque._queue_id(queue);
    if consumer is null then
        raise exception 'consumer name must not be null' using errcode = 'null_value_not_allowed';
    end if;
    select s.sub_id into sub_id
      from pgq.subscription s join pgq.consumer c on c.co_id = s.sub_consumer
     where s.sub_queue = _subscription.queue_id and c.co_name = consumer;
    if not found then
        raise exception 'consumer "%" is not registered on queue "%"', consumer, queue
            using errcode = 'undefined_object',
                  hint = 'Register it with pgque.subscribe() or pgque.register_consumer().';
    end if;
end
$$;

-- The SQL text that selects a batch's events in msg_id order (PgQ builds it
-- from queue and tick ids only), or a clear error for an inactive batch.
create function pgque._batch_sql(batch_id bigint)
returns text
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if batch_id is null then
        raise exception 'batch_id must not be null' using errcode = 'null_value_not_allowed';
    end if;
    if not exists (select from pgq.subscription s where s.sub_batch = batch_id) then
        raise exception 'batch % is not active', batch_id
            using errcode = 'undefined_object',
                  hint = 'A batch is active from the receive() that returned it until its ack().';
    end if;
    return pgq.batch_event_sql(batch_id);
end
$$;

-- ---------------------------------------------------------------------------
-- Queue lifecycle and configuration
-- ---------------------------------------------------------------------------

create function pgque.create_queue(queue text)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if queue is null then
        raise exception 'queue name must not be null' using errcode = 'null_value_not_allowed';
    end if;
    if queue = '' then
        raise exception 'queue name must not be empty' using errcode = 'invalid_parameter_value';
    end if;
    -- Ticks notify channel 'pgque_' || queue, and a channel name must fit in
    -- an identifier (63 bytes).
    if octet_length(queue) > 57 then
        raise exception 'queue name is % bytes long; the limit is 57', octet_length(queue)
            using errcode = 'name_too_long',
                  detail = 'Ticks notify channel "pgque_<queue>", which must fit in 63 bytes.';
    end if;
    if pgq.create_queue(queue) = 0 then
        return 0;
    end if;
    -- PgQ's first tick records the event sequence's last_value while the
    -- sequence is still uncalled, so the first event would count as none and
    -- not trigger ticker_max_count. Mark the value 1 as used instead.
    perform pg_catalog.setval(q.queue_event_seq, 1, true)
       from pgq.queue q where q.queue_name = queue;
    return 1;
end
$$;

create function pgque.drop_queue(queue text, force boolean)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pgque._queue_id(queue);
    if force is null then
        raise exception 'force must not be null' using errcode = 'null_value_not_allowed';
    end if;
    if not force and exists (select from pgq.subscription s
                              where s.sub_queue = pgque._queue_id(queue)) then
        raise exception 'queue "%" still has consumers', queue
            using errcode = 'dependent_objects_still_exist',
                  hint = 'Unregister them first, or call pgque.drop_queue(queue, true).';
    end if;
    return pgq.drop_queue(queue, force);
end
$$;

create function pgque.drop_queue(queue text)
returns integer
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgque.drop_queue(queue, false) $$;

-- Sets one queue parameter; a NULL value restores the default.
create function pgque.set_queue_config(queue text, param text, value text)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_queue_id int4 := pgque._queue_id(queue);
    v_param    text := regexp_replace(param, '^queue_', '');
    v_int      int8;
    v_interval interval;
    v_bool     boolean;
begin
    if param is null then
        raise exception 'param must not be null' using errcode = 'null_value_not_allowed';
    end if;
    begin
        case
        when v_param in ('ticker_max_count', 'max_retries') then
            v_int := value::int8;
        when v_param in ('ticker_max_lag', 'ticker_idle_period', 'rotation_period') then
            v_interval := value::interval;
        when v_param in ('ticker_paused', 'external_ticker') then
            v_bool := value::boolean;
        else
            raise exception 'unknown queue parameter "%"', param
                using errcode = 'invalid_parameter_value',
                      hint = 'Known parameters: ticker_max_count, ticker_max_lag, ticker_idle_period, '
                             'ticker_paused, rotation_period, external_ticker, max_retries.';
        end case;
    exception
        when invalid_text_representation or invalid_datetime_format
             or datetime_field_overflow or numeric_value_out_of_range then
            raise exception 'invalid value for queue parameter %: "%"', v_param, value
                using errcode = 'invalid_parameter_value';
    end;

    if (v_param = 'ticker_max_count' and v_int not between 1 and 2147483647)
       or (v_param = 'max_retries' and v_int not between 0 and 2147483647)
       or (v_param = 'ticker_max_lag' and v_interval < interval '0')
       or (v_param in ('ticker_idle_period', 'rotation_period') and v_interval <= interval '0')
    then
        raise exception 'value out of range for queue parameter %: %', v_param, value
            using errcode = 'invalid_parameter_value',
                  hint = 'ticker_max_count >= 1, max_retries >= 0, ticker_max_lag >= 0, '
                         'ticker_idle_period and rotation_period > 0.';
    end if;

    case v_param
    when 'max_retries' then
        insert into pgque.queue_setting as s (queue_id, max_retries)
        values (v_queue_id, v_int)
        on conflict (queue_id) do update set max_retries = excluded.max_retries;
    when 'ticker_max_count' then
        update pgq.queue q set queue_ticker_max_count = coalesce(v_int::int4, 500) where q.queue_id = v_queue_id;
    when 'ticker_max_lag' then
        update pgq.queue q set queue_ticker_max_lag = coalesce(v_interval, '3 seconds') where q.queue_id = v_queue_id;
    when 'ticker_idle_period' then
        update pgq.queue q set queue_ticker_idle_period = coalesce(v_interval, '1 minute') where q.queue_id = v_queue_id;
    when 'rotation_period' then
        update pgq.queue q set queue_rotation_period = coalesce(v_interval, '2 hours') where q.queue_id = v_queue_id;
    when 'ticker_paused' then
        update pgq.queue q set queue_ticker_paused = coalesce(v_bool, false) where q.queue_id = v_queue_id;
    when 'external_ticker' then
        update pgq.queue q set queue_external_ticker = coalesce(v_bool, false) where q.queue_id = v_queue_id;
    end case;
    return 1;
end
$$;

-- ---------------------------------------------------------------------------
-- Consumers
-- ---------------------------------------------------------------------------

create function pgque.register_consumer(queue text, consumer text)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pgque._queue_id(queue);
    if consumer is null then
        raise exception 'consumer name must not be null' using errcode = 'null_value_not_allowed';
    end if;
    if consumer = '' then
        raise exception 'consumer name must not be empty' using errcode = 'invalid_parameter_value';
    end if;
    return pgq.register_consumer(queue, consumer);
end
$$;

create function pgque.unregister_consumer(queue text, consumer text)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_sub record;
begin
    select * into v_sub from pgque._subscription(queue, consumer);
    delete from pgque.batch_page p
     where p.batch_id = (select s.sub_batch from pgq.subscription s
                          where s.sub_id = v_sub.sub_id and s.sub_queue = v_sub.queue_id);
    return pgq.unregister_consumer(queue, consumer);
end
$$;

create function pgque.subscribe(queue text, consumer text)
returns integer
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgque.register_consumer(queue, consumer) $$;

create function pgque.unsubscribe(queue text, consumer text)
returns integer
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgque.unregister_consumer(queue, consumer) $$;

-- ---------------------------------------------------------------------------
-- Producing
-- ---------------------------------------------------------------------------

create function pgque.send(queue_name text, type_name text, payload text)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pgque._queue_id(queue_name);
    return pgq.insert_event(queue_name, type_name, payload);
end
$$;

create function pgque.send(queue_name text, type_name text, payload jsonb)
returns bigint
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgque.send(queue_name, type_name, payload::text) $$;

create function pgque.send(queue_name text, payload text)
returns bigint
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgque.send(queue_name, 'default', payload) $$;

create function pgque.send(queue_name text, payload jsonb)
returns bigint
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgque.send(queue_name, 'default', payload::text) $$;

-- Ids come back in input order; a NULL element is stored as a NULL payload.
create function pgque.send_batch(queue_name text, type_name text, payloads text[])
returns bigint[]
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_ids bigint[];
begin
    if payloads is null then
        raise exception 'payloads must not be null' using errcode = 'null_value_not_allowed';
    end if;
    if cardinality(payloads) = 0 then
        return '{}';
    end if;
    perform pgque._queue_id(queue_name);
    select array_agg(pgq.insert_event(queue_name, type_name, p.payload) order by p.ord)
      into v_ids
      from unnest(payloads) with ordinality as p(payload, ord);
    return v_ids;
end
$$;

create function pgque.send_batch(queue_name text, type_name text, payloads jsonb[])
returns bigint[]
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgque.send_batch(queue_name, type_name, payloads::text[]) $$;

create function pgque.send_batch(queue_name text, payloads text[])
returns bigint[]
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgque.send_batch(queue_name, 'default', payloads) $$;

create function pgque.send_batch(queue_name text, payloads jsonb[])
returns bigint[]
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgque.send_batch(queue_name, 'default', payloads::text[]) $$;

-- ---------------------------------------------------------------------------
-- Consuming
-- ---------------------------------------------------------------------------

-- Returns up to max_return messages of the consumer's current batch (opening
-- the next one when none is open), continuing after the last page ack()ed.
-- Empty batches are finished on the way, so an empty result means that
-- nothing is waiting.
create function pgque.receive(queue text, consumer text, max_return int default 100)
returns setof pgque.message
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_batch    bigint;
    v_after    bigint;
    v_sent     int;
    v_last     bigint;
    v_more     boolean;
    ev         record;
begin
    if max_return is null or max_return < 1 then
        raise exception 'max_return must be >= 1, got %', coalesce(max_return::text, 'NULL')
            using errcode = 'invalid_parameter_value';
    end if;
    perform pgque._subscription(queue, consumer);

    -- Bounded: an idle queue gets one tick per ticker_idle_period at most.
    for i in 1..1000 loop
        v_batch := pgq.next_batch(queue, consumer);
        if v_batch is null then
            return;
        end if;

        select p.acked_through into v_after from pgque.batch_page p where p.batch_id = v_batch;
        v_sent := 0;
        v_more := false;
        -- One row more than asked tells whether the batch goes on.
        for ev in execute
            'select ev_id, ev_time, ev_retry, ev_type, ev_data,'
            '       ev_extra1, ev_extra2, ev_extra3, ev_extra4'
            '  from (' || pgq.batch_event_sql(v_batch) || ') e'
            ' where $1 is null or ev_id > $1 order by ev_id limit $2'
            using v_after, max_return::bigint + 1  -- max_return may be 2147483647
        loop
            if v_sent = max_return then
                v_more := true;
                exit;
            end if;
            v_sent := v_sent + 1;
            v_last := ev.ev_id;
            return next row(ev.ev_id, v_batch, ev.ev_type, ev.ev_data, ev.ev_retry,
                            ev.ev_time, ev.ev_extra1, ev.ev_extra2, ev.ev_extra3,
                            ev.ev_extra4)::pgque.message;
        end loop;

        if v_sent > 0 then
            if v_more then
                insert into pgque.batch_page as p (batch_id, delivered_through, complete)
                values (v_batch, v_last, false)
                on conflict (batch_id) do update set delivered_through = excluded.delivered_through,
                                                     complete = false;
            elsif v_after is not null then
                update pgque.batch_page p set delivered_through = v_last, complete = true
                 where p.batch_id = v_batch;
            end if;
            return;
        end if;

        -- Nothing (left) in this batch: close it and look at the next one.
        perform pgq.finish_batch(v_batch);
        delete from pgque.batch_page p where p.batch_id = v_batch;
    end loop;
end
$$;

-- Acknowledges what the last receive() returned: finishes the batch, or, when
-- the batch goes on, records the page and keeps the batch open for the next
-- receive(). Returns 1, or 0 (with a WARNING) for a batch that is not active,
-- e.g. a second ack of the same batch: pgque's clients rely on that 0.
create function pgque.ack(batch_id bigint)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_page pgque.batch_page;
begin
    if batch_id is null then
        raise exception 'batch_id must not be null' using errcode = 'null_value_not_allowed';
    end if;
    select * into v_page from pgque.batch_page p where p.batch_id = ack.batch_id for update;
    if found and not v_page.complete then
        if v_page.delivered_through is not distinct from v_page.acked_through then
            raise warning 'pgque.ack: batch % page already acknowledged; nothing to do', batch_id;
            return 0;
        end if;
        update pgque.batch_page p set acked_through = v_page.delivered_through
         where p.batch_id = ack.batch_id;
        return 1;
    end if;
    delete from pgque.batch_page p where p.batch_id = ack.batch_id;
    if not exists (select from pgq.subscription s where s.sub_batch = ack.batch_id) then
        raise warning 'pgque.ack: batch % is not active (unknown, or already acknowledged); nothing was acknowledged', batch_id;
        return 0;
    end if;
    return pgq.finish_batch(batch_id);
end
$$;

-- Negative acknowledgement of one message of an active batch: retry after
-- retry_after, or, once it has been retried max_retries times, move it to
-- pgque.dead_letter. Only msg.msg_id is read from msg; everything else comes
-- from the stored event.
create function pgque.nack(batch_id bigint, msg pgque.message,
                           retry_after interval default '60 seconds',
                           reason text default null)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_sql  text := pgque._batch_sql(batch_id);
    v_sub  record;
    v_max  int4;
    ev     record;
begin
    if msg is null or msg.msg_id is null then
        raise exception 'msg.msg_id must not be null' using errcode = 'null_value_not_allowed';
    end if;
    if retry_after is null or retry_after < interval '0' then
        raise exception 'retry_after must be a non-negative interval, got %', coalesce(retry_after::text, 'NULL')
            using errcode = 'invalid_parameter_value';
    end if;

    select s.sub_id, s.sub_queue, s.sub_consumer, coalesce(qs.max_retries, 5) as max_retries
      into v_sub
      from pgq.subscription s left join pgque.queue_setting qs on qs.queue_id = s.sub_queue
     where s.sub_batch = batch_id;

    execute 'select ev_id, ev_time, ev_txid, ev_retry, ev_type, ev_data,'
            '       ev_extra1, ev_extra2, ev_extra3, ev_extra4'
            '  from (' || v_sql || ') e where ev_id = $1'
       into ev using msg.msg_id;
    if ev.ev_id is null then
        raise exception 'msg_id % not found in batch %', msg.msg_id, batch_id
            using errcode = 'undefined_object';
    end if;

    v_max := v_sub.max_retries;
    if coalesce(ev.ev_retry, 0) >= v_max then
        insert into pgque.dead_letter (dl_queue_id, dl_consumer_id, dl_reason,
                                       ev_id, ev_time, ev_txid, ev_retry, ev_type, ev_data,
                                       ev_extra1, ev_extra2, ev_extra3, ev_extra4)
        values (v_sub.sub_queue, v_sub.sub_consumer, coalesce(reason, 'max retries exceeded'),
                ev.ev_id, ev.ev_time, ev.ev_txid::text::xid8, ev.ev_retry, ev.ev_type, ev.ev_data,
                ev.ev_extra1, ev.ev_extra2, ev.ev_extra3, ev.ev_extra4)
        on conflict (dl_queue_id, dl_consumer_id, ev_id) do nothing;
    else
        -- What pgq.event_retry() does, without re-reading the whole batch.
        insert into pgq.retry_queue (ev_retry_after, ev_queue, ev_id, ev_time, ev_txid,
                                     ev_owner, ev_retry, ev_type, ev_data,
                                     ev_extra1, ev_extra2, ev_extra3, ev_extra4)
        values (current_timestamp + retry_after, v_sub.sub_queue, ev.ev_id, ev.ev_time, null,
                v_sub.sub_id, coalesce(ev.ev_retry, 0) + 1, ev.ev_type, ev.ev_data,
                ev.ev_extra1, ev.ev_extra2, ev.ev_extra3, ev.ev_extra4)
        on conflict (ev_owner, ev_id) do nothing;
    end if;
    return 1;
end
$$;

-- Moves one event of an active batch to pgque.dead_letter with reason, at
-- once, whatever its retry count: for consumers that know a message can
-- never succeed (pgque_worker uses it for a message that crashed its worker
-- and for permanent HTTP failures). Upstream pgque's signature; the event's
-- fields are the caller's, the queue and consumer the batch's. Idempotent.
create function pgque.event_dead(batch_id bigint, event_id bigint, reason text,
                                 ev_time timestamptz, ev_txid xid8, ev_retry int4,
                                 ev_type text, ev_data text,
                                 ev_extra1 text default null, ev_extra2 text default null,
                                 ev_extra3 text default null, ev_extra4 text default null)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_sub record;
begin
    select s.sub_queue, s.sub_consumer into v_sub
      from pgq.subscription s where s.sub_batch = event_dead.batch_id;
    if not found then
        raise exception 'batch not found: %', batch_id using errcode = 'undefined_object';
    end if;
    insert into pgque.dead_letter (dl_queue_id, dl_consumer_id, dl_reason,
                                   ev_id, ev_time, ev_txid, ev_retry, ev_type, ev_data,
                                   ev_extra1, ev_extra2, ev_extra3, ev_extra4)
    values (v_sub.sub_queue, v_sub.sub_consumer, reason,
            event_id, ev_time, ev_txid, ev_retry, ev_type, ev_data,
            ev_extra1, ev_extra2, ev_extra3, ev_extra4)
    on conflict (dl_queue_id, dl_consumer_id, ev_id) do nothing;
    return 1;
end
$$;

-- ---------------------------------------------------------------------------
-- Ticking and maintenance
-- ---------------------------------------------------------------------------

-- The queue's id, or a clear error unless queue exists and this side may
-- tick it.
create function pgque._tickable_queue_id(queue text)
returns int4
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    q record;
begin
    select pq.* into q from pgq.queue pq where pq.queue_id = pgque._queue_id(queue);
    if q.queue_ticker_paused then
        raise exception 'queue "%" is paused (ticker_paused)', queue
            using errcode = 'object_not_in_prerequisite_state';
    end if;
    if q.queue_external_ticker then
        raise exception 'queue "%" has an external ticker', queue
            using errcode = 'object_not_in_prerequisite_state';
    end if;
    return q.queue_id;
end
$$;

-- Ticks queue when force_next_tick() asked for it, or when PgQ's thresholds
-- (ticker_max_count, ticker_max_lag, ticker_idle_period) say so; returns the
-- new tick id or NULL. Every tick notifies channel 'pgque_' || queue with
-- the tick id.
create function pgque.ticker(queue text)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_queue_id int4 := pgque._tickable_queue_id(queue);
    v_tick     bigint;
    v_last     txid_snapshot;
begin
    update pgque.tick_request r set requested = false
     where r.queue_id = v_queue_id and r.requested;
    if found then
        -- The tick pgq.ticker() makes, without its thresholds, and with its
        -- check: a tick never goes back in transaction ids (a database
        -- restored into a cluster whose ids are lower: docs/operations.md).
        select t.tick_snapshot into v_last from pgq.tick t
         where t.tick_queue = v_queue_id order by t.tick_queue desc, t.tick_id desc limit 1;
        if txid_snapshot_xmin(v_last) > txid_current() then
            raise exception 'Invalid PgQ state: old xmin=%, old xmax=%, cur txid=%',
                txid_snapshot_xmin(v_last), txid_snapshot_xmax(v_last), txid_current();
        end if;
        insert into pgq.tick (tick_queue, tick_id, tick_event_seq)
        select pq.queue_id, nextval(pq.queue_tick_seq), pgq.seq_getval(pq.queue_event_seq)
          from pgq.queue pq where pq.queue_id = v_queue_id
        returning tick_id into v_tick;
    else
        v_tick := pgq.ticker(queue);
    end if;
    if v_tick is not null then
        perform pg_notify('pgque_' || queue, v_tick::text);
    end if;
    return v_tick;
end
$$;

-- Ticks every queue that is neither paused nor externally ticked; returns the
-- number of queues ticked.
create function pgque.ticker()
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_count bigint := 0;
    q record;
begin
    for q in select queue_name from pgq.queue
              where not queue_external_ticker and not queue_ticker_paused
              order by queue_name
    loop
        if pgque.ticker(q.queue_name) is not null then
            v_count := v_count + 1;
        end if;
    end loop;
    return v_count;
end
$$;

-- Makes the next ticker(queue) call tick regardless of thresholds; returns
-- the current last tick id.
create function pgque.force_next_tick(queue text)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_queue_id int4 := pgque._tickable_queue_id(queue);
begin
    insert into pgque.tick_request as r (queue_id, requested) values (v_queue_id, true)
    on conflict (queue_id) do update set requested = true where not r.requested;
    return (select t.tick_id from pgq.tick t where t.tick_queue = v_queue_id
             order by t.tick_queue desc, t.tick_id desc limit 1);
end
$$;

create function pgque.force_tick(queue text)
returns bigint
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgque.force_next_tick(queue) $$;

-- Moves every due retry back into its queue (PgQ moves ten per call).
create function pgque.maint_retry_events()
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_total int := 0;
    v_moved int;
begin
    loop
        v_moved := pgq.maint_retry_events();
        v_total := v_total + v_moved;
        exit when v_moved < 10;
    end loop;
    return v_total;
end
$$;

-- Step 2 of table rotation; must run in a later transaction than step 1.
create function pgque.maint_rotate_tables_step2()
returns integer
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgq.maint_rotate_tables_step2() $$;

-- One maintenance pass: finishes the rotation step 1 of an earlier pass
-- started (step 2 must be a later transaction, and an earlier maint() call is
-- one), rotates the event tables that are due, runs PgQ's per-queue extra
-- maintenance, and drops paging state of batches that are no longer active.
-- Returns the number of operations performed.
create function pgque.maint()
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_total int := 0;
    op record;
begin
    perform pgq.maint_rotate_tables_step2();
    for op in select func_name, func_arg from pgq.maint_operations() loop
        if op.func_name = 'pgq.maint_rotate_tables_step1' then
            perform pgq.maint_rotate_tables_step1(op.func_arg);
        elsif op.func_name in ('pgq.maint_rotate_tables_step2', 'vacuum') then
            continue;   -- step 2 is done above; autovacuum handles PgQ's tables
        elsif op.func_name ~ '^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$' then
            -- queue_extra_maint hooks, which only a superuser can configure
            execute format('select %s($1)', op.func_name) using op.func_arg;
        else
            raise warning 'pgque.maint: skipping maintenance operation with an unexpected name: %', op.func_name;
            continue;
        end if;
        v_total := v_total + 1;
    end loop;
    delete from pgque.batch_page p
     where not exists (select from pgq.subscription s where s.sub_batch = p.batch_id);
    return v_total;
end
$$;

-- ---------------------------------------------------------------------------
-- Observability
-- ---------------------------------------------------------------------------

create function pgque.get_queue_info(
    out queue_name text, out queue_ntables integer, out queue_cur_table integer,
    out queue_rotation_period interval, out queue_switch_time timestamptz,
    out queue_external_ticker boolean, out queue_ticker_paused boolean,
    out queue_ticker_max_count integer, out queue_ticker_max_lag interval,
    out queue_ticker_idle_period interval, out ticker_lag interval,
    out ev_per_sec float8, out ev_new bigint, out last_tick_id bigint)
returns setof record
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$ select * from pgq.get_queue_info(null::text) $$;

create function pgque.get_queue_info(queue text,
    out queue_name text, out queue_ntables integer, out queue_cur_table integer,
    out queue_rotation_period interval, out queue_switch_time timestamptz,
    out queue_external_ticker boolean, out queue_ticker_paused boolean,
    out queue_ticker_max_count integer, out queue_ticker_max_lag interval,
    out queue_ticker_idle_period interval, out ticker_lag interval,
    out ev_per_sec float8, out ev_new bigint, out last_tick_id bigint)
returns setof record
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$ select * from pgq.get_queue_info(queue) $$;

create function pgque.get_consumer_info(queue text, consumer text,
    out queue_name text, out consumer_name text, out lag interval,
    out last_seen interval, out last_tick bigint, out current_batch bigint,
    out next_tick bigint, out pending_events bigint)
returns setof record
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$ select * from pgq.get_consumer_info(queue, consumer) $$;

create function pgque.get_consumer_info(queue text,
    out queue_name text, out consumer_name text, out lag interval,
    out last_seen interval, out last_tick bigint, out current_batch bigint,
    out next_tick bigint, out pending_events bigint)
returns setof record
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$ select * from pgq.get_consumer_info(queue, null) $$;

create function pgque.get_consumer_info(
    out queue_name text, out consumer_name text, out lag interval,
    out last_seen interval, out last_tick bigint, out current_batch bigint,
    out next_tick bigint, out pending_events bigint)
returns setof record
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$ select * from pgq.get_consumer_info(null, null) $$;

create function pgque.version()
returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select '0.2.0' $$;

-- ---------------------------------------------------------------------------
-- Dead-letter queue
-- ---------------------------------------------------------------------------

create function pgque.dlq_inspect(queue text, limit_count int default 100)
returns setof pgque.dead_letter
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if limit_count is null or limit_count < 1 then
        raise exception 'limit_count must be >= 1, got %', coalesce(limit_count::text, 'NULL')
            using errcode = 'invalid_parameter_value';
    end if;
    return query
        select * from pgque.dead_letter d
         where d.dl_queue_id = pgque._queue_id(queue)
         order by d.dl_time desc, d.dl_id desc
         limit limit_count;
end
$$;

-- Puts a dead letter back for the consumer that dead-lettered it, with a
-- fresh retry budget, and deletes the dead-letter row. Returns the new event id.
create function pgque.dlq_replay(dead_letter_id bigint)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    d   record;
    v_id bigint;
begin
    if dead_letter_id is null then
        raise exception 'dead_letter_id must not be null' using errcode = 'null_value_not_allowed';
    end if;
    select dl.*, q.queue_name, s.sub_id
      into d
      from pgque.dead_letter dl
      join pgq.queue q on q.queue_id = dl.dl_queue_id
      left join pgq.subscription s on s.sub_queue = dl.dl_queue_id and s.sub_consumer = dl.dl_consumer_id
     where dl.dl_id = dead_letter_id
       for update of dl;
    if not found then
        raise exception 'dead letter % not found', dead_letter_id using errcode = 'undefined_object';
    end if;
    if d.sub_id is null then
        raise exception 'dead letter %: its consumer is no longer registered on queue "%"', dead_letter_id, d.queue_name
            using errcode = 'object_not_in_prerequisite_state';
    end if;
    v_id := pgq.insert_event_raw(d.queue_name, null, now(), d.sub_id, null,
                                 d.ev_type, d.ev_data, d.ev_extra1, d.ev_extra2,
                                 d.ev_extra3, d.ev_extra4);
    delete from pgque.dead_letter dl where dl.dl_id = dead_letter_id;
    return v_id;
end
$$;

create function pgque.dlq_replay_all(queue text,
    out replayed bigint, out failed bigint, out first_error text)
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    d record;
begin
    replayed := 0;
    failed := 0;
    for d in select dl_id from pgque.dead_letter
              where dl_queue_id = pgque._queue_id(queue) order by dl_id
    loop
        begin
            perform pgque.dlq_replay(d.dl_id);
            replayed := replayed + 1;
        exception when others then
            failed := failed + 1;
            first_error := coalesce(first_error, format('dead letter %s: %s', d.dl_id, sqlerrm));
            raise warning 'pgque.dlq_replay_all: dead letter %: %', d.dl_id, sqlerrm;
        end;
    end loop;
end
$$;

create function pgque.dlq_purge(queue text, older_than interval default '30 days')
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_count int;
begin
    if older_than is null then
        raise exception 'older_than must not be null' using errcode = 'null_value_not_allowed';
    end if;
    delete from pgque.dead_letter d
     where d.dl_queue_id = pgque._queue_id(queue)
       and d.dl_time < now() - older_than;
    get diagnostics v_count = row_count;
    return v_count;
end
$$;

-- ---------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; the three roles as in upstream pgque.
-- ---------------------------------------------------------------------------
revoke all on all functions in schema pgque from public;
revoke all on all tables in schema pgque from public;
grant usage on schema pgque to pgque_reader, pgque_writer, pgque_admin;
grant usage on type pgque.message to public;

grant execute on function
    pgque.send(text, text), pgque.send(text, jsonb),
    pgque.send(text, text, text), pgque.send(text, text, jsonb),
    pgque.send_batch(text, text[]), pgque.send_batch(text, jsonb[]),
    pgque.send_batch(text, text, text[]), pgque.send_batch(text, text, jsonb[]),
    pgque.dlq_replay(bigint), pgque.dlq_replay_all(text)
    to pgque_writer;
grant execute on function
    pgque.receive(text, text, int), pgque.ack(bigint),
    pgque.nack(bigint, pgque.message, interval, text),
    pgque.register_consumer(text, text), pgque.unregister_consumer(text, text),
    pgque.subscribe(text, text), pgque.unsubscribe(text, text),
    pgque.get_queue_info(), pgque.get_queue_info(text),
    pgque.get_consumer_info(), pgque.get_consumer_info(text),
    pgque.get_consumer_info(text, text),
    pgque.dlq_inspect(text, int), pgque.version()
    to pgque_reader;
grant execute on all functions in schema pgque to pgque_admin;
grant select on pgque.dead_letter to pgque_reader;
-- Not ALL: TRIGGER on a table that SECURITY DEFINER functions write would
-- run an admin's trigger as the functions' owner (a superuser).
grant select, insert, update, delete on pgque.dead_letter to pgque_admin;
