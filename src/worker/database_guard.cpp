#include "pgque_worker/worker/database_guard.hpp"

#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/worker/shared_state.hpp"
#include "pgque_worker/worker/slot_table.hpp"

#include <csignal>

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "utils/acl.h"
#include "utils/syscache.h"
#include "commands/defrem.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "tcop/utility.h"
#include "utils/timestamp.h"
}

namespace pgque::worker {

namespace {

ProcessUtility_hook_type prev_process_utility = nullptr;
constexpr long kStopWaitMs = 10000;
constexpr long kStopGraceMs = 5000;

// Whether any slot of `database` (its worker's or a consumer's) still has a
// process.
bool AnyProcessOf(Oid database)
{
    SharedState *shared = Shared();
    bool any = false;
    LWLockAcquire(shared->lock, LW_SHARED);
    for (int i = 0; i < shared->slot_count && !any; i++) {
        any = (shared->slots[i].database == database && LifeOf(SlotKind::Database, i).pid != 0) ||
              (shared->consumers[i].database == database && LifeOf(SlotKind::Consumer, i).pid != 0);
    }
    LWLockRelease(shared->lock);
    return any;
}

// Sends SIGTERM to every process of `database` that did not obey its stop.
void TerminateProcessesOf(Oid database)
{
    SharedState *shared = Shared();
    LWLockAcquire(shared->lock, LW_SHARED);
    for (int i = 0; i < shared->slot_count; i++) {
        for (SlotKind kind : {SlotKind::Database, SlotKind::Consumer}) {
            Oid of = kind == SlotKind::Database ? shared->slots[i].database : shared->consumers[i].database;
            pid_t pid = of == database ? LifeOf(kind, i).pid : 0;
            if (pid != 0)
                kill(pid, SIGTERM);
        }
    }
    LWLockRelease(shared->lock);
}

// Stops the database worker of `database` (held: restarted after
// kStopHoldMs if the database is still there) and frees its consumers'
// slots, then waits for their processes to exit. Each exits at its next
// check, at LOG; one stuck in a long call gets SIGTERM after kStopGraceMs.
void StopWorkersOf(Oid database)
{
    SharedState *shared = Shared();
    if (!shared)
        return;
    char *name = get_database_name(database);
    const TimestampTz now = GetCurrentTimestamp();
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    int index = -1;
    for (int i = 0; i < shared->slot_count && index < 0; i++)
        if (shared->slots[i].database == database)
            index = i;
    // No slot yet (the launcher may be about to start one from a scan of
    // pg_database older than this statement): take one, so that the hold
    // below keeps the launcher away.
    for (int i = 0; i < shared->slot_count && index < 0 && name; i++)
        if (AssignDatabaseSlotLocked(i, database, name, now))
            index = i;
    if (index >= 0) {
        DatabaseSlot &slot = shared->slots[index];
        SpinLockAcquire(&slot.mutex);
        slot.stop_requested_at = now;
        SpinLockRelease(&slot.mutex);
        (void) StopSlotLocked(SlotKind::Database, index, core::StopCause::Hold, now);
    }
    (void) ReleaseConsumersOfLocked(database, now);
    LWLockRelease(shared->lock);

    for (long waited = 0; waited < kStopWaitMs && AnyProcessOf(database); waited += 10) {
        if (waited == kStopGraceMs)
            TerminateProcessesOf(database);
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

const char *TemplateOf(CreatedbStmt *stmt)
{
    ListCell *lc;
    foreach (lc, stmt->options) {
        DefElem *option = static_cast<DefElem *>(lfirst(lc));
        if (strcmp(option->defname, "template") == 0 && option->arg)
            return defGetString(option);
    }
    return nullptr;
}

// The guard stops a database's workers only for a statement that passes
// PostgreSQL's own checks of privilege and context: otherwise any role could
// keep a database's dispatch down with statements bound to fail. (PostgreSQL
// checks these after the hook runs; the hook checks them first.)

bool CallerOwns(Oid database) { return pg_database_ownercheck(database, GetUserId()); }

bool CallerMayCreateDatabases()
{
    if (superuser())
        return true;
    HeapTuple tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(GetUserId()));
    if (!HeapTupleIsValid(tuple))
        return false;
    bool createdb = reinterpret_cast<Form_pg_authid>(GETSTRUCT(tuple))->rolcreatedb;
    ReleaseSysCache(tuple);
    return createdb;
}

bool IsTemplate(Oid database)
{
    HeapTuple tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(database));
    if (!HeapTupleIsValid(tuple))
        return false;
    bool is_template = reinterpret_cast<Form_pg_database>(GETSTRUCT(tuple))->datistemplate;
    ReleaseSysCache(tuple);
    return is_template;
}

// The database whose workers `tree` must stop first, or InvalidOid.
Oid DatabaseToStop(Node *tree, bool top_level)
{
    // DROP DATABASE and CREATE DATABASE refuse to run in a transaction block.
    const bool may_run_here = top_level && !IsTransactionBlock();
    if (IsA(tree, DropdbStmt)) {
        Oid db = get_database_oid(castNode(DropdbStmt, tree)->dbname, true);
        return may_run_here && OidIsValid(db) && db != MyDatabaseId && CallerOwns(db) ? db : InvalidOid;
    }
    if (IsA(tree, CreatedbStmt)) {
        const char *name = TemplateOf(castNode(CreatedbStmt, tree));
        Oid db = name ? get_database_oid(name, true) : InvalidOid;
        return may_run_here && OidIsValid(db) && CallerMayCreateDatabases() &&
                       (IsTemplate(db) || CallerOwns(db))
                   ? db
                   : InvalidOid;
    }
    if (IsA(tree, RenameStmt) && castNode(RenameStmt, tree)->renameType == OBJECT_DATABASE) {
        Oid db = get_database_oid(castNode(RenameStmt, tree)->subname, true);
        return OidIsValid(db) && db != MyDatabaseId && CallerOwns(db) && CallerMayCreateDatabases()
                   ? db
                   : InvalidOid;
    }
    return InvalidOid;
}

void ProcessUtilityHook(PlannedStmt *pstmt, const char *query_string, bool read_only_tree,
                        ProcessUtilityContext context, ParamListInfo params,
                        QueryEnvironment *query_env, DestReceiver *dest, QueryCompletion *qc)
{
    pg::Entry([&] {
        Oid database = DatabaseToStop(pstmt->utilityStmt, context == PROCESS_UTILITY_TOPLEVEL);
        if (OidIsValid(database))
            StopWorkersOf(database);

        if (prev_process_utility)
            prev_process_utility(pstmt, query_string, read_only_tree, context, params, query_env,
                                 dest, qc);
        else
            standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params,
                                    query_env, dest, qc);
    });
}

}  // namespace

void InstallDatabaseGuard()
{
    prev_process_utility = ProcessUtility_hook;
    ProcessUtility_hook = ProcessUtilityHook;
}

}  // namespace pgque::worker
