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

MessageAsRead MessageFromText(const std::string &msg_id, const std::string &text) { return {msg_id, {text}}; }

MessageAsRead MessageFromFields(std::vector<pg::Value> fields)
{
    std::string msg_id = fields.empty() ? "" : fields[0].value_or("");
    return {msg_id, std::move(fields)};
}

namespace {

// SQL for the pgque.message whose values are parameters $first...
std::string MessageSql(const MessageAsRead &m, int first)
{
    auto p = [first](int i) { return "$" + std::to_string(first + i); };
    if (m.values.size() == 1)
        return p(0) + "::pgque.message";
    return "ROW(" + p(0) + "::bigint, NULL::bigint, " + p(3) + ", " + p(4) + ", " + p(2) + "::integer, " + p(1) +
           "::timestamp with time zone, " + p(5) + ", " + p(6) + ", " + p(7) + ", " + p(8) + ")::pgque.message";
}

std::vector<pg::Value> WithMessage(std::vector<pg::Value> args, const MessageAsRead &m)
{
    args.insert(args.end(), m.values.begin(), m.values.end());
    return args;
}

}  // namespace

void Nack(pg::Transaction &tx, const ConsumerConfig &config, const std::string &batch_id,
          const MessageAsRead &message, const std::string &delay, const std::string &reason)
{
    if (config.engine_nacks_as_read) {
        // Every argument typed: the call resolves to exactly the function
        // LoadConsumerConfig found to be pgque_pgq's.
        tx.Query("SELECT pgque._nack_read($1::bigint, " + MessageSql(message, 4) +
                     ", $3::interval, $2::pg_catalog.text, NULL::pg_catalog.xid8)",
                 WithMessage({batch_id, reason, delay}, message));
        return;
    }
    pg::AsRole as_owner(config.owner);
    tx.Query("SELECT pgque.nack($1::bigint, $2::pgque.message, $3::interval, $4)",
             {batch_id, "(" + message.msg_id + "," + batch_id + ",,,,,,,,)", delay, reason});
}

void DeadLetter(pg::Transaction &tx, const std::string &batch_id, const MessageAsRead &message,
                const std::string &reason)
{
    tx.Query("SELECT pgque.event_dead($1::bigint, (m).msg_id, $2, (m).created_at, NULL, (m).retry_count,"
             "                        (m).type, (m).payload, (m).extra1, (m).extra2, (m).extra3, (m).extra4)"
             "  FROM (SELECT " + MessageSql(message, 3) + " AS m) s",
             WithMessage({batch_id, reason}, message));
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
