// The session settings every pgque_worker process runs its own SQL under,
// and running engine calls as another role.
#pragma once

#include <string>

namespace pgque::pg {

// After the worker connected: search_path = pg_catalog, pg_temp and no
// parallel plans, set at session level, which outranks ALTER DATABASE/ROLE
// ... SET (applied at connection). Nothing the workers run can leave a
// session-level change behind: handlers run in a GUC nest level
// (restricted_call.hpp). PgQ's event tables are never analyzed, so the
// planner works blind; a parallel plan for a batch read is never worth it.
void PinWorkerSession();
// For a session that runs only the engine's functions (the database worker,
// no handler code): PL/pgSQL statements use their generic plan from the
// first call. The engine's lookups are keyed by queue and consumer, so the
// generic plan is the custom one, without planning it again on every call
// (a third of the database worker's time at 1,500 events/s).
void UseGenericPlans();

// While alive, SQL runs as role (user id switched locally, as SECURITY
// DEFINER functions do): pgque's own grants decide what it may do.
class AsRole {
public:
    explicit AsRole(unsigned int role);
    ~AsRole();
    AsRole(const AsRole &) = delete;
    AsRole &operator=(const AsRole &) = delete;

private:
    unsigned int saved_user_;
    int saved_context_;
};

// Text from outside (valid UTF-8) as this database can store it: unchanged
// in UTF8 and SQL_ASCII databases; in any other encoding every non-ASCII
// character as \uXXXX, so that it is valid there and dumps and restores.
std::string ForDatabase(const std::string &utf8);

// Whether role exists.
bool RoleExists(unsigned int role);

}  // namespace pgque::pg
