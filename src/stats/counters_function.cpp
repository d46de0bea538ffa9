// pgque_worker._consumer_counters(): this database's per-consumer counters
// from shared memory, behind views pgque_worker.consumers and
// pgque_worker.consumer_metrics. last_error can quote a response body or
// data: it is shown to members of the consumer's owner only, here and not
// only in the views, since anyone may call the function.
#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/stats/consumer_counters.hpp"

extern "C" {
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(pgque_worker_consumer_counters);
PG_FUNCTION_INFO_V1(pgque_worker_counter_evictions);
}

namespace {

using pgque::stats::ConsumerCounterRow;
using pgque::stats::ConsumerCounts;

constexpr int kColumns = 19;

Datum TimestampOrNull(TimestampTz t, bool &isnull)
{
    isnull = t == 0;
    return TimestampTzGetDatum(t);
}

// PostgreSQL code (call inside pg::Call): one tuple of the result.
void PutRow(ReturnSetInfo *rsinfo, const ConsumerCounterRow &row)
{
    const ConsumerCounts &c = row.counts;
    Datum values[kColumns];
    bool nulls[kColumns] = {};
    int i = 0;
    values[i++] = Int32GetDatum(row.consumer_id);
    const std::int64_t totals[] = {c.batches, c.messages, c.processed, c.failed,
                                   c.retried, c.dead_lettered, c.unhandled};
    for (std::int64_t n : totals)
        values[i++] = Int64GetDatum(n);
    values[i++] = Float8GetDatum(static_cast<double>(c.batch_us) / 1e6);
    values[i++] = Float8GetDatum(static_cast<double>(c.handler_us) / 1e6);
    for (int k = 0; k < pgque::stats::kHttpClasses; k++)
        values[i++] = Int64GetDatum(c.http[k]);
    values[i] = TimestampOrNull(row.since, nulls[i]);
    i++;
    values[i] = TimestampOrNull(row.last_batch_at, nulls[i]);
    i++;
    const bool may_read_error = row.last_error[0] != '\0' && is_member_of_role(GetUserId(), row.owner);
    values[i] = may_read_error ? CStringGetTextDatum(row.last_error) : (Datum) 0;
    nulls[i] = !may_read_error;
    i++;
    values[i] = TimestampOrNull(row.last_error_at, nulls[i]);
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

}  // namespace

extern "C" Datum pgque_worker_consumer_counters(PG_FUNCTION_ARGS)
{
    return pgque::pg::Entry([&]() -> Datum {
        std::vector<ConsumerCounterRow> rows = pgque::stats::Snapshot();
        pgque::pg::Call([&] {
            InitMaterializedSRF(fcinfo, 0);
            ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
            for (size_t r = 0; r < rows.size(); r++)
                PutRow(rsinfo, rows[r]);
        });
        return (Datum) 0;
    });
}

// Consumers whose counters were evicted since server start
// (pgque_worker.max_tracked_consumers was too small).
extern "C" Datum pgque_worker_counter_evictions(PG_FUNCTION_ARGS)
{
    (void) fcinfo;
    return pgque::pg::Entry([]() -> Datum { return Int64GetDatum(pgque::stats::Evictions()); });
}
