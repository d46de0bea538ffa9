#include "pgque_worker/dispatch/engine_calls.hpp"

#include "pgque_worker/pg/session.hpp"

namespace pgque::dispatch {

namespace {

std::string ReceiveSql(const std::string &select_list)
{
    return "SELECT " + select_list + " FROM pgque.receive($1, $2, $3::int) m";
}

std::vector<pg::Value> ReceiveArgs(const ConsumerConfig &config)
{
    return {config.queue, config.consumer, std::to_string(config.max_messages)};
}

}  // namespace

SPITupleTable *ReceiveBatch(pg::Transaction &tx, const ConsumerConfig &config,
                            const std::string &select_list)
{
    pg::AsRole as_owner(config.owner);
    return tx.Execute(ReceiveSql(select_list), ReceiveArgs(config));
}

std::vector<pg::Row> ReceiveBatchRows(pg::Transaction &tx, const ConsumerConfig &config,
                                      const std::string &select_list)
{
    pg::AsRole as_owner(config.owner);
    return tx.Query(ReceiveSql(select_list), ReceiveArgs(config));
}

void Nack(pg::Transaction &tx, const ConsumerConfig &config, const std::string &batch_id,
          const std::string &message, const std::string &delay, const std::string &reason)
{
    pg::AsRole as_owner(config.owner);
    tx.Query("SELECT pgque.nack($1::bigint, $2::pgque.message, $3::interval, $4)",
             {batch_id, message, delay, reason});
}

void Ack(pg::Transaction &tx, const ConsumerConfig &config, const std::string &batch_id)
{
    pg::AsRole as_owner(config.owner);
    tx.Query("SELECT pgque.ack($1::bigint)", {batch_id});
}

long CountDeadLettered(pg::Transaction &tx, const std::vector<std::string> &event_ids)
{
    if (event_ids.empty())
        return 0;
    std::string ids = "{";
    for (size_t i = 0; i < event_ids.size(); i++)
        ids += (i ? "," : "") + event_ids[i];
    ids += "}";
    return std::stol(tx.QueryValue(
        "SELECT pg_catalog.count(*) FROM pgque.dead_letter"
        " WHERE dl_time = pg_catalog.now() AND ev_id = ANY ($1::bigint[])",
        {ids}).value_or("0"));
}

}  // namespace pgque::dispatch
