#include "pgque_worker/pg/plan_cache.hpp"

#include <unordered_map>

#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
}

namespace pgque::pg {

namespace {

// Worker-local: one process, one database. The plans themselves live in
// PostgreSQL's plan cache; this only finds them again.
std::unordered_map<std::string, SPIPlanPtr> &KeptPlans()
{
    static std::unordered_map<std::string, SPIPlanPtr> plans;
    return plans;
}

}  // namespace

SPIPlanPtr KeptPlan(const std::string &sql, int nargs, int cursor_options)
{
    // Parameter count and cursor options are part of what was planned.
    std::string key = std::to_string(nargs) + ':' + std::to_string(cursor_options) + ':' + sql;
    auto &plans = KeptPlans();
    if (auto found = plans.find(key); found != plans.end())
        return found->second;
    if (plans.size() >= kMaxKeptPlans)
        return nullptr;
    // An error (a function that is not there yet) leaves nothing behind:
    // the next call prepares again.
    SPIPlanPtr plan = Call([&]() -> SPIPlanPtr {
        Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * (nargs + 1)));
        for (int i = 0; i < nargs; i++)
            types[i] = TEXTOID;
        SPIPlanPtr prepared = SPI_prepare_cursor(sql.c_str(), nargs, types, cursor_options);
        if (!prepared)
            elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
        if (SPI_keepplan(prepared) != 0)
            elog(ERROR, "SPI_keepplan failed");
        pfree(types);
        return prepared;
    });
    plans.emplace(std::move(key), plan);
    return plan;
}

}  // namespace pgque::pg
