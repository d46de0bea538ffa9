#include "pgque_worker/worker/commit_wakeup.hpp"

#include <cstring>

#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/worker/shared_state.hpp"

extern "C" {
#include "access/transam.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"
}

namespace pgque::worker {

namespace {

ExecutorStart_hook_type prev_executor_start = nullptr;

// This transaction's writes that matter to the worker. Reset at its end.
struct TransactionNotes {
    bool served_checked;  // looked up whether this database has a worker
    bool served;
    bool wrote_events;
    bool changed_consumer;
    bool wake_launcher;
    bool config_changed;
    std::uint64_t txid;
    std::int64_t started_us;
};
TransactionNotes notes;

bool InQueueSchema(Oid relid)
{
    char *schema = get_namespace_name(get_rel_namespace(relid));
    bool result = schema && (strcmp(schema, "pgq") == 0 || strcmp(schema, "pgque") == 0);
    if (schema)
        pfree(schema);
    return result;
}

void NoteWrites(QueryDesc *query)
{
    if (query->operation != CMD_INSERT && query->operation != CMD_UPDATE)
        return;
    if (!notes.served_checked) {
        notes.served_checked = true;
        notes.served = FindSlot(MyDatabaseId) >= 0;
    }
    if (!notes.served || (notes.wrote_events && notes.changed_consumer))
        return;

    ListCell *lc;
    foreach (lc, query->plannedstmt->resultRelations) {
        RangeTblEntry *rte = rt_fetch(lfirst_int(lc), query->plannedstmt->rtable);
        char *name = get_rel_name(rte->relid);
        if (!name)
            continue;
        bool is_event_table = strncmp(name, "event_", 6) == 0;
        bool is_subscription = strcmp(name, "subscription") == 0;
        if ((is_event_table || is_subscription) && InQueueSchema(rte->relid)) {
            if (query->operation == CMD_INSERT && is_event_table)
                notes.wrote_events = true;
            if (query->operation == CMD_UPDATE && is_subscription)
                notes.changed_consumer = true;
        }
        pfree(name);
    }
}

void ExecutorStartHook(QueryDesc *query, int eflags)
{
    pg::Entry([&] {
        if (prev_executor_start)
            prev_executor_start(query, eflags);
        else
            standard_ExecutorStart(query, eflags);
        NoteWrites(query);
    });
}

void Announce()
{
    SharedState *s = Shared();
    bool announce = notes.wrote_events || notes.changed_consumer || notes.config_changed;
    int index = announce ? FindSlot(MyDatabaseId) : -1;
    if (s && index >= 0) {
        DatabaseSlot &slot = s->slots[index];
        SpinLockAcquire(&slot.mutex);
        if (notes.wrote_events) {
            slot.wakes[slot.wake_count % kWakeRingSize] = {notes.txid, notes.started_us};
            slot.wake_count++;
        }
        if (notes.changed_consumer)
            slot.consumer_changed = true;
        if (notes.config_changed)
            slot.config_changed = true;
        Latch *latch = slot.latch;
        SpinLockRelease(&slot.mutex);
        if (latch)
            SetLatch(latch);
    }
    if (notes.wake_launcher)
        WakeLauncher(true);
}

void TransactionCallback(XactEvent event, void *)
{
    pg::Entry([&] {
        switch (event) {
        case XACT_EVENT_PRE_COMMIT:
            // The ids are still there; at XACT_EVENT_COMMIT the transaction is
            // already visible to new snapshots, which is when we announce it.
            if (notes.wrote_events) {
                notes.txid = U64FromFullTransactionId(GetTopFullTransactionIdIfAny());
                notes.started_us = GetCurrentTransactionStartTimestamp();
            }
            break;
        case XACT_EVENT_COMMIT:
            Announce();
            notes = TransactionNotes{};
            break;
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PREPARE:  // COMMIT PREPARED is not announced: tick_interval covers it
            notes = TransactionNotes{};
            break;
        default:
            break;
        }
    });
}

}  // namespace

void InstallCommitWakeup()
{
    prev_executor_start = ExecutorStart_hook;
    ExecutorStart_hook = ExecutorStartHook;
    RegisterXactCallback(TransactionCallback, nullptr);
}

void WakeLauncherAtCommit() { notes.wake_launcher = true; }

void WakeWorkerForConfigAtCommit() { notes.config_changed = true; }

}  // namespace pgque::worker
