#include "pgque_worker/pg/spi.hpp"

#include "pgque_worker/pg/cursor.hpp"

#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/plan_cache.hpp"
#include "pgque_worker/pg/postgres.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace pgque::pg {

Transaction::Transaction(const char *activity, Isolation isolation)
{
    Call([&] {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        if (isolation == Isolation::RepeatableRead)
            XactIsoLevel = XACT_REPEATABLE_READ;  // before the first snapshot
        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "SPI_connect failed");
        PushActiveSnapshot(GetTransactionSnapshot());
        pgstat_report_activity(STATE_RUNNING, activity);
    });
    open_ = true;
}

Transaction::~Transaction()
{
    if (open_)
        Abort();
}

void Transaction::Abort() noexcept
{
    open_ = false;
    try {
        Call([] {
            AbortCurrentTransaction();
            pgstat_report_activity(STATE_IDLE, nullptr);
        });
    } catch (...) {
        // Nothing more can be done here; the next transaction starts clean
        // or reports its own error.
    }
}

void Transaction::Commit()
{
    Call([] {
        SPI_finish();
        PopActiveSnapshot();
        CommitTransactionCommand();
        pgstat_report_activity(STATE_IDLE, nullptr);
    });
    open_ = false;
}

std::optional<Error> Transaction::Subtransaction(const std::function<void()> &body)
{
    MemoryContext context = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    auto restore = [&] {
        MemoryContextSwitchTo(context);
        CurrentResourceOwner = owner;
    };
    Call([] { BeginInternalSubTransaction(nullptr); });
    try {
        body();
    } catch (const Error &e) {
        Call([&] {
            RollbackAndReleaseCurrentSubTransaction();
            restore();
        });
        return e;
    } catch (...) {
        Call([&] {
            RollbackAndReleaseCurrentSubTransaction();
            restore();
        });
        throw;
    }
    Call([&] {
        ReleaseCurrentSubTransaction();
        restore();
    });
    return std::nullopt;
}

std::vector<const char *> ArgTexts(const std::vector<Value> &args)
{
    std::vector<const char *> texts(args.size());
    for (size_t i = 0; i < args.size(); i++)
        texts[i] = args[i] ? args[i]->c_str() : nullptr;
    return texts;
}

SpiArgs ToSpiArgs(const std::vector<const char *> &texts)
{
    static_assert(sizeof(Datum) == sizeof(unsigned long) && sizeof(Oid) == sizeof(unsigned int));
    SpiArgs a{static_cast<int>(texts.size()), nullptr, nullptr, nullptr};
    a.types = static_cast<unsigned int *>(palloc(sizeof(Oid) * (a.n + 1)));
    a.values = static_cast<unsigned long *>(palloc(sizeof(Datum) * (a.n + 1)));
    a.nulls = static_cast<char *>(palloc(a.n + 1));
    for (int i = 0; i < a.n; i++) {
        a.types[i] = TEXTOID;
        a.values[i] = texts[i] ? CStringGetTextDatum(texts[i]) : (Datum) 0;
        a.nulls[i] = texts[i] ? ' ' : 'n';
    }
    return a;
}

SPITupleTable *Transaction::Execute(const std::string &sql, const std::vector<Value> &args)
{
    std::vector<const char *> texts = ArgTexts(args);
    SPIPlanPtr plan = KeptPlan(sql, static_cast<int>(texts.size()), 0);
    return Call([&]() -> SPITupleTable * {
        SpiArgs a = ToSpiArgs(texts);
        int rc = plan ? SPI_execute_plan(plan, a.values, a.nulls, false, 0)
                      : SPI_execute_with_args(sql.c_str(), a.n, a.types, a.values, a.nulls, false, 0);
        if (rc < 0)
            elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
        return SPI_tuptable;
    });
}

std::vector<Row> Transaction::Query(const std::string &sql, const std::vector<Value> &args)
{
    return RowsAsText(Execute(sql, args));
}

Value Transaction::QueryValue(const std::string &sql, const std::vector<Value> &args)
{
    std::vector<Row> rows = Query(sql, args);
    if (rows.empty() || rows[0].empty())
        return std::nullopt;
    return rows[0][0];
}

void Transaction::SetLockTimeout(const char *timeout)
{
    // SET LOCAL without a statement: this runs on every tick pass.
    Call([&] {
        (void) set_config_option("lock_timeout", timeout, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true,
                                 0, false);
    });
}

bool IsLockTimeout(const Error &e) { return e.sqlstate() == ERRCODE_LOCK_NOT_AVAILABLE; }

long long NowUs() { return GetCurrentTimestamp(); }

}  // namespace pgque::pg
