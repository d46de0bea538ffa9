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
    int queue_count;  // queues written, or kWakeUnknownQueues
    std::int32_t queue_ids[kWakeQueueIds];
    bool changed_consumer;
    bool wake_launcher;
    bool config_changed;
    std::uint64_t txid;
    std::int64_t started_us;
};
TransactionNotes notes;

// The queue id in an event table's name: PgQ's and pgque's event tables
// are <schema>.event_<queue id>_<n> (and their parent event_<queue id>).
// -1: not a name of that form.
std::int32_t QueueIdOfEventTable(const char *name)
{
    const char *p = name + 6;  // after "event_"
    std::int64_t id = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        id = id * 10 + (*p - '0');
        if (id > INT32_MAX)
            return -1;
    }
    if (*p == '_')
        for (p++; *p >= '0' && *p <= '9'; p++) {
        }
    return *p == '\0' ? static_cast<std::int32_t>(id) : -1;
}

void NoteQueueWritten(std::int32_t id)
{
    if (notes.queue_count == kWakeUnknownQueues)
        return;
    for (int i = 0; i < notes.queue_count; i++)
        if (notes.queue_ids[i] == id)
            return;
    if (id < 0 || notes.queue_count == kWakeQueueIds) {
        notes.queue_count = kWakeUnknownQueues;
        return;
    }
    notes.queue_ids[notes.queue_count++] = id;
}

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
    if (!notes.served)
        return;
    // Past the first event write, only new queues matter.
    if (query->operation == CMD_UPDATE && notes.changed_consumer)
        return;
    if (query->operation == CMD_INSERT && notes.queue_count == kWakeUnknownQueues)
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
            if (query->operation == CMD_INSERT && is_event_table) {
                notes.wrote_events = true;
                NoteQueueWritten(QueueIdOfEventTable(name));
            }
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
            WakeRecord mine;
            mine.txid = notes.txid;
            mine.started_us = notes.started_us;
            mine.queue_count = notes.queue_count;
            memcpy(mine.queue_ids, notes.queue_ids, sizeof mine.queue_ids);
            bool merged = false;
            for (std::uint64_t i = slot.wake_count; !merged && i > slot.wakes_taken &&
                                                    i + kWakeMergeLookBack > slot.wake_count;
                 i--) {
                WakeRecord &newer = slot.wakes[(i - 1) % kWakeRingSize];
                if (core::SameQueues(newer, mine)) {
                    core::MergeWake(newer, mine);
                    merged = true;
                }
            }
            if (!merged)
                slot.wakes[slot.wake_count++ % kWakeRingSize] = mine;
        }
        if (notes.changed_consumer)
            slot.consumer_changed = true;
        if (notes.config_changed)
            slot.config_changed = true;
        Latch *latch = slot.pass_scheduled && !notes.config_changed ? nullptr : slot.latch;
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
