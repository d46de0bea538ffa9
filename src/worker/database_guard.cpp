#include "pgque_worker/worker/database_guard.hpp"

#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/worker/shared_state.hpp"

#include <csignal>

extern "C" {
#include "commands/dbcommands.h"
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

// Waits (bounded) until *pid reads 0 under mutex.
void WaitForExit(slock_t *mutex, pid_t *pid)
{
    for (long waited = 0; waited < kStopWaitMs; waited += 10) {
        SpinLockAcquire(mutex);
        pid_t current = *pid;
        SpinLockRelease(mutex);
        if (current == 0)
            return;
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
                         PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

// Stops the database worker of `name`'s database, then its consumer workers
// (which it would otherwise restart), and waits for them to exit.
void StopWorkerOf(const char *name)
{
    SharedState *shared = Shared();
    Oid database = name ? get_database_oid(name, true) : InvalidOid;
    int index = FindSlot(database);
    if (!shared || index < 0)
        return;
    DatabaseSlot &slot = shared->slots[index];
    SpinLockAcquire(&slot.mutex);
    slot.stop_requested_at = GetCurrentTimestamp();
    pid_t pid = slot.pid;
    if (pid != 0)
        slot.state = SlotState::Stopping;
    SpinLockRelease(&slot.mutex);
    if (pid != 0) {
        kill(pid, SIGTERM);
        WaitForExit(&slot.mutex, &slot.pid);
    }
    for (int i = 0; i < shared->slot_count; i++) {
        ConsumerSlot &c = shared->consumers[i];
        if (c.database != database)
            continue;
        SpinLockAcquire(&c.mutex);
        pid = c.pid;
        SpinLockRelease(&c.mutex);
        if (pid != 0) {
            kill(pid, SIGTERM);
            WaitForExit(&c.mutex, &c.pid);
        }
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

void ProcessUtilityHook(PlannedStmt *pstmt, const char *query_string, bool read_only_tree,
                        ProcessUtilityContext context, ParamListInfo params,
                        QueryEnvironment *query_env, DestReceiver *dest, QueryCompletion *qc)
{
    pg::Entry([&] {
        Node *tree = pstmt->utilityStmt;
        if (IsA(tree, DropdbStmt))
            StopWorkerOf(castNode(DropdbStmt, tree)->dbname);
        else if (IsA(tree, CreatedbStmt))
            StopWorkerOf(TemplateOf(castNode(CreatedbStmt, tree)));
        else if (IsA(tree, RenameStmt) && castNode(RenameStmt, tree)->renameType == OBJECT_DATABASE)
            StopWorkerOf(castNode(RenameStmt, tree)->subname);

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
