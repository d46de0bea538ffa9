-- pgque_pgq 0.1.0 -> 0.2.0
--
-- * receive(): max_return may be 2147483647 (pgque's clients use it as
--   "everything"); 0.1.0 overflowed computing max_return + 1.
-- * event_dead(): upstream pgque's function to dead-letter one event of an
--   active batch at once (pgque_admin only).
-- * pgque_admin loses TRIGGER, REFERENCES and TRUNCATE on pgque.dead_letter:
--   a trigger there ran as the owner of the SECURITY DEFINER functions that
--   write it, a superuser.
-- * version() says 0.2.0.

\echo Use "ALTER EXTENSION pgque_pgq UPDATE TO '0.2.0'" to load this file. \quit

create or replace function pgque.receive(queue text, consumer text, max_return int default 100)
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

revoke all on function pgque.event_dead(bigint, bigint, text, timestamptz, xid8, int4, text, text,
                                       text, text, text, text) from public;
grant execute on function pgque.event_dead(bigint, bigint, text, timestamptz, xid8, int4, text, text,
                                           text, text, text, text) to pgque_admin;

create or replace function pgque.version()
returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select '0.2.0' $$;

revoke trigger, references, truncate on pgque.dead_letter from pgque_admin;

-- issue 12 (restore): a forced tick checks, as pgq.ticker() does, that it does
-- not go back in transaction ids.
-- Ticks queue when force_next_tick() asked for it, or when PgQ's thresholds
-- (ticker_max_count, ticker_max_lag, ticker_idle_period) say so; returns the
-- new tick id or NULL. Every tick notifies channel 'pgque_' || queue with
-- the tick id.
create or replace function pgque.ticker(queue text)
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
