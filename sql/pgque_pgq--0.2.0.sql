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

-- ===========================================================================
-- Parity with upstream pgque 0.2 (issue #13). Everything from here to the
-- end marker is the same text in pgque_pgq--0.2.0.sql and in the update
-- script from 0.1.0.
--
--   * Errors follow upstream's contract: SQLSTATE P0001 and upstream's text
--     (pgque's clients map errors by text: "queue not found",
--     "Not subscriber to queue", "batch not found"). Checks upstream does
--     not make keep their own SQLSTATE (docs/engine.md lists them).
--   * The low-level API (PgQ's functions under pgque's names) as thin
--     layers over PgQ, with upstream's parameter names.
--   * Cooperative consumers: several subconsumers share one consumer's
--     batches, on PgQ's own convention (PgQ 3 was designed for it): a
--     subconsumer is a pgq.subscription row named "<consumer>.<subconsumer>"
--     sharing the consumer's sub_id; the consumer's row holds the cursor, a
--     subconsumer's row holds the tick range of the batch it works on.
-- ===========================================================================

-- Which subscriptions are cooperative: one row per subconsumer. A consumer
-- with at least one row here is a cooperative main consumer.
create table pgque.coop_member (
    queue_id  int4 not null,
    member_id int4 not null,   -- pgq.consumer "<consumer>.<subconsumer>"
    main_id   int4 not null,   -- pgq.consumer "<consumer>"
    primary key (queue_id, member_id),
    foreign key (queue_id, member_id) references pgq.subscription (sub_queue, sub_consumer)
        on delete cascade,
    foreign key (queue_id, main_id) references pgq.subscription (sub_queue, sub_consumer)
        on delete cascade
);
create index coop_member_main_idx on pgque.coop_member (queue_id, main_id);
select pg_catalog.pg_extension_config_dump('pgque.coop_member', '');

-- ---------------------------------------------------------------------------
-- Lookups (internal)
-- ---------------------------------------------------------------------------

-- The queue's id, or upstream's error for an unknown (or NULL) queue name.
create or replace function pgque._queue_id(queue text)
returns int4
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_id int4;
begin
    select q.queue_id into v_id from pgq.queue q where q.queue_name = queue;
    if not found then
        raise exception 'queue not found: %', queue;
    end if;
    return v_id;
end
$$;

-- The subscription (sub_id, queue_id) of consumer on queue, or PgQ's (and
-- upstream's) error.
create or replace function pgque._subscription(queue text, consumer text,
                                               out sub_id int4, out queue_id int4)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    select s.sub_id, s.sub_queue into sub_id, queue_id
      from pgq.subscription s
      join pgq.queue q on q.queue_id = s.sub_queue
      join pgq.consumer c on c.co_id = s.sub_consumer
     where q.queue_name = queue and c.co_name = consumer;
    if not found then
        raise exception 'Not subscriber to queue: %/%', coalesce(queue, 'NULL'), coalesce(consumer, 'NULL');
    end if;
end
$$;

-- 'normal', 'coop_main' or 'coop_member' for a registered consumer.
create function pgque._coop_role(queue text, consumer text)
returns text
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_role text;
begin
    select case
             when exists (select from pgque.coop_member m
                           where m.queue_id = q.queue_id and m.main_id = c.co_id) then 'coop_main'
             when exists (select from pgque.coop_member m
                           where m.queue_id = q.queue_id and m.member_id = c.co_id) then 'coop_member'
             else 'normal'
           end
      into v_role
      from pgq.queue q, pgq.consumer c
     where q.queue_name = queue and c.co_name = consumer;
    return v_role;
end
$$;

-- The normal (non-cooperative) consume API refuses cooperative consumers:
-- opening a batch on a main consumer would bypass its subconsumers.
create function pgque._refuse_coop(queue text, consumer text)
returns void
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    case pgque._coop_role(queue, consumer)
    when 'coop_main' then
        raise exception 'consumer % on queue % is a cooperative main consumer; use cooperative receive/next_batch with a subconsumer', consumer, queue;
    when 'coop_member' then
        raise exception 'consumer % on queue % is a cooperative subconsumer; use receive_coop / next_batch (cooperative form) instead of the legacy 5-arg next_batch_custom', consumer, queue;
    else
        null;
    end case;
end
$$;

-- Whose dead letter an event of consumer_id's batch becomes: a subconsumer's
-- go to its consumer (subconsumers come and go; dead letters would vanish
-- with them), everyone else's to themselves.
create function pgque._dead_letter_owner(queue_id int4, consumer_id int4)
returns int4
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return coalesce((select m.main_id from pgque.coop_member m
                      where m.queue_id = _dead_letter_owner.queue_id
                        and m.member_id = _dead_letter_owner.consumer_id),
                    _dead_letter_owner.consumer_id);
end
$$;

-- Closes batch_id, whoever holds it: a subconsumer's batch is released (the
-- consumer's cursor moved on when the batch was handed out), a normal
-- consumer's batch is finished by PgQ. Returns 0 for an inactive batch.
create function pgque._finish_batch(batch_id bigint)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_sub record;
begin
    select s.sub_queue, s.sub_consumer,
           exists (select from pgque.coop_member m
                    where m.queue_id = s.sub_queue and m.member_id = s.sub_consumer) as is_member
      into v_sub
      from pgq.subscription s where s.sub_batch = _finish_batch.batch_id
       for update of s;
    if not found then
        return 0;
    end if;
    delete from pgque.batch_page p where p.batch_id = _finish_batch.batch_id;
    if v_sub.is_member then
        update pgq.subscription s
           set sub_active = now(), sub_last_tick = null, sub_next_tick = null, sub_batch = null
         where s.sub_queue = v_sub.sub_queue and s.sub_consumer = v_sub.sub_consumer;
        return 1;
    end if;
    return pgq.finish_batch(batch_id);
end
$$;

-- Up to max_return messages of an open batch, after the page ack()
-- acknowledged; records a page when the batch goes on. Shared by receive()
-- and receive_coop(). Sets found: false when nothing is left in the batch.
create function pgque._batch_page(batch_id bigint, max_return int)
returns setof pgque.message
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_after bigint;
    v_sent  int := 0;
    v_last  bigint;
    v_more  boolean := false;
    ev      record;
begin
    select p.acked_through into v_after from pgque.batch_page p where p.batch_id = _batch_page.batch_id;
    -- One row more than asked tells whether the batch goes on.
    for ev in execute
        'select ev_id, ev_time, ev_retry, ev_type, ev_data,'
        '       ev_extra1, ev_extra2, ev_extra3, ev_extra4'
        '  from (' || pgq.batch_event_sql(batch_id) || ') e'
        ' where $1 is null or ev_id > $1 order by ev_id limit $2'
        using v_after, max_return::bigint + 1  -- max_return may be 2147483647
    loop
        if v_sent = max_return then
            v_more := true;
            exit;
        end if;
        v_sent := v_sent + 1;
        v_last := ev.ev_id;
        return next row(ev.ev_id, batch_id, ev.ev_type, ev.ev_data, ev.ev_retry,
                        ev.ev_time, ev.ev_extra1, ev.ev_extra2, ev.ev_extra3,
                        ev.ev_extra4)::pgque.message;
    end loop;
    -- A batch page row only when a client really pages: a receive that
    -- covers the whole batch writes nothing here.
    if v_more then
        insert into pgque.batch_page as p (batch_id, delivered_through, complete)
        values (batch_id, v_last, false)
        on conflict on constraint batch_page_pkey
        do update set delivered_through = excluded.delivered_through, complete = false;
    elsif v_sent > 0 and v_after is not null then
        update pgque.batch_page p set delivered_through = v_last, complete = true
         where p.batch_id = _batch_page.batch_id;
    end if;
end
$$;

-- ---------------------------------------------------------------------------
-- Queues and consumers
-- ---------------------------------------------------------------------------

create or replace function pgque.create_queue(queue text)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if queue is null then
        raise exception 'Invalid NULL value';
    end if;
    if queue = '' then
        raise exception 'queue name must not be empty' using errcode = 'invalid_parameter_value';
    end if;
    -- Ticks notify channel 'pgque_' || queue, and a channel name must fit in
    -- an identifier (63 bytes).
    if octet_length(queue) > 57 then
        raise exception 'queue name too long: % bytes (max 57). '
            'pg_notify channel ''pgque_<queue_name>'' must fit in 63 bytes.', octet_length(queue);
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

-- PgQ's errors are upstream's: 'No such event queue', 'cannot drop queue,
-- consumers still attached'. A NULL force would skip PgQ's check.
create or replace function pgque.drop_queue(queue text, force boolean)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if force is null then
        raise exception 'force must not be null' using errcode = 'null_value_not_allowed';
    end if;
    return pgq.drop_queue(queue, force);
end
$$;

-- Sets one queue parameter; a NULL value restores the default.
create or replace function pgque.set_queue_config(queue text, param text, value text)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_queue_id int4;
    v_param    text := regexp_replace(param, '^queue_', '');
    v_int      int8;
    v_interval interval;
    v_bool     boolean;
begin
    if queue is null or param is null then
        raise exception 'Invalid NULL value';
    end if;
    select q.queue_id into v_queue_id from pgq.queue q where q.queue_name = queue;
    if not found then
        raise exception 'No such event queue';
    end if;
    -- Invalid values fail in the casts, with PostgreSQL's own errors.
    case
    when v_param in ('ticker_max_count', 'max_retries') then
        v_int := value::int4;
    when v_param in ('ticker_max_lag', 'ticker_idle_period', 'rotation_period') then
        v_interval := value::interval;
    when v_param in ('ticker_paused', 'external_ticker') then
        v_bool := value::boolean;
    else
        raise exception 'cannot change parameter "%s"', param;
    end case;

    if v_param = 'max_retries' and v_int < 0 then
        raise exception 'set_queue_config: max_retries must be >= 0, got %', v_int;
    elsif v_param = 'ticker_max_count' and v_int < 1 then
        raise exception 'set_queue_config: ticker_max_count must be > 0, got %', v_int;
    elsif v_param = 'ticker_max_lag' and v_interval < interval '0' then
        -- 0 is accepted (upstream refuses it): "tick as soon as anything waits",
        -- which pgque's client test setups use.
        raise exception 'set_queue_config: ticker_max_lag must be >= 0, got %', v_interval;
    elsif v_param in ('ticker_idle_period', 'rotation_period') and v_interval <= interval '0' then
        raise exception 'set_queue_config: % must be > 0, got %', v_param, v_interval;
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

-- PgQ's error for an unknown queue is upstream's: 'Event queue not created yet'.
create or replace function pgque.register_consumer(queue text, consumer text)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if consumer is null then
        raise exception 'consumer name must not be null' using errcode = 'null_value_not_allowed';
    end if;
    if consumer = '' then
        raise exception 'consumer name must not be empty' using errcode = 'invalid_parameter_value';
    end if;
    return pgq.register_consumer(queue, consumer);
end
$$;

create function pgque.register_consumer_at(x_queue_name text, x_consumer_name text, x_tick_pos bigint)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if x_consumer_name is null or x_consumer_name = '' then
        raise exception 'consumer name must not be empty' using errcode = 'invalid_parameter_value';
    end if;
    return pgq.register_consumer_at(x_queue_name, x_consumer_name, x_tick_pos);
end
$$;

-- Returns 0 for a consumer (or queue) that is not registered, as upstream.
-- A cooperative main consumer goes only after its subconsumers; a
-- subconsumer goes only when it holds no batch.
create or replace function pgque.unregister_consumer(queue text, consumer text)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_sub   record;
    v_count integer;
begin
    select s.sub_id, s.sub_queue, s.sub_batch into v_sub
      from pgq.subscription s
      join pgq.queue q on q.queue_id = s.sub_queue
      join pgq.consumer c on c.co_id = s.sub_consumer
     where q.queue_name = queue and c.co_name = consumer
       for update of s;
    if not found then
        return 0;
    end if;
    case pgque._coop_role(queue, consumer)
    when 'coop_main' then
        raise exception 'cannot unregister cooperative main consumer with registered subconsumers';
    when 'coop_member' then
        if v_sub.sub_batch is not null then
            raise exception 'cannot unregister active cooperative subconsumer without forced batch handling';
        end if;
    else
        delete from pgque.batch_page p where p.batch_id = v_sub.sub_batch;
    end case;
    v_count := pgq.unregister_consumer(queue, consumer);
    -- PgQ keeps the consumer row of a removed subconsumer.
    delete from pgq.consumer c
     where c.co_name = consumer
       and not exists (select from pgq.subscription s where s.sub_consumer = c.co_id);
    return v_count;
end
$$;

-- ---------------------------------------------------------------------------
-- Producing
-- ---------------------------------------------------------------------------

create or replace function pgque.send(queue_name text, type_name text, payload text)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pgque._queue_id(queue_name);
    return pgq.insert_event(queue_name, type_name, payload);
end
$$;

create function pgque.insert_event(queue_name text, ev_type text, ev_data text)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return pgque.send(queue_name, ev_type, ev_data);
end
$$;

create function pgque.insert_event(queue_name text, ev_type text, ev_data text,
                                   ev_extra1 text, ev_extra2 text, ev_extra3 text, ev_extra4 text)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pgque._queue_id(queue_name);
    return pgq.insert_event(queue_name, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4);
end
$$;

-- Ids in input order (send_batch's primitive; no grants, as upstream).
create function pgque.insert_event_bulk(queue_name text, ev_type text, ev_data_list text[])
returns bigint[]
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_ids bigint[];
begin
    perform pgque._queue_id(queue_name);
    if ev_data_list is null or cardinality(ev_data_list) = 0 then
        return '{}';
    end if;
    select array_agg(pgq.insert_event(queue_name, ev_type, p.payload) order by p.ord)
      into v_ids
      from unnest(ev_data_list) with ordinality as p(payload, ord);
    return v_ids;
end
$$;

-- The table new events of the queue go to ('Event queue not found' from PgQ).
create function pgque.current_event_table(x_queue_name text)
returns text
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return pgq.current_event_table(x_queue_name);
end
$$;

-- ---------------------------------------------------------------------------
-- Consuming
-- ---------------------------------------------------------------------------

-- Returns up to max_return messages of the consumer's current batch (opening
-- the next one when none is open), continuing after the last page ack()ed.
-- Empty batches are finished on the way, so an empty result means that
-- nothing is waiting.
create or replace function pgque.receive(queue text, consumer text, max_return int default 100)
returns setof pgque.message
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_batch bigint;
begin
    if max_return is null or max_return < 1 then
        raise exception 'pgque.receive: max_return must be >= 1, got %', coalesce(max_return::text, 'NULL');
    end if;
    perform pgque._subscription(queue, consumer);
    perform pgque._refuse_coop(queue, consumer);
    -- Bounded: an idle queue gets one tick per ticker_idle_period at most.
    for i in 1..1000 loop
        v_batch := pgq.next_batch(queue, consumer);
        if v_batch is null then
            return;
        end if;
        return query select * from pgque._batch_page(v_batch, max_return);
        if found then
            return;
        end if;
        -- Nothing (left) in this batch: close it and look at the next one.
        perform pgque._finish_batch(v_batch);
    end loop;
end
$$;

-- Acknowledges what the last receive() returned: finishes the batch, or, when
-- the batch goes on, records the page and keeps the batch open for the next
-- receive(). Returns 1, or 0 with upstream's WARNING for a batch that is not
-- active (unknown, NULL, or acknowledged already): pgque's clients rely on it.
create or replace function pgque.ack(batch_id bigint)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_page pgque.batch_page;
begin
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
    return pgque.finish_batch(batch_id);
end
$$;

-- PgQ's finish_batch: closes the whole batch, paged or not. 0 and a WARNING
-- for a batch that is not active.
create function pgque.finish_batch(x_batch_id bigint)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if pgque._finish_batch(x_batch_id) = 0 then
        raise warning 'finish_batch: batch % not found', x_batch_id;
        return 0;
    end if;
    return 1;
end
$$;

-- What nack() does with a message as it was read from the batch: retry it
-- after retry_after, or, once it has been retried max_retries times, move it
-- to pgque.dead_letter. It trusts msg (only pgque_admin may call it): the
-- workers pass what receive() gave them, so a failure costs no second read of
-- the batch. ev_txid is kept in the dead letter when the caller knows it.
create function pgque._nack_read(batch_id bigint, msg pgque.message, retry_after interval,
                                 reason text, ev_txid xid8 default null)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_sub record;
begin
    select s.sub_id, s.sub_queue, pgque._dead_letter_owner(s.sub_queue, s.sub_consumer) as sub_consumer,
           coalesce(qs.max_retries, 5) as max_retries
      into v_sub
      from pgq.subscription s left join pgque.queue_setting qs on qs.queue_id = s.sub_queue
     where s.sub_batch = _nack_read.batch_id;
    if not found then
        raise exception 'batch not found: %', batch_id;
    end if;
    if retry_after is null or retry_after < interval '0' then
        raise exception 'retry_after must be a non-negative interval, got %', coalesce(retry_after::text, 'NULL')
            using errcode = 'invalid_parameter_value';
    end if;
    if msg.msg_id is null or msg.created_at is null then
        raise exception 'msg_id and created_at of the message are required'
            using errcode = 'invalid_parameter_value';
    end if;

    if coalesce(msg.retry_count, 0) >= v_sub.max_retries then
        insert into pgque.dead_letter (dl_queue_id, dl_consumer_id, dl_reason,
                                       ev_id, ev_time, ev_txid, ev_retry, ev_type, ev_data,
                                       ev_extra1, ev_extra2, ev_extra3, ev_extra4)
        values (v_sub.sub_queue, v_sub.sub_consumer, coalesce(reason, 'max retries exceeded'),
                msg.msg_id, msg.created_at, _nack_read.ev_txid, msg.retry_count, msg.type, msg.payload,
                msg.extra1, msg.extra2, msg.extra3, msg.extra4)
        on conflict (dl_queue_id, dl_consumer_id, ev_id) do nothing;
    else
        -- What pgq.event_retry() does, without re-reading the whole batch.
        insert into pgq.retry_queue (ev_retry_after, ev_queue, ev_id, ev_time, ev_txid,
                                     ev_owner, ev_retry, ev_type, ev_data,
                                     ev_extra1, ev_extra2, ev_extra3, ev_extra4)
        values (current_timestamp + retry_after, v_sub.sub_queue, msg.msg_id, msg.created_at, null,
                v_sub.sub_id, coalesce(msg.retry_count, 0) + 1, msg.type, msg.payload,
                msg.extra1, msg.extra2, msg.extra3, msg.extra4)
        on conflict (ev_owner, ev_id) do nothing;
    end if;
    return 1;
end
$$;

-- Negative acknowledgement of one message of an active batch (see
-- _nack_read). Only msg.msg_id is read from msg; everything else comes from
-- the stored event, which costs a read of the batch: PgQ's event tables are
-- indexed by txid only.
create or replace function pgque.nack(batch_id bigint, msg pgque.message,
                                      retry_after interval default '60 seconds',
                                      reason text default null)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    ev record;
begin
    perform from pgq.subscription s where s.sub_batch = nack.batch_id;
    if not found then
        raise exception 'batch not found: %', batch_id;
    end if;

    execute 'select ev_id, ev_time, ev_txid, ev_retry, ev_type, ev_data,'
            '       ev_extra1, ev_extra2, ev_extra3, ev_extra4'
            '  from (' || pgq.batch_event_sql(batch_id) || ') e where ev_id = $1'
       into ev using msg.msg_id;
    if ev.ev_id is null then
        raise exception 'msg_id % not found in batch %', msg.msg_id, batch_id;
    end if;
    return pgque._nack_read(batch_id,
                            row(ev.ev_id, batch_id, ev.ev_type, ev.ev_data, ev.ev_retry, ev.ev_time,
                                ev.ev_extra1, ev.ev_extra2, ev.ev_extra3, ev.ev_extra4)::pgque.message,
                            retry_after, reason, ev.ev_txid::text::xid8);
end
$$;

create or replace function pgque.event_dead(batch_id bigint, event_id bigint, reason text,
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
    select s.sub_queue, pgque._dead_letter_owner(s.sub_queue, s.sub_consumer) as sub_consumer into v_sub
      from pgq.subscription s where s.sub_batch = event_dead.batch_id;
    if not found then
        raise exception 'batch not found: %', batch_id;
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

-- The low-level batch API: PgQ's functions (and errors) under pgque's names.
-- A cooperative consumer is refused: its subconsumers own its batches.
create function pgque.next_batch(i_queue_name text, i_consumer_name text)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pgque._refuse_coop(i_queue_name, i_consumer_name);
    return pgq.next_batch(i_queue_name, i_consumer_name);
end
$$;

create function pgque.next_batch_info(i_queue_name text, i_consumer_name text,
    out batch_id bigint, out cur_tick_id bigint, out prev_tick_id bigint,
    out cur_tick_time timestamptz, out prev_tick_time timestamptz,
    out cur_tick_event_seq bigint, out prev_tick_event_seq bigint)
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pgque._refuse_coop(i_queue_name, i_consumer_name);
    select * into batch_id, cur_tick_id, prev_tick_id, cur_tick_time, prev_tick_time,
                  cur_tick_event_seq, prev_tick_event_seq
      from pgq.next_batch_info(i_queue_name, i_consumer_name);
end
$$;

create function pgque.next_batch_custom(i_queue_name text, i_consumer_name text,
    i_min_lag interval, i_min_count int4, i_min_interval interval,
    out batch_id bigint, out cur_tick_id bigint, out prev_tick_id bigint,
    out cur_tick_time timestamptz, out prev_tick_time timestamptz,
    out cur_tick_event_seq bigint, out prev_tick_event_seq bigint)
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pgque._refuse_coop(i_queue_name, i_consumer_name);
    select * into batch_id, cur_tick_id, prev_tick_id, cur_tick_time, prev_tick_time,
                  cur_tick_event_seq, prev_tick_event_seq
      from pgq.next_batch_custom(i_queue_name, i_consumer_name, i_min_lag, i_min_count, i_min_interval);
end
$$;

create function pgque.get_batch_events(x_batch_id bigint,
    out ev_id bigint, out ev_time timestamptz, out ev_txid bigint, out ev_retry int4,
    out ev_type text, out ev_data text, out ev_extra1 text, out ev_extra2 text,
    out ev_extra3 text, out ev_extra4 text)
returns setof record
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return query select * from pgq.get_batch_events(x_batch_id);
end
$$;

-- Opens cursor i_cursor_name over the batch in the caller's transaction and
-- returns its first i_quick_limit events (admin only, as upstream).
create function pgque.get_batch_cursor(i_batch_id bigint, i_cursor_name text, i_quick_limit int4,
    out ev_id bigint, out ev_time timestamptz, out ev_txid bigint, out ev_retry int4,
    out ev_type text, out ev_data text, out ev_extra1 text, out ev_extra2 text,
    out ev_extra3 text, out ev_extra4 text)
returns setof record
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return query select * from pgq.get_batch_cursor(i_batch_id, i_cursor_name, i_quick_limit);
end
$$;

-- i_extra_where is SQL text: this overload runs with the caller's rights
-- (SECURITY INVOKER), never the owner's, so it serves only roles that may
-- read PgQ's event tables themselves.
create function pgque.get_batch_cursor(i_batch_id bigint, i_cursor_name text, i_quick_limit int4,
    i_extra_where text,
    out ev_id bigint, out ev_time timestamptz, out ev_txid bigint, out ev_retry int4,
    out ev_type text, out ev_data text, out ev_extra1 text, out ev_extra2 text,
    out ev_extra3 text, out ev_extra4 text)
returns setof record
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    return query select * from pgq.get_batch_cursor(i_batch_id, i_cursor_name, i_quick_limit, i_extra_where);
end
$$;

create function pgque.get_batch_info(x_batch_id bigint,
    out queue_name text, out consumer_name text, out batch_start timestamptz,
    out batch_end timestamptz, out prev_tick_id bigint, out tick_id bigint,
    out lag interval, out seq_start bigint, out seq_end bigint)
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    select * into queue_name, consumer_name, batch_start, batch_end,
                  prev_tick_id, tick_id, lag, seq_start, seq_end
      from pgq.get_batch_info(x_batch_id);
end
$$;

create function pgque.batch_event_sql(x_batch_id bigint)
returns text
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return pgq.batch_event_sql(x_batch_id);
end
$$;

create function pgque.batch_event_tables(x_batch_id bigint)
returns setof text
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return query select pgq.batch_event_tables(x_batch_id);
end
$$;

create function pgque.event_retry(x_batch_id bigint, x_event_id bigint, x_retry_time timestamptz)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return pgq.event_retry(x_batch_id, x_event_id, x_retry_time);
end
$$;

create function pgque.event_retry(x_batch_id bigint, x_event_id bigint, x_retry_seconds integer)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return pgq.event_retry(x_batch_id, x_event_id, x_retry_seconds);
end
$$;

-- Every event of the batch to the retry queue; the batch stays open until
-- finish_batch()/ack(), as in PgQ.
create function pgque.batch_retry(i_batch_id bigint, i_retry_seconds integer)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return pgq.batch_retry(i_batch_id, i_retry_seconds);
end
$$;

-- Sequences of queues only: these functions run as the extension's owner.
create function pgque._queue_sequence(seq_name text)
returns regclass
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if not exists (select from pgq.queue q
                    where seq_name in (q.queue_event_seq, q.queue_tick_seq)) then
        raise exception 'sequence % is not a queue''s event or tick sequence', seq_name
            using errcode = 'insufficient_privilege';
    end if;
    return seq_name::regclass;
end
$$;

create function pgque.seq_getval(i_seq_name text)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return pgq.seq_getval(pgque._queue_sequence(i_seq_name)::text);
end
$$;

create function pgque.seq_setval(i_seq_name text, i_new_value int8)
returns bigint
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgq.seq_setval(pgque._queue_sequence(i_seq_name)::text, i_new_value) $$;

-- ---------------------------------------------------------------------------
-- Cooperative consumers
-- ---------------------------------------------------------------------------

create function pgque._validate_coop_names(i_queue text, i_consumer text, i_subconsumer text)
returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
    if i_queue is null or i_queue = '' then
        raise exception 'queue name must not be empty';
    end if;
    if i_consumer is null or i_consumer = '' then
        raise exception 'consumer name must not be empty';
    end if;
    if i_subconsumer is null or i_subconsumer = '' then
        raise exception 'subconsumer name must not be empty';
    end if;
    if position('.' in i_consumer) > 0 then
        raise exception 'cooperative consumer name must not contain dot: %', i_consumer;
    end if;
    if position('.' in i_subconsumer) > 0 then
        raise exception 'cooperative subconsumer name must not contain dot: %', i_subconsumer;
    end if;
end
$$;

-- Registers subconsumer i_subconsumer of consumer i_consumer (registering
-- the consumer too when needed). A consumer registered the normal way
-- becomes cooperative only with i_convert_normal and no batch open. Returns
-- 1 when something was registered, 0 when all was registered already.
create function pgque.register_subconsumer(i_queue text, i_consumer text, i_subconsumer text,
                                           i_convert_normal boolean default false)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_queue_id  int4;
    v_main      record;
    v_member    record;
    v_member_id int4;
    v_name      text := i_consumer || '.' || i_subconsumer;
    v_created   integer := 0;
begin
    perform pgque._validate_coop_names(i_queue, i_consumer, i_subconsumer);
    select q.queue_id into v_queue_id from pgq.queue q where q.queue_name = i_queue;
    if not found then
        raise exception 'Event queue not created yet';
    end if;

    if pgq.register_consumer(i_queue, i_consumer) = 1 then
        v_created := 1;
    end if;
    select s.*, pgque._coop_role(i_queue, i_consumer) as role into v_main
      from pgq.subscription s join pgq.consumer c on c.co_id = s.sub_consumer
     where s.sub_queue = v_queue_id and c.co_name = i_consumer
       for update of s;
    if v_main.role = 'coop_member' then
        raise exception 'consumer % on queue % is not a cooperative main consumer', i_consumer, i_queue;
    elsif v_main.role = 'normal' and v_created = 0 then
        if not coalesce(i_convert_normal, false) then
            raise exception 'consumer % on queue % is already a normal consumer; explicit conversion is required', i_consumer, i_queue;
        end if;
        if v_main.sub_batch is not null then
            raise exception 'cannot convert active normal consumer % on queue % to cooperative main', i_consumer, i_queue;
        end if;
    end if;

    select s.* into v_member
      from pgq.subscription s join pgq.consumer c on c.co_id = s.sub_consumer
     where s.sub_queue = v_queue_id and c.co_name = v_name
       for update of s;
    if found then
        if not exists (select from pgque.coop_member m
                        where m.queue_id = v_queue_id and m.member_id = v_member.sub_consumer
                          and m.main_id = v_main.sub_consumer) then
            raise exception 'consumer name % on queue % is already registered incompatibly', v_name, i_queue;
        end if;
        update pgq.subscription s set sub_active = now()
         where s.sub_queue = v_queue_id and s.sub_consumer = v_member.sub_consumer;
        return v_created;
    end if;

    select c.co_id into v_member_id from pgq.consumer c where c.co_name = v_name;
    if not found then
        insert into pgq.consumer (co_name) values (v_name) returning co_id into v_member_id;
    end if;
    -- PgQ's convention for a subconsumer: the consumer's sub_id, no ticks
    -- while it holds no batch.
    insert into pgq.subscription (sub_id, sub_queue, sub_consumer, sub_last_tick, sub_next_tick, sub_batch)
    values (v_main.sub_id, v_queue_id, v_member_id, null, null, null);
    insert into pgque.coop_member (queue_id, member_id, main_id)
    values (v_queue_id, v_member_id, v_main.sub_consumer);
    return 1;
end
$$;

create function pgque.subscribe_subconsumer(i_queue text, i_consumer text, i_subconsumer text,
                                            i_convert_normal boolean default false)
returns integer
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgque.register_subconsumer(i_queue, i_consumer, i_subconsumer, i_convert_normal) $$;

-- Heartbeat of an idle subconsumer; returns 1, or 0 when it is not registered.
create function pgque.touch_subconsumer(i_queue text, i_consumer text, i_subconsumer text)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_count integer;
begin
    perform pgque._validate_coop_names(i_queue, i_consumer, i_subconsumer);
    update pgq.subscription s set sub_active = clock_timestamp()
      from pgq.queue q, pgq.consumer c, pgque.coop_member m
     where q.queue_name = i_queue and c.co_name = i_consumer || '.' || i_subconsumer
       and s.sub_queue = q.queue_id and s.sub_consumer = c.co_id
       and m.queue_id = s.sub_queue and m.member_id = s.sub_consumer;
    get diagnostics v_count = row_count;
    return v_count;
end
$$;

-- The subconsumer's batch: the one it holds; else, with i_dead_interval, the
-- batch of a subconsumer silent for longer than that (under a new batch id,
-- keeping its acknowledged pages); else the consumer's next batch. The
-- consumer's row is locked while a batch is handed out, so each batch goes
-- to one subconsumer. Registers the subconsumer when needed.
create function pgque.next_batch_custom(i_queue text, i_consumer text, i_subconsumer text,
    i_min_lag interval, i_min_count int4, i_min_interval interval,
    i_dead_interval interval default null,
    out batch_id bigint, out prev_tick_id bigint, out next_tick_id bigint)
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_main   record;
    v_member record;
    v_victim record;
    v_batch  record;
begin
    perform pgque.register_subconsumer(i_queue, i_consumer, i_subconsumer);
    select s.* into v_main
      from pgq.subscription s join pgq.queue q on q.queue_id = s.sub_queue
      join pgq.consumer c on c.co_id = s.sub_consumer
     where q.queue_name = i_queue and c.co_name = i_consumer
       for update of s;
    select s.* into v_member
      from pgq.subscription s join pgq.consumer c on c.co_id = s.sub_consumer
     where s.sub_queue = v_main.sub_queue and c.co_name = i_consumer || '.' || i_subconsumer
       for update of s;

    if v_member.sub_batch is not null then
        update pgq.subscription s set sub_active = now()
         where s.sub_queue = v_member.sub_queue and s.sub_consumer = v_member.sub_consumer;
        batch_id := v_member.sub_batch;
        prev_tick_id := v_member.sub_last_tick;
        next_tick_id := v_member.sub_next_tick;
        return;
    end if;

    if i_dead_interval is not null then
        select s.* into v_victim
          from pgq.subscription s join pgque.coop_member m
            on m.queue_id = s.sub_queue and m.member_id = s.sub_consumer
         where m.queue_id = v_main.sub_queue and m.main_id = v_main.sub_consumer
           and s.sub_consumer <> v_member.sub_consumer
           and s.sub_batch is not null
           and s.sub_active < now() - i_dead_interval
         order by s.sub_active, s.sub_consumer
         limit 1
           for update of s skip locked;
        if found then
            batch_id := nextval('pgq.batch_id_seq');
            update pgq.subscription s
               set sub_active = now(), sub_last_tick = null, sub_next_tick = null, sub_batch = null
             where s.sub_queue = v_victim.sub_queue and s.sub_consumer = v_victim.sub_consumer;
            update pgq.subscription s
               set sub_active = now(), sub_last_tick = v_victim.sub_last_tick,
                   sub_next_tick = v_victim.sub_next_tick, sub_batch = batch_id
             where s.sub_queue = v_member.sub_queue and s.sub_consumer = v_member.sub_consumer;
            update pgque.batch_page p set batch_id = next_batch_custom.batch_id
             where p.batch_id = v_victim.sub_batch;
            prev_tick_id := v_victim.sub_last_tick;
            next_tick_id := v_victim.sub_next_tick;
            return;
        end if;
    end if;

    if v_main.sub_batch is not null then
        raise exception 'cooperative main consumer %/% has an unexpected active batch %', i_queue, i_consumer, v_main.sub_batch;
    end if;
    -- PgQ opens the consumer's next batch; it moves to the subconsumer and
    -- the consumer's cursor moves past it.
    select * into v_batch
      from pgq.next_batch_custom(i_queue, i_consumer, i_min_lag, i_min_count, i_min_interval);
    if v_batch.batch_id is null then
        return;
    end if;
    update pgq.subscription s
       set sub_active = now(), sub_last_tick = sub_next_tick, sub_next_tick = null, sub_batch = null
     where s.sub_queue = v_main.sub_queue and s.sub_consumer = v_main.sub_consumer;
    update pgq.subscription s
       set sub_active = now(), sub_last_tick = v_batch.prev_tick_id,
           sub_next_tick = v_batch.cur_tick_id, sub_batch = v_batch.batch_id
     where s.sub_queue = v_member.sub_queue and s.sub_consumer = v_member.sub_consumer;
    batch_id := v_batch.batch_id;
    prev_tick_id := v_batch.prev_tick_id;
    next_tick_id := v_batch.cur_tick_id;
end
$$;

create function pgque.next_batch(i_queue text, i_consumer text, i_subconsumer text,
                                 i_dead_interval interval default null)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_batch bigint;
begin
    select b.batch_id into v_batch
      from pgque.next_batch_custom(i_queue, i_consumer, i_subconsumer, null, null, null, i_dead_interval) b;
    return v_batch;
end
$$;

-- Receives like receive(), for one subconsumer: the batch it holds, a dead
-- subconsumer's batch (with i_dead_interval), or the consumer's next batch.
create function pgque.receive_coop(i_queue text, i_consumer text, i_subconsumer text,
                                   i_max_return int default 100,
                                   i_dead_interval interval default null)
returns setof pgque.message
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_batch bigint;
begin
    if i_max_return is null or i_max_return < 1 then
        raise exception 'pgque.receive_coop: max_return must be >= 1, got %', coalesce(i_max_return::text, 'NULL');
    end if;
    for i in 1..1000 loop
        v_batch := pgque.next_batch(i_queue, i_consumer, i_subconsumer, i_dead_interval);
        if v_batch is null then
            return;
        end if;
        return query select * from pgque._batch_page(v_batch, i_max_return);
        if found then
            return;
        end if;
        perform pgque._finish_batch(v_batch);
    end loop;
end
$$;

-- Removes a subconsumer; returns 1, or 0 when it is not registered. Its open
-- batch is refused (i_batch_handling 0), or its events retried in 60 s (or
-- dead-lettered when out of retries) with i_batch_handling 1. The consumer
-- turns normal again with its last subconsumer.
create function pgque.unregister_subconsumer(i_queue text, i_consumer text, i_subconsumer text,
                                             i_batch_handling integer default 0)
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_member record;
    ev       record;
begin
    perform pgque._validate_coop_names(i_queue, i_consumer, i_subconsumer);
    if i_batch_handling is null or i_batch_handling not in (0, 1) then
        raise exception 'unsupported batch_handling value: %', i_batch_handling;
    end if;
    select s.*, coalesce(qs.max_retries, 5) as max_retries into v_member
      from pgq.subscription s
      join pgq.queue q on q.queue_id = s.sub_queue
      join pgq.consumer c on c.co_id = s.sub_consumer
      join pgque.coop_member m on m.queue_id = s.sub_queue and m.member_id = s.sub_consumer
      join pgq.consumer mc on mc.co_id = m.main_id
      left join pgque.queue_setting qs on qs.queue_id = s.sub_queue
     where q.queue_name = i_queue and c.co_name = i_consumer || '.' || i_subconsumer
       and mc.co_name = i_consumer
       for update of s;
    if not found then
        return 0;
    end if;
    if v_member.sub_batch is not null then
        if i_batch_handling = 0 then
            raise exception 'cannot unregister active cooperative subconsumer %/%/% without batch_handling = 1',
                i_queue, i_consumer, i_subconsumer;
        end if;
        for ev in select * from pgq.get_batch_events(v_member.sub_batch) loop
            if coalesce(ev.ev_retry, 0) >= v_member.max_retries then
                perform pgque.event_dead(v_member.sub_batch, ev.ev_id, 'subconsumer unregistered',
                                         ev.ev_time, ev.ev_txid::text::xid8, ev.ev_retry,
                                         ev.ev_type, ev.ev_data, ev.ev_extra1, ev.ev_extra2,
                                         ev.ev_extra3, ev.ev_extra4);
            else
                perform pgq.event_retry(v_member.sub_batch, ev.ev_id, 60);
            end if;
        end loop;
        perform pgque._finish_batch(v_member.sub_batch);
    end if;
    -- PgQ removes just this row (a subscription sharing its sub_id, no ticks).
    perform pgq.unregister_consumer(i_queue, i_consumer || '.' || i_subconsumer);
    delete from pgq.consumer c
     where c.co_id = v_member.sub_consumer
       and not exists (select from pgq.subscription s where s.sub_consumer = c.co_id);
    return 1;
end
$$;

create function pgque.unsubscribe_subconsumer(i_queue text, i_consumer text, i_subconsumer text,
                                              i_batch_handling integer default 0)
returns integer
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgque.unregister_subconsumer(i_queue, i_consumer, i_subconsumer, i_batch_handling) $$;

-- ---------------------------------------------------------------------------
-- Ticking
-- ---------------------------------------------------------------------------

-- The queue's id, or upstream's (PgQ's) error unless this side may tick it.
create or replace function pgque._tickable_queue_id(queue text)
returns int4
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    q record;
begin
    select pq.* into q from pgq.queue pq where pq.queue_name = queue;
    if not found then
        raise exception 'no such queue';
    end if;
    if q.queue_external_ticker then
        raise exception 'This queue has external tick source.';
    end if;
    if q.queue_ticker_paused then
        raise exception 'Ticker has been paused for this queue';
    end if;
    return q.queue_id;
end
$$;

-- Makes the next ticker(queue) call tick regardless of thresholds; returns
-- the current last tick id.
create or replace function pgque.force_next_tick(queue text)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    q record;
begin
    select pq.* into q from pgq.queue pq where pq.queue_name = queue;
    if not found then
        raise exception 'queue not found: %', queue;
    end if;
    if q.queue_ticker_paused then
        raise exception 'queue % is paused (queue_ticker_paused = true)', queue;
    end if;
    if q.queue_external_ticker then
        -- Upstream's text has an em dash; this script must stay ASCII (it
        -- installs in databases of any encoding), and LATIN1 has no em dash.
        raise exception 'queue % is configured for external ticker; force_tick is meaningless % push ticks via pgque.ticker(queue, tick_id, ts, event_seq)',
            queue, case when pg_catalog.getdatabaseencoding() = 'UTF8' then chr(8212) else '-' end;
    end if;
    insert into pgque.tick_request as r (queue_id, requested) values (q.queue_id, true)
    on conflict (queue_id) do update set requested = true where not r.requested;
    return (select t.tick_id from pgq.tick t where t.tick_queue = q.queue_id
             order by t.tick_queue desc, t.tick_id desc limit 1);
end
$$;

-- A tick pushed by an external ticker (a queue with external_ticker on):
-- tick ids strictly increasing, event sequence values never going back.
create function pgque.ticker(i_queue_name text, i_tick_id bigint, i_orig_timestamp timestamptz,
                             i_event_seq bigint)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    q      record;
    v_last record;
    v_tick bigint;
begin
    select pq.* into q from pgq.queue pq where pq.queue_name = i_queue_name;
    if not found then
        raise exception 'queue not found: %', i_queue_name;
    end if;
    if q.queue_ticker_paused then
        raise exception 'queue % is paused (queue_ticker_paused = true)', i_queue_name;
    end if;
    if not q.queue_external_ticker then
        raise exception 'queue % is not configured for external ticker '
            '(queue_external_ticker = false); use pgque.ticker(queue) instead', i_queue_name;
    end if;
    select t.tick_id, t.tick_event_seq into v_last
      from pgq.tick t where t.tick_queue = q.queue_id
     order by t.tick_queue desc, t.tick_id desc limit 1;
    if i_tick_id <= coalesce(v_last.tick_id, 0) then
        raise exception 'external ticker tick_id must be strictly greater than current max (% <= %)',
            i_tick_id, coalesce(v_last.tick_id, 0);
    end if;
    if v_last.tick_event_seq is not null and i_event_seq < v_last.tick_event_seq then
        raise exception 'external ticker event_seq must be >= previous tick (% < %)',
            i_event_seq, v_last.tick_event_seq;
    end if;
    v_tick := pgq.ticker(i_queue_name, i_tick_id, i_orig_timestamp, i_event_seq);
    if v_tick is not null then
        perform pg_notify('pgque_' || i_queue_name, v_tick::text);
    end if;
    return v_tick;
end
$$;

-- ---------------------------------------------------------------------------
-- Dead-letter queue (upstream's contract: an unknown queue has no dead letters)
-- ---------------------------------------------------------------------------

create or replace function pgque.dlq_inspect(queue text, limit_count int default 100)
returns setof pgque.dead_letter
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select d.* from pgque.dead_letter d join pgq.queue q on q.queue_id = d.dl_queue_id
     where q.queue_name = queue
     order by d.dl_time desc, d.dl_id desc
     limit limit_count
$$;

-- Puts a dead letter back for the consumer that dead-lettered it, with a
-- fresh retry budget, and deletes the dead-letter row. Returns the new event id.
create or replace function pgque.dlq_replay(dead_letter_id bigint)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    d   record;
    v_id bigint;
begin
    select dl.*, q.queue_name, s.sub_id
      into d
      from pgque.dead_letter dl
      join pgq.queue q on q.queue_id = dl.dl_queue_id
      left join pgq.subscription s on s.sub_queue = dl.dl_queue_id and s.sub_consumer = dl.dl_consumer_id
     where dl.dl_id = dead_letter_id
       for update of dl;
    if not found then
        raise exception 'dead letter entry not found: %', dead_letter_id;
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

create or replace function pgque.dlq_replay_all(queue text,
    out replayed bigint, out failed bigint, out first_error text)
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    d record;
begin
    replayed := 0;
    failed := 0;
    for d in select dl.dl_id from pgque.dead_letter dl join pgq.queue q on q.queue_id = dl.dl_queue_id
              where q.queue_name = queue order by dl.dl_id
    loop
        begin
            perform pgque.dlq_replay(d.dl_id);
            replayed := replayed + 1;
        exception when others then
            failed := failed + 1;
            first_error := coalesce(first_error, format('dl_id=%s: %s', d.dl_id, sqlerrm));
            raise warning 'dlq_replay_all: failed to replay dl_id=%, error: %', d.dl_id, sqlerrm;
        end;
    end loop;
end
$$;

create or replace function pgque.dlq_purge(queue text, older_than interval default '30 days')
returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_count int;
begin
    delete from pgque.dead_letter d
     using pgq.queue q
     where q.queue_id = d.dl_queue_id and q.queue_name = queue
       and d.dl_time < now() - older_than;
    get diagnostics v_count = row_count;
    return v_count;
end
$$;

-- ---------------------------------------------------------------------------
-- Lifecycle: pgque_worker ticks and maintains the queues, not pg_cron.
-- ---------------------------------------------------------------------------

-- One row per component: postgresql, pgque, engine, scheduler (who ticks
-- this database, or why nobody does), queues, consumers.
create function pgque.status()
returns table (component text, status text, detail text)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    w record;
begin
    return query select 'postgresql'::text, 'info'::text, pg_catalog.version();
    return query select 'pgque'::text, 'info'::text, pgque.version();
    return query select 'engine'::text, 'info'::text, 'pgque_pgq on PgQ ' || pgq.version();
    if not exists (select from pg_catalog.pg_extension e where e.extname = 'pgque_worker') then
        return query select 'scheduler'::text, 'manual'::text,
            'extension pgque_worker is not installed in this database: call pgque.ticker(), '
            'pgque.maint_retry_events() and pgque.maint() from a scheduler'::text;
    else
        -- The view exists only with pgque_worker: dynamic SQL.
        execute 'select state, ticks, last_tick, last_error from pgque_worker.workers'
                ' where database = pg_catalog.current_database()'
           into w;
        if pgque.ticker_stopped() then
            return query select 'scheduler'::text, 'stopped'::text,
                'pgque.stop() was called: pgque_worker neither ticks nor maintains this database; '
                'pgque.start() resumes'::text;
        elsif w is null then
            return query select 'scheduler'::text, 'not served'::text,
                'pgque_worker is installed but no worker serves this database: check '
                'shared_preload_libraries and pgque_worker.databases'::text;
        elsif w.state not in ('running', 'starting') then
            -- refused, pgque_worker.serve_database off, waiting for a slot...
            return query select 'scheduler'::text, 'not served'::text,
                format('the worker of this database is %s%s', w.state,
                       coalesce(': ' || w.last_error, ''));
        else
            return query select 'scheduler'::text, 'pgque_worker'::text,
                format('worker state=%s, ticks=%s, last_tick=%s%s', w.state, w.ticks,
                       coalesce(w.last_tick::text, 'never'),
                       coalesce(', last_error=' || w.last_error, ''));
        end if;
    end if;
    return query select 'queues'::text, 'info'::text,
        (select count(*) from pgq.queue)::text || ' queues configured';
    return query select 'consumers'::text, 'info'::text,
        (select count(*) from pgq.subscription)::text || ' active subscriptions';
end
$$;

-- start()/stop(): whether pgque_worker ticks and maintains this database.
-- Upstream's start()/stop() schedule and unschedule pg_cron jobs; here the
-- pgque_worker background worker of the database reads this flag (through
-- ticker_stopped()) at every pgque_worker.tick_interval. pg_cron is not
-- involved. ticker(), maint() and friends called by hand work either way.
create table pgque.ticker_control (
    singleton boolean primary key default true check (singleton),
    stopped   boolean not null
);
select pg_catalog.pg_extension_config_dump('pgque.ticker_control', '');

create function pgque.ticker_stopped()
returns boolean
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return coalesce((select c.stopped from pgque.ticker_control c), false);
end
$$;

-- Ticking and maintenance by pgque_worker on again (the default). Error when
-- pgque_worker is not installed: nothing would tick.
create function pgque.start()
returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if not exists (select from pg_catalog.pg_extension e where e.extname = 'pgque_worker') then
        raise exception 'pgque_worker extension is not installed. Install it (shared_preload_libraries = ''pgque_worker'', '
            'CREATE EXTENSION pgque_worker) or call pgque.ticker(), pgque.maint_retry_events() and pgque.maint() from a scheduler.';
    end if;
    insert into pgque.ticker_control as c (singleton, stopped) values (true, false)
    on conflict (singleton) do update set stopped = false where c.stopped;
end
$$;

-- pgque_worker stops ticking and maintaining this database (its in-process
-- consumers go on with what was ticked) until start().
create function pgque.stop()
returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into pgque.ticker_control as c (singleton, stopped) values (true, true)
    on conflict (singleton) do update set stopped = true where not c.stopped;
end
$$;

-- ---------------------------------------------------------------------------
-- Upstream's tables under upstream's names, as views over PgQ's (pgque's own
-- clients' tests and admin scripts read them). Read-only, except what an
-- admin may do upstream without handing out the owner's rights: change a
-- queue's settings (through set_queue_config()), delay or drop retries,
-- drop subscriptions.
-- ---------------------------------------------------------------------------
create view pgque.queue as
select q.*,
       (select s.max_retries from pgque.queue_setting s where s.queue_id = q.queue_id) as queue_max_retries
  from pgq.queue q;
create view pgque.consumer as select * from pgq.consumer;
create view pgque.tick as select * from pgq.tick;
create view pgque.retry_queue as select * from pgq.retry_queue;
create view pgque.subscription as
select s.*,
       case when exists (select from pgque.coop_member m
                          where m.queue_id = s.sub_queue and m.main_id = s.sub_consumer) then 'coop_main'
            when exists (select from pgque.coop_member m
                          where m.queue_id = s.sub_queue and m.member_id = s.sub_consumer) then 'coop_member'
            else 'normal'
       end as sub_role
  from pgq.subscription s;

-- UPDATE pgque.queue: only the settings set_queue_config() knows, through it
-- (queue_data_pfx and friends feed the owner's dynamic SQL: never writable).
create function pgque._queue_view_update()
returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_param text;
begin
    if (new.queue_id, new.queue_name, new.queue_ntables, new.queue_cur_table, new.queue_switch_step1,
        new.queue_switch_step2, new.queue_switch_time, new.queue_disable_insert, new.queue_per_tx_limit,
        new.queue_data_pfx, new.queue_event_seq, new.queue_tick_seq, new.queue_extra_maint)
       is distinct from
       (old.queue_id, old.queue_name, old.queue_ntables, old.queue_cur_table, old.queue_switch_step1,
        old.queue_switch_step2, old.queue_switch_time, old.queue_disable_insert, old.queue_per_tx_limit,
        old.queue_data_pfx, old.queue_event_seq, old.queue_tick_seq, old.queue_extra_maint) then
        raise exception 'only queue settings may be changed through pgque.queue'
            using errcode = 'insufficient_privilege',
                  hint = 'Use pgque.set_queue_config(queue, param, value).';
    end if;
    foreach v_param in array array['ticker_max_count', 'ticker_max_lag', 'ticker_idle_period',
                                   'ticker_paused', 'rotation_period', 'external_ticker', 'max_retries']
    loop
        if to_jsonb(new) -> ('queue_' || v_param) is distinct from to_jsonb(old) -> ('queue_' || v_param) then
            perform pgque.set_queue_config(old.queue_name, v_param, to_jsonb(new) ->> ('queue_' || v_param));
        end if;
    end loop;
    return new;
end
$$;
create trigger queue_update instead of update on pgque.queue
    for each row execute function pgque._queue_view_update();

-- ---------------------------------------------------------------------------
-- Privileges of the functions above (upstream's split)
-- ---------------------------------------------------------------------------
revoke all on all functions in schema pgque from public;
revoke all on table pgque.coop_member, pgque.ticker_control from public;
grant execute on function
    pgque.insert_event(text, text, text), pgque.insert_event(text, text, text, text, text, text, text)
    to pgque_writer;
grant execute on function
    pgque.register_consumer_at(text, text, bigint),
    pgque.next_batch(text, text), pgque.next_batch_info(text, text),
    pgque.next_batch_custom(text, text, interval, int4, interval),
    pgque.get_batch_events(bigint), pgque.get_batch_info(bigint), pgque.finish_batch(bigint),
    pgque.event_retry(bigint, bigint, timestamptz), pgque.event_retry(bigint, bigint, integer),
    pgque.register_subconsumer(text, text, text, boolean),
    pgque.subscribe_subconsumer(text, text, text, boolean),
    pgque.touch_subconsumer(text, text, text),
    pgque.next_batch_custom(text, text, text, interval, int4, interval, interval),
    pgque.next_batch(text, text, text, interval),
    pgque.receive_coop(text, text, text, int, interval),
    pgque.unregister_subconsumer(text, text, text, integer),
    pgque.unsubscribe_subconsumer(text, text, text, integer),
    pgque.ticker_stopped()
    to pgque_reader;
-- Functions 0.1.0 had, replaced above: their grants as before, in the same
-- order (a fresh install must equal an updated one, ACLs included).
grant execute on function
    pgque.send(text, text, text), pgque.dlq_replay(bigint), pgque.dlq_replay_all(text)
    to pgque_writer;
grant execute on function
    pgque.receive(text, text, int), pgque.ack(bigint),
    pgque.nack(bigint, pgque.message, interval, text),
    pgque.register_consumer(text, text), pgque.unregister_consumer(text, text),
    pgque.dlq_inspect(text, int)
    to pgque_reader;
grant execute on all functions in schema pgque to pgque_admin;
grant select on pgque.coop_member, pgque.ticker_control to pgque_admin;
revoke all on pgque.queue, pgque.consumer, pgque.tick, pgque.retry_queue, pgque.subscription from public;
grant select on pgque.queue, pgque.consumer, pgque.tick, pgque.retry_queue, pgque.subscription
    to pgque_reader, pgque_admin;
grant update on pgque.queue to pgque_admin;
grant update, delete on pgque.retry_queue to pgque_admin;
grant delete on pgque.subscription to pgque_admin;
-- ===========================================================================
-- End of the parity section (issue #13).
-- ===========================================================================





-- ---------------------------------------------------------------------------
-- Queue lifecycle and configuration
-- ---------------------------------------------------------------------------



create function pgque.drop_queue(queue text)
returns integer
language sql security definer
set search_path = pg_catalog, pg_temp
as $$ select pgque.drop_queue(queue, false) $$;


-- ---------------------------------------------------------------------------
-- Consumers
-- ---------------------------------------------------------------------------



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


create function pgque.send(queue_name text, type_name text, payload jsonb)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return pgque.send(queue_name, type_name, payload::text);
end
$$;

create function pgque.send(queue_name text, payload text)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return pgque.send(queue_name, 'default', payload);
end
$$;

create function pgque.send(queue_name text, payload jsonb)
returns bigint
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return pgque.send(queue_name, 'default', payload::text);
end
$$;

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
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return pgque.send_batch(queue_name, type_name, payloads::text[]);
end
$$;

create function pgque.send_batch(queue_name text, payloads text[])
returns bigint[]
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return pgque.send_batch(queue_name, 'default', payloads);
end
$$;

create function pgque.send_batch(queue_name text, payloads jsonb[])
returns bigint[]
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return pgque.send_batch(queue_name, 'default', payloads::text[]);
end
$$;

-- ---------------------------------------------------------------------------
-- Consuming
-- ---------------------------------------------------------------------------





-- ---------------------------------------------------------------------------
-- Ticking and maintenance
-- ---------------------------------------------------------------------------


-- Ticks queue when force_next_tick() asked for it, on the first call after
-- create_queue(), or when PgQ's thresholds (ticker_max_count,
-- ticker_max_lag, ticker_idle_period) say so; returns the new tick id or NULL. Every tick notifies channel 'pgque_' || queue with
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
    -- Also the first call after create_queue() ticks, as upstream's (PgQ's
    -- idle-period rule finds no earlier tick there; here the queue's first
    -- event counts, see create_queue()).
    if found or (select count(*) from (select from pgq.tick t where t.tick_queue = v_queue_id
                                        order by t.tick_queue, t.tick_id limit 2) first_ticks) = 1 then
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
            -- queue_extra_maint hooks, and the londiste/pgq_node operations
            -- PgQ adds whenever a function of that name exists in a schema
            -- of that name: this function runs as a superuser, so it calls
            -- one only when the function and its schema belong to a
            -- superuser (a role with CREATE on the database could otherwise
            -- create schema londiste and have its code run as one).
            if not exists (select from pg_catalog.pg_proc p
                             join pg_catalog.pg_namespace n on n.oid = p.pronamespace
                             join pg_catalog.pg_roles fo on fo.oid = p.proowner
                             join pg_catalog.pg_roles so on so.oid = n.nspowner
                            where p.oid = pg_catalog.to_regprocedure(op.func_name || '(text)')
                              and fo.rolsuper and so.rolsuper) then
                raise warning 'pgque.maint: skipping maintenance operation %: it is not a function of a superuser taking text',
                    op.func_name;
                continue;
            end if;
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

-- PgQ's get_queue_info(), as one query: PgQ's loops over the queues and
-- reads each event sequence with dynamic SQL (33 ms for 1,000 queues, 70 us
-- for one; this: 8 ms and 22 us), and the workers read it on every pass.
-- The same rows and values (regress 05 compares them); a sequence never
-- used yet is read PgQ's way (pg_sequence_last_value says NULL for it).
create view pgque._queue_info as
select q.queue_name, q.queue_ntables, q.queue_cur_table, q.queue_rotation_period, q.queue_switch_time,
       q.queue_external_ticker, q.queue_ticker_paused, q.queue_ticker_max_count, q.queue_ticker_max_lag,
       q.queue_ticker_idle_period,
       pg_catalog.now() - top.tick_time as ticker_lag,
       (case when ht.tick_time < top.tick_time
             then (top.tick_event_seq - ht.tick_event_seq)
                  / extract(epoch from top.tick_time - ht.tick_time)
        end)::pg_catalog.float8 as ev_per_sec,
       coalesce(pg_catalog.pg_sequence_last_value(pg_catalog.to_regclass(pg_catalog.format('%I.%I',
                    pg_catalog.split_part(q.queue_event_seq, '.', 1),
                    pg_catalog.substr(q.queue_event_seq, pg_catalog.strpos(q.queue_event_seq, '.') + 1)))),
                pgq.seq_getval(q.queue_event_seq)) - top.tick_event_seq as ev_new,
       top.tick_id as last_tick_id
  from pgq.queue q
  left join lateral (select t.tick_id, t.tick_time, t.tick_event_seq from pgq.tick t
                      where t.tick_queue = q.queue_id
                      order by t.tick_queue desc, t.tick_id desc limit 1) top on true
  -- The oldest of the last 21 ticks, for the rate.
  left join lateral (select t.tick_time, t.tick_event_seq from pgq.tick t
                      where t.tick_queue = q.queue_id and t.tick_id >= top.tick_id - 20
                      order by t.tick_queue asc, t.tick_id asc limit 1) ht on true;
revoke all on pgque._queue_info from public;

create function pgque.get_queue_info(
    out queue_name text, out queue_ntables integer, out queue_cur_table integer,
    out queue_rotation_period interval, out queue_switch_time timestamptz,
    out queue_external_ticker boolean, out queue_ticker_paused boolean,
    out queue_ticker_max_count integer, out queue_ticker_max_lag interval,
    out queue_ticker_idle_period interval, out ticker_lag interval,
    out ev_per_sec float8, out ev_new bigint, out last_tick_id bigint)
returns setof record
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return query select * from pgque._queue_info i order by i.queue_name;
end
$$;

create function pgque.get_queue_info(queue text,
    out queue_name text, out queue_ntables integer, out queue_cur_table integer,
    out queue_rotation_period interval, out queue_switch_time timestamptz,
    out queue_external_ticker boolean, out queue_ticker_paused boolean,
    out queue_ticker_max_count integer, out queue_ticker_max_lag interval,
    out queue_ticker_idle_period interval, out ticker_lag interval,
    out ev_per_sec float8, out ev_new bigint, out last_tick_id bigint)
returns setof record
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    -- NULL: every queue, as PgQ's get_queue_info(NULL) (and upstream
    -- pgque's). Two statements: one with an OR would plan a scan of every
    -- queue for one (the workers use generic plans).
    if queue is null then
        return query select * from pgque._queue_info i order by i.queue_name;
    end if;
    return query select * from pgque._queue_info i where i.queue_name = get_queue_info.queue;
end
$$;

create function pgque.get_consumer_info(queue text, consumer text,
    out queue_name text, out consumer_name text, out lag interval,
    out last_seen interval, out last_tick bigint, out current_batch bigint,
    out next_tick bigint, out pending_events bigint)
returns setof record
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return query select * from pgq.get_consumer_info(queue, consumer);
end
$$;

create function pgque.get_consumer_info(queue text,
    out queue_name text, out consumer_name text, out lag interval,
    out last_seen interval, out last_tick bigint, out current_batch bigint,
    out next_tick bigint, out pending_events bigint)
returns setof record
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return query select * from pgq.get_consumer_info(queue, null);
end
$$;

create function pgque.get_consumer_info(
    out queue_name text, out consumer_name text, out lag interval,
    out last_seen interval, out last_tick bigint, out current_batch bigint,
    out next_tick bigint, out pending_events bigint)
returns setof record
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    return query select * from pgq.get_consumer_info(null, null);
end
$$;

create function pgque.version()
returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select '0.2.0' $$;

-- ---------------------------------------------------------------------------
-- Dead-letter queue
-- ---------------------------------------------------------------------------





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
