#include "pgque_worker/dispatch/consumer_config.hpp"

#include "pgque_worker/pg/postgres.hpp"

namespace pgque::dispatch {

void LimitLockWait(pg::Transaction &tx) { tx.SetLockTimeout("1s"); }

std::optional<ConsumerConfig> LoadConsumerConfig(pg::Transaction &tx, int id)
{
    const std::string key = std::to_string(id);
    LimitLockWait(tx);
    auto rows = tx.Query(
        "SELECT c.queue, c.consumer, c.max_messages, c.retry_after::pg_catalog.text,"
        "       (extract(epoch FROM c.poll_interval) * 1000)::bigint, c.enabled,"
        "       extract(epoch FROM c.retry_after)::double precision,"
        "       (SELECT o.oid FROM pg_catalog.pg_roles o WHERE o.rolname = c.owner),"
        "       pgque_worker._stop_reason(c), c.created::pg_catalog.text,"
        // The workers call pgque._nack_read with their own privileges: only
        // pgque_pgq's own (a member of the extension), never a function of
        // that name someone else put in schema pgque (upstream pgque has none).
        "       EXISTS (SELECT FROM pg_catalog.pg_depend d"
        "                 JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid"
        "                WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass"
        "                  AND d.objid = pg_catalog.to_regprocedure("
        "                          'pgque._nack_read(bigint,pgque.message,interval,text,xid8)')"
        "                  AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass"
        "                  AND d.deptype = 'e' AND e.extname = 'pgque_pgq')"
        "  FROM pgque_worker.consumer c WHERE c.id = $1::int",
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
    c.retry_after_seconds = std::stod(rows[0][6].value_or("60"));
    c.owner = static_cast<unsigned int>(std::stoul(rows[0][7].value_or("0")));
    c.stop_reason = rows[0][8];
    c.created = rows[0][9].value_or("");
    c.engine_nacks_as_read = rows[0][10] && *rows[0][10] == "t";
    for (const pg::Row &r : tx.Query(
             "SELECT r.event_type, r.kind, a.oid, a.rolsuper,"
             "       coalesce((extract(epoch FROM r.timeout) * 1000)::bigint, 0),"
             "       pg_catalog.to_regprocedure(r.handler)::pg_catalog.oid, r.url, s.secret,"
             "       (SELECT pg_catalog.string_agg(h.key || ': ' || (h.value #>> '{}'), E'\\n')"
             "          FROM pg_catalog.jsonb_each(s.headers) h),"
             "       s.consumer_id IS NULL AND (k.signed OR k.header_names <> '{}')"
             "  FROM pgque_worker.route r"
             // A route's credentials are its own owner's: a secret left by
             // another role is never sent for this one (it counts as one the
             // worker cannot read, so the route is not sent unsigned either).
             "  LEFT JOIN pgque_worker.route_secret s ON s.consumer_id = r.consumer_id"
             "        AND s.event_type = r.event_type AND s.owner = r.owner"
             "  LEFT JOIN pg_catalog.pg_roles a ON a.rolname = r.owner"
             "  CROSS JOIN LATERAL pgque_worker._route_credentials(r.consumer_id, r.event_type) k"
             " WHERE r.consumer_id = $1::int ORDER BY r.event_type",
             {key})) {
        Route route;
        route.event_type = r[0].value_or("");
        if (r[9] && *r[9] == "t")
            throw pg::Error(ERRCODE_INSUFFICIENT_PRIVILEGE,
                            "cannot read the signing secret or headers of the route for event type \"" +
                                route.event_type + "\" of consumer \"" + c.consumer +
                                "\": its messages are not sent",
                            "", "The route's secret and headers must belong to the route's owner, and "
                            "pgque_worker.role must be a superuser or have BYPASSRLS to read them.");
        route.kind = r[1].value_or("sql");
        route.owner = static_cast<unsigned int>(std::stoul(r[2].value_or("0")));
        route.owner_is_superuser = r[3] && *r[3] == "t";
        route.timeout_ms = std::stol(r[4].value_or("0"));
        route.handler = r[5] ? static_cast<unsigned int>(std::stoul(*r[5])) : 0;
        route.url = r[6].value_or("");
        route.secret = r[7];
        if (r[8]) {
            size_t start = 0;
            while (start <= r[8]->size()) {
                size_t end = r[8]->find('\n', start);
                route.headers.push_back(r[8]->substr(start, end == std::string::npos ? std::string::npos : end - start));
                if (end == std::string::npos)
                    break;
                start = end + 1;
            }
        }
        c.routes.push_back(route);
    }
    return c;
}

}  // namespace pgque::dispatch
