#include "pgque_worker/pg/session.hpp"

#include "pgque_worker/core/utf8.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"

extern "C" {
#include "mb/pg_wchar.h"
#include "utils/guc.h"
#include "utils/syscache.h"
}

namespace pgque::pg {

void PinWorkerSession()
{
    Call([] {
        SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);
        SetConfigOption("max_parallel_workers_per_gather", "0", PGC_SUSET, PGC_S_SESSION);
    });
}

void UseGenericPlans()
{
    Call([] { SetConfigOption("plan_cache_mode", "force_generic_plan", PGC_SUSET, PGC_S_SESSION); });
}

// GetUserIdAndSecContext and SetUserIdAndSecContext only read and assign
// globals: they cannot raise an error.
AsRole::AsRole(unsigned int role)
{
    Oid user;
    GetUserIdAndSecContext(&user, &saved_context_);
    saved_user_ = user;
    SetUserIdAndSecContext(role, saved_context_ | SECURITY_LOCAL_USERID_CHANGE);
}

AsRole::~AsRole() { SetUserIdAndSecContext(saved_user_, saved_context_); }

std::string ForDatabase(const std::string &utf8)
{
    int encoding = GetDatabaseEncoding();
    return encoding == PG_UTF8 || encoding == PG_SQL_ASCII ? utf8 : core::AsciiEscaped(utf8);
}

bool RoleExists(unsigned int role)
{
    return Call([&] { return SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)); });
}

}  // namespace pgque::pg
