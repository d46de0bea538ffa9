#include "pgque_worker/dispatch/consumer_config.hpp"

namespace pgque::dispatch {

std::optional<ConsumerConfig> LoadConsumerConfig(pg::Transaction &tx, int id)
{
    const std::string key = std::to_string(id);
    auto rows = tx.Query(
        "SELECT queue, consumer, max_messages, retry_after::text,"
        "       (extract(epoch FROM poll_interval) * 1000)::bigint, enabled"
        "  FROM pgque_worker.consumer WHERE id = $1::int",
        {key});
    if (rows.empty())
        return std::nullopt;
    ConsumerConfig c;
    c.id = id;
    c.queue = rows[0][0].value_or("");
    c.consumer = rows[0][1].value_or("");
    c.max_messages = std::stoi(rows[0][2].value_or("100"));
    c.retry_after = rows[0][3].value_or("60 seconds");
    c.poll_ms = std::stol(rows[0][4].value_or("30000"));
    c.enabled = rows[0][5] && *rows[0][5] == "t";
    for (const pg::Row &r : tx.Query(
             "SELECT event_type, handler::oid, owner::oid,"
             "       coalesce((extract(epoch FROM timeout) * 1000)::bigint, 0)"
             "  FROM pgque_worker.route WHERE consumer_id = $1::int AND kind = 'sql'"
             " ORDER BY event_type",
             {key})) {
        SqlRoute route;
        route.event_type = r[0].value_or("");
        route.handler = static_cast<unsigned int>(std::stoul(r[1].value_or("0")));
        route.owner = static_cast<unsigned int>(std::stoul(r[2].value_or("0")));
        route.timeout_ms = std::stol(r[3].value_or("0"));
        c.routes.push_back(route);
    }
    return c;
}

}  // namespace pgque::dispatch
