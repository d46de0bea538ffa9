#include "pgque_worker/dispatch/sql_dispatch.hpp"

#include <set>

#include "pgque_worker/core/route_table.hpp"
#include "pgque_worker/dispatch/engine_calls.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/pg/restricted_call.hpp"

extern "C" {
#include "executor/spi.h"
}

namespace pgque::dispatch {

BatchOutcome DispatchSqlBatch(pg::Transaction &tx, const ConsumerConfig &config)
{
    BatchOutcome out;
    SPITupleTable *batch = ReceiveBatch(tx, config, "m, (m).type, (m).msg_id, (m).batch_id");
    const long n = batch ? static_cast<long>(batch->numvals) : 0;
    out.messages = n;
    if (n == 0)
        return out;

    // Copy what C++ needs (types and ids) out of the tuples; the composites
    // stay in SPI memory for the handler calls (and are rendered as text
    // only for a nack).
    constexpr int kCols = 3;
    char **cells = nullptr;
    pg::Call([&] {
        cells = static_cast<char **>(palloc0(sizeof(char *) * n * kCols));
        for (long i = 0; i < n; i++)
            for (int c = 0; c < kCols; c++)
                cells[i * kCols + c] = SPI_getvalue(batch->vals[i], batch->tupdesc, c + 2);
    });
    std::vector<std::string> event_types;
    for (const Route &r : config.routes)
        event_types.push_back(r.event_type);
    core::RouteTable table(event_types);
    std::vector<int> route(n);
    std::set<std::string> unhandled_types;
    for (long i = 0; i < n; i++) {
        const char *type = cells[i * kCols];
        route[i] = table.RouteFor(type ? std::optional<std::string>(type) : std::nullopt);
        if (route[i] == core::RouteTable::kNoRoute) {
            out.unhandled++;
            unhandled_types.insert(type ? type : "(null)");
        }
    }
    out.unhandled_types.assign(unhandled_types.begin(), unhandled_types.end());
    const std::string batch_id = cells[2] ? cells[2] : "";  // the same in every row
    const Route *routes = config.routes.data();
    const int *route_of = route.data();
    pg::PreparedHandler *handlers = nullptr;
    MemoryContext batch_context = nullptr;
    pg::Call([&] {
        batch_context = CurrentMemoryContext;
        handlers = static_cast<pg::PreparedHandler *>(
            palloc0(sizeof(pg::PreparedHandler) * (config.routes.size() + 1)));
    });

    // Calls the handlers of messages [first, last) (PostgreSQL code only).
    auto call_range = [&](long first, long last) {
        pg::Call([&] {
            for (long i = first; i < last; i++) {
                if (route_of[i] == core::RouteTable::kNoRoute)
                    continue;
                bool isnull;
                Datum message = SPI_getbinval(batch->vals[i], batch->tupdesc, 1, &isnull);
                const Route &r = routes[route_of[i]];
                pg::PreparedHandler &h = handlers[route_of[i]];
                pg::PrepareHandler(h, r.handler, r.owner, batch_context);
                pg::CallRestricted(h, r.owner, r.timeout_ms, message, isnull);
            }
        });
    };

    std::optional<pg::Error> failure = tx.Subtransaction([&] { call_range(0, n); });
    if (!failure) {
        out.processed = n - out.unhandled;
    } else {
        std::vector<std::string> failed_ids;
        for (long i = 0; i < n; i++) {
            if (route[i] == core::RouteTable::kNoRoute)
                continue;
            std::optional<pg::Error> error = tx.Subtransaction([&] { call_range(i, i + 1); });
            if (!error) {
                out.processed++;
                continue;
            }
            out.failed++;
            out.last_error = error->what();
            failed_ids.push_back(cells[i * kCols + 1]);
            char *message_text = nullptr;
            pg::Call([&] { message_text = SPI_getvalue(batch->vals[i], batch->tupdesc, 1); });
            Nack(tx, config, batch_id, message_text, config.retry_after, out.last_error);
        }
        // nack() dead-letters instead of retrying once max_retries is spent.
        out.dead_lettered = CountDeadLettered(tx, failed_ids);
    }
    Ack(tx, config, batch_id);
    return out;
}


void RecordBatchStats(pg::Transaction &tx, const ConsumerConfig &config, const BatchOutcome &out)
{
    tx.Query(
        "INSERT INTO pgque_worker.consumer_stats AS s"
        "  (consumer_id, processed, failed, retried, dead_lettered, unhandled, batches,"
        "   last_batch_at, last_error, last_error_at)"
        " VALUES ($1::int, $2::bigint, $3::bigint, $4::bigint, $5::bigint, $6::bigint, 1,"
        "         pg_catalog.now(), $7, CASE WHEN $7 IS NULL THEN NULL ELSE pg_catalog.now() END)"
        " ON CONFLICT (consumer_id) DO UPDATE SET"
        "   processed = s.processed + excluded.processed, failed = s.failed + excluded.failed,"
        "   retried = s.retried + excluded.retried,"
        "   dead_lettered = s.dead_lettered + excluded.dead_lettered,"
        "   unhandled = s.unhandled + excluded.unhandled, batches = s.batches + 1,"
        "   last_batch_at = excluded.last_batch_at,"
        "   last_error = coalesce(excluded.last_error, s.last_error),"
        "   last_error_at = coalesce(excluded.last_error_at, s.last_error_at)",
        {std::to_string(config.id), std::to_string(out.processed), std::to_string(out.failed),
         std::to_string(out.failed - out.dead_lettered), std::to_string(out.dead_lettered),
         std::to_string(out.unhandled), out.last_error.empty() ? pg::Value() : pg::Value(out.last_error)});
}

}  // namespace pgque::dispatch
