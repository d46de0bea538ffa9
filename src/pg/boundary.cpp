// The two crossings between PostgreSQL's longjmp errors and C++ exceptions
// (see guard.hpp and entry.hpp).
#include <exception>
#include <new>
#include <string>

#include "pgque_worker/core/error_report.hpp"
#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/error.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"

namespace pgque::pg {

namespace {
// One report is enough: a backend raises one error at a time, and the report
// must outlive every C++ frame of the failed call.
core::ErrorReport stashed_report;
}  // namespace

void ThrowCaughtError(MemoryContext caller_context)
{
    MemoryContextSwitchTo(caller_context);
    ErrorData *edata = CopyErrorData();
    FlushErrorState();

    int sqlstate = edata->sqlerrcode;
    std::string message = edata->message ? edata->message : "unknown PostgreSQL error";
    std::string detail = edata->detail ? edata->detail : "";
    std::string hint = edata->hint ? edata->hint : "";
    FreeErrorData(edata);
    throw Error(sqlstate, std::move(message), std::move(detail), std::move(hint));
}

void StashCurrentException() noexcept
{
    try {
        throw;
    } catch (const Error &e) {
        stashed_report.Set(e.sqlstate(), e.what(), e.detail(), e.hint());
    } catch (const std::bad_alloc &) {
        stashed_report.Set(ERRCODE_OUT_OF_MEMORY, "out of memory in pgque_worker");
    } catch (const std::exception &e) {
        stashed_report.Set(ERRCODE_INTERNAL_ERROR, e.what());
    } catch (...) {
        stashed_report.Set(ERRCODE_INTERNAL_ERROR, "unknown C++ exception in pgque_worker");
    }
}

void RaiseStashedException()
{
    const core::ErrorReport &r = stashed_report;
    ereport(ERROR,
            (errcode(r.sqlstate != 0 ? r.sqlstate : ERRCODE_INTERNAL_ERROR),
             errmsg_internal("%s", r.message),
             r.HasDetail() ? errdetail_internal("%s", r.detail) : 0,
             r.HasHint() ? errhint("%s", r.hint) : 0));
    pg_unreachable();
}

}  // namespace pgque::pg
