#include "pgque_worker/dispatch/engine_calls.hpp"

#include "pgque_worker/pg/session.hpp"

namespace pgque::dispatch {

namespace {

// pgque's clients pass 2147483647 for "the whole batch"; pgque_pgq and
// upstream pgque both take it.
std::string ReceiveSql(const std::string &select_list)
{
    return "SELECT " + select_list + " FROM pgque.receive($1, $2, 2147483647) m";
}

}  // namespace

pg::Cursor OpenBatch(pg::Transaction &tx, const ConsumerConfig &config, const std::string &select_list)
{
    pg::AsRole as_owner(config.owner);
    return pg::Cursor::Open(tx, ReceiveSql(select_list), {config.queue, config.consumer});
}

pg::Cursor OpenHeldBatch(pg::Transaction &tx, const ConsumerConfig &config, const char *name,
                         const std::string &select_list)
{
    pg::AsRole as_owner(config.owner);
    return pg::Cursor::OpenHeld(tx, name, ReceiveSql(select_list), {config.queue, config.consumer});
}

SPITupleTable *FetchBatch(const ConsumerConfig &config, pg::Cursor &cursor, long count)
{
    pg::AsRole as_owner(config.owner);  // receive() runs at the first fetch
    return cursor.Fetch(count);
}

void Nack(pg::Transaction &tx, const ConsumerConfig &config, const std::string &batch_id,
          const std::string &message, const std::string &delay, const std::string &reason)
{
    pg::AsRole as_owner(config.owner);
    tx.Query("SELECT pgque.nack($1::bigint, $2::pgque.message, $3::interval, $4)",
             {batch_id, message, delay, reason});
}

void DeadLetter(pg::Transaction &tx, const std::string &batch_id, const std::string &message,
                const std::string &reason)
{
    tx.Query("SELECT pgque.event_dead($1::bigint, (m).msg_id, $3, (m).created_at, NULL, (m).retry_count,"
             "                        (m).type, (m).payload, (m).extra1, (m).extra2, (m).extra3, (m).extra4)"
             "  FROM (SELECT $2::pgque.message AS m) s",
             {batch_id, message, reason});
}

void DeadLetterFields(pg::Transaction &tx, const std::string &batch_id, const std::vector<pg::Value> &fields,
                      const std::string &reason)
{
    std::vector<pg::Value> args = {batch_id, reason};
    args.insert(args.end(), fields.begin(), fields.end());
    tx.Query("SELECT pgque.event_dead($1::bigint, $3::bigint, $2, $4::timestamp with time zone, NULL, $5::integer,"
             "                        $6, $7, $8, $9, $10, $11)",
             args);
}

std::string MessageOfId(const std::string &batch_id, const std::string &msg_id)
{
    return "(" + msg_id + "," + batch_id + ",,,,,,,,)";
}

void Ack(pg::Transaction &tx, const ConsumerConfig &config, const std::string &batch_id)
{
    pg::AsRole as_owner(config.owner);
    tx.Query("SELECT pgque.ack($1::bigint)", {batch_id});
}

std::vector<std::string> DeadLetteredNow(pg::Transaction &tx, const std::vector<std::string> &event_ids)
{
    if (event_ids.empty())
        return {};
    std::string ids = "{";
    for (size_t i = 0; i < event_ids.size(); i++)
        ids += (i ? "," : "") + event_ids[i];
    ids += "}";
    std::vector<std::string> out;
    for (const pg::Row &row : tx.Query("SELECT ev_id FROM pgque.dead_letter"
                                       " WHERE dl_time = pg_catalog.now() AND ev_id = ANY ($1::bigint[])",
                                       {ids}))
        out.push_back(row[0].value_or(""));
    return out;
}

}  // namespace pgque::dispatch
