#include "pgque_worker/dispatch/sql_dispatch.hpp"

#include <map>
#include <set>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/core/route_table.hpp"
#include "pgque_worker/core/slice_budget.hpp"
#include "pgque_worker/core/utf8.hpp"
#include "pgque_worker/dispatch/engine_calls.hpp"
#include "pgque_worker/pg/cursor.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/pg/restricted_call.hpp"

extern "C" {
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
}

namespace pgque::dispatch {

namespace {

// Columns of the batch cursor: the message for the handler, then what C++
// needs of it (cast, so that an engine's own column types cannot change how
// they are read).
constexpr const char *kSelectList =
    "m, (m).type::pg_catalog.text, (m).msg_id::pg_catalog.int8, (m).batch_id::pg_catalog.int8";
constexpr int kMessage = 1, kType = 2, kMsgId = 3, kBatchId = 4;

struct SliceRow {
    SPITupleTable *table;
    uint64 index;
};

// One batch in flight: what stays the same from slice to slice.
class SqlBatch {
public:
    SqlBatch(pg::Transaction &tx, const ConsumerConfig &config, core::PoisonJournal &journal, BatchOutcome &out)
        : tx_(tx), config_(config), journal_(journal), out_(out), routes_(config.EventTypes())
    {
        pg::Call([&] {
            batch_context_ = CurrentMemoryContext;
            slice_context_ = AllocSetContextCreate(batch_context_, "pgque_worker slice", ALLOCSET_DEFAULT_SIZES);
            handlers_ = static_cast<pg::PreparedHandler *>(
                palloc0(sizeof(pg::PreparedHandler) * (config.routes.size() + 1)));
        });
    }

    // Handles rows; the first slice starts the batch (and tells whether it
    // is a replay).
    void Slice(const std::vector<SliceRow> &rows);
    // Frees what the handler calls of the slice allocated.
    void EndSlice() { pg::Call([&] { MemoryContextReset(slice_context_); }); }
    // After the last slice: ack (if there was a batch at all).
    void Finish();

private:
    // Calls the handlers of rows [first, last) (the unrouted ones skipped).
    void CallRange(const std::vector<SliceRow> &rows, const std::vector<int> &route, size_t first, size_t last);
    std::string MessageText(const SliceRow &row);
    void Fail(const SliceRow &row, const std::string &msg_id, const std::string &error);

    pg::Transaction &tx_;
    const ConsumerConfig &config_;
    core::PoisonJournal &journal_;
    BatchOutcome &out_;
    core::RouteTable routes_;
    MemoryContext batch_context_ = nullptr;  // prepared handlers: for the whole batch
    MemoryContext slice_context_ = nullptr;  // handler calls: reset after each slice
    pg::PreparedHandler *handlers_ = nullptr;
    std::set<std::string> unhandled_types_;
    std::string batch_id_;
    bool replay_ = false;
    size_t calling_ = 0;  // the row whose handler CallRange is calling
    std::map<std::string, std::string> nacked_;  // this slice's failures: msg_id -> error
};

// The message's text form, read back as a pgque.message by the nack and the
// dead letter. Its created_at is written in DateStyle ISO (a numeric UTC
// offset): the SQL and Postgres styles name the zone by an abbreviation,
// which input reads by timezone_abbreviations (Asia/Kolkata's IST would come
// back as Israel's, 3.5 hours off).
std::string SqlBatch::MessageText(const SliceRow &row)
{
    char *text = nullptr;
    pg::Call([&] {
        MemoryContext old = MemoryContextSwitchTo(slice_context_);
        const int nest_level = NewGUCNestLevel();
        (void) set_config_option("datestyle", "ISO", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
        text = SPI_getvalue(row.table->vals[row.index], row.table->tupdesc, kMessage);
        AtEOXact_GUC(true, nest_level);
        MemoryContextSwitchTo(old);
    });
    return text ? text : "";
}

void SqlBatch::CallRange(const std::vector<SliceRow> &rows, const std::vector<int> &route, size_t first, size_t last)
{
    const Route *routes = config_.routes.data();
    try {
        pg::Call([&] {
            MemoryContext old = MemoryContextSwitchTo(slice_context_);
            // One restricted run per stretch of messages whose routes share
            // an owner.
            // Handlers are looked up and checked as the worker, before any run.
            for (size_t i = first; i < last; i++)
                if (route[i] != core::RouteTable::kNoRoute)
                    pg::PrepareHandler(handlers_[route[i]], routes[route[i]].handler, routes[route[i]].owner,
                                       batch_context_);
            pg::RestrictedRun run;
            Oid run_owner = InvalidOid;
            for (size_t i = first; i < last; i++) {
                if (route[i] == core::RouteTable::kNoRoute)
                    continue;
                bool isnull;
                Datum message =
                    SPI_getbinval(rows[i].table->vals[rows[i].index], rows[i].table->tupdesc, kMessage, &isnull);
                const Route &r = routes[route[i]];
                pg::PreparedHandler &h = handlers_[route[i]];
                if (run_owner != r.owner) {
                    if (OidIsValid(run_owner))
                        pg::LeaveRestricted(run);
                    pg::EnterRestricted(run, r.owner);
                    run_owner = r.owner;
                }
                calling_ = i;
                pg::CallHandler(h, r.timeout_ms, message, isnull);
            }
            if (OidIsValid(run_owner))
                pg::LeaveRestricted(run);
            MemoryContextSwitchTo(old);
        });
    } catch (...) {
        // The subtransaction's abort unwinds the rest; not these.
        pg::Call([] { pg::ReleaseHandlerLocks(); });
        throw;
    }
}

// A handler failed: nack the message with the error text (nack dead-letters
// it instead once its retries are spent; counted per slice).
void SqlBatch::Fail(const SliceRow &row, const std::string &msg_id, const std::string &error)
{
    out_.failed++;
    out_.last_error = error;
    Nack(tx_, config_, batch_id_, MessageFromText(msg_id, MessageText(row)), config_.retry_after, error);
    nacked_[msg_id] = error;
}

void SqlBatch::Slice(const std::vector<SliceRow> &rows)
{
    const size_t n = rows.size();
    std::vector<std::string> msg_ids(n);
    std::vector<int> route(n);
    // Read as Datums: the ids are bigints, and the type's text is used in
    // place (no output function per row).
    char **types = nullptr;
    int64 *ids = nullptr;
    pg::Call([&] {
        MemoryContext old = MemoryContextSwitchTo(slice_context_);
        types = static_cast<char **>(palloc0(sizeof(char *) * (n + 1)));
        ids = static_cast<int64 *>(palloc0(sizeof(int64) * (2 * n + 1)));
        for (size_t i = 0; i < n; i++) {
            HeapTuple tuple = rows[i].table->vals[rows[i].index];
            TupleDesc desc = rows[i].table->tupdesc;
            bool isnull;
            Datum type = SPI_getbinval(tuple, desc, kType, &isnull);
            types[i] = isnull ? nullptr : TextDatumGetCString(type);
            Datum msg_id = SPI_getbinval(tuple, desc, kMsgId, &isnull);
            ids[2 * i] = isnull ? 0 : DatumGetInt64(msg_id);
            Datum batch_id = SPI_getbinval(tuple, desc, kBatchId, &isnull);
            ids[2 * i + 1] = isnull ? 0 : DatumGetInt64(batch_id);
        }
        MemoryContextSwitchTo(old);
    });
    long routed = 0;
    for (size_t i = 0; i < n; i++) {
        const char *type = types[i];
        msg_ids[i] = std::to_string(ids[2 * i]);
        route[i] = routes_.RouteFor(type ? std::optional<std::string>(type) : std::nullopt);
        if (route[i] == core::RouteTable::kNoRoute) {
            out_.unhandled++;
            NoteUnhandled(out_, unhandled_types_, type ? std::optional<std::string>(type) : std::nullopt);
        } else {
            routed++;
        }
    }
    if (batch_id_.empty()) {
        batch_id_ = std::to_string(ids[1]);  // the same in every row
        replay_ = journal_.BeginBatch(std::stoll(msg_ids[0]));
        out_.replayed = replay_;
    }

    // A handler cancelled (pg_cancel_backend) or out of time in the fast
    // path: that message fails (retried after retry_after, per the retry
    // rules) instead of being called again at once below.
    std::optional<pg::Error> cancelled;
    size_t cancelled_row = n;
    if (!replay_) {
        const std::int64_t started_us = pg::NowUs();
        std::optional<pg::Error> failure = tx_.Subtransaction([&] { CallRange(rows, route, 0, n); });
        out_.handler_us += pg::NowUs() - started_us;
        if (!failure) {
            out_.processed += routed;
            return;
        }
        if (failure->sqlstate() == ERRCODE_QUERY_CANCELED) {
            cancelled = failure;
            cancelled_row = calling_;
        }
    }
    // One subtransaction per message: after a failure in the fast path, and
    // for a replay, where each message is marked in the journal first.
    const int limit = config::PoisonCrashLimit();
    for (size_t i = 0; i < n; i++) {
        if (route[i] == core::RouteTable::kNoRoute)
            continue;
        if (replay_) {
            const std::int64_t id = std::stoll(msg_ids[i]);
            journal_.MarkInFlight(id);
            if (int deaths = journal_.DeathsOf(id); deaths >= limit) {
                std::string reason = CrashReason(deaths);
                DeadLetter(tx_, batch_id_, MessageFromText(msg_ids[i], MessageText(rows[i])), reason);
                out_.failed++;
                out_.dead_lettered++;
                out_.last_error = reason;
                out_.dead_letters.push_back("message " + msg_ids[i] + ": " + reason);
                continue;
            }
        }
        const std::int64_t started_us = pg::NowUs();
        std::optional<pg::Error> error =
            i == cancelled_row ? cancelled : tx_.Subtransaction([&] { CallRange(rows, route, i, i + 1); });
        out_.handler_us += pg::NowUs() - started_us;
        if (error)
            Fail(rows[i], msg_ids[i], error->what());
        else
            out_.processed++;
    }
    NoteSpentRetries(tx_, out_, nacked_);
    nacked_.clear();
}

void SqlBatch::Finish()
{
    if (!batch_id_.empty())
        Ack(tx_, config_, batch_id_);
    pg::Call([&] { MemoryContextDelete(slice_context_); });
}

}  // namespace

std::string CrashReason(int deaths)
{
    return "crashed the consumer worker " + std::to_string(deaths) + (deaths == 1 ? " time" : " times");
}

BatchOutcome DispatchSqlBatch(pg::Transaction &tx, const ConsumerConfig &config, core::PoisonJournal &journal)
{
    BatchOutcome out;
    SqlBatch batch(tx, config, journal, out);
    pg::Cursor cursor = OpenBatch(tx, config, kSelectList);
    core::SliceBudget budget(config.max_messages, config::MaxBatchBytes());
    for (bool more = true; more;) {
        std::vector<SPITupleTable *> tables;
        std::vector<SliceRow> rows;
        while (!budget.Full()) {
            const long want = budget.NextFetch();
            SPITupleTable *table = FetchBatch(config, cursor, want);
            if (!table) {
                more = false;
                break;
            }
            tables.push_back(table);
            for (uint64 i = 0; i < table->numvals; i++) {
                rows.push_back({table, i});
                budget.Add(pg::RowBytes(table, i));
                out.bytes += pg::RowBytes(table, i);
            }
            budget.Fetched(static_cast<long>(table->numvals));
            if (static_cast<long>(table->numvals) < want) {
                more = false;
                break;
            }
        }
        if (!rows.empty()) {
            out.messages += static_cast<long>(rows.size());
            pg::CursorShield shield(cursor);  // handlers cannot reach the batch
            batch.Slice(rows);
        }
        for (SPITupleTable *table : tables)
            pg::FreeRows(table);
        batch.EndSlice();
        budget.NextSlice();
    }
    cursor.Close();
    batch.Finish();
    return out;
}

}  // namespace pgque::dispatch
