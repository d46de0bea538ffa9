#include "pgque_worker/worker/consumer_supervisor.hpp"

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/core/schedule.hpp"
#include "pgque_worker/dispatch/consumer_config.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/worker/shared_state.hpp"
#include "pgque_worker/worker/slot_table.hpp"
#include "pgque_worker/worker/worker_process.hpp"

extern "C" {
#include "commands/dbcommands.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

namespace pgque::worker {

namespace {

struct ToStart {
    int index;
    std::uint32_t generation;
    int consumer_id;
};

std::string TimeText(std::int64_t at)
{
    const char *text = nullptr;
    pg::Call([&] { text = timestamptz_to_str(at); });
    return text;
}

}  // namespace

// A process we asked for that ended without leaving its slot (the postmaster
// could not fork it, or it died before attaching) is counted as a failure
// here, and retried with back-off.
void ConsumerSupervisor::CheckHandles(std::int64_t now)
{
    SharedState *shared = Shared();
    for (auto it = started_.begin(); it != started_.end();) {
        pid_t pid;
        BgwHandleStatus status = BGWH_STOPPED;
        pg::Call([&] { status = GetBackgroundWorkerPid(it->second.handle, &pid); });
        if (status == BGWH_STARTED || status == BGWH_NOT_YET_STARTED) {
            ++it;
            continue;
        }
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        (void) VanishedLocked(SlotKind::Consumer, it->first, it->second.generation, now);
        LWLockRelease(shared->lock);
        pg::Call([&] { pfree(it->second.handle); });
        it = started_.erase(it);
    }
}

// One log line per change of a consumer's state, naming it.
void ConsumerSupervisor::NoteState(int consumer_id, const Wanted &who, const std::string &state)
{
    std::string &shown = shown_[consumer_id];
    if (shown == state)
        return;
    shown = state;
    pg::Call([&] {
        ereport(LOG, (errmsg("pgque_worker: consumer \"%s\" of queue \"%s\" in database \"%s\": %s",
                             who.consumer.c_str(), who.queue.c_str(), get_database_name(MyDatabaseId),
                             state.c_str())));
    });
}

void ConsumerSupervisor::Reconcile(pg::Transaction &tx, bool config_changed)
{
    std::map<int, Wanted> desired;  // by id: the oldest consumers get slots first
    dispatch::LimitLockWait(tx);
    for (const pg::Row &row : tx.Query(
             "SELECT c.id, c.queue, c.consumer FROM pgque_worker.consumer c"
             " WHERE pgque_worker._stop_reason(c) IS NULL"))
        desired.emplace(std::stoi(row[0].value_or("0")), Wanted{row[1].value_or(""), row[2].value_or("")});

    SharedState *shared = Shared();
    const std::int64_t now = GetCurrentTimestamp();
    const int limit = config::MaxConsumerWorkers();
    CheckHandles(now);

    std::vector<ToStart> to_start;
    std::vector<Latch *> to_wake;
    std::map<int, std::int64_t> backing_off;  // consumer id -> retry at
    std::map<int, std::int64_t> refused;  // consumer id -> retry at
    std::map<int, Wanted> without_slot = desired;
    int in_use = 0;

    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    // Asked to stop (DROP DATABASE, a limit): start nothing more. Checked
    // under the lock its askers hold exclusively.
    if (StopAskedOfThisProcess() != core::StopCause::None) {
        LWLockRelease(shared->lock);
        return;
    }
    for (int i = 0; i < shared->slot_count; i++)
        if (LifeOf(SlotKind::Consumer, i).phase != core::SlotPhase::Free)
            in_use++;
    for (int i = 0; i < shared->slot_count; i++) {
        ConsumerSlot &c = shared->consumers[i];
        if (c.database != MyDatabaseId)
            continue;
        if (!desired.count(c.consumer_id)) {  // paused, dropped or without routes
            if (StopSlotLocked(SlotKind::Consumer, i, core::StopCause::Release, now) == core::StopAction::Freed)
                in_use--;
            continue;
        }
        without_slot.erase(c.consumer_id);
        core::SlotLife life = LifeOf(SlotKind::Consumer, i);
        if (core::StartDue(life, now))
            to_start.push_back({i, 0, c.consumer_id});
        else if (life.phase == core::SlotPhase::Waiting && life.failures > 0)
            (life.start_refused ? refused : backing_off)[c.consumer_id] = core::StartDueAt(life);
        if (config_changed) {
            SpinLockAcquire(&c.mutex);
            c.reload = true;
            if (c.latch)
                to_wake.push_back(c.latch);
            SpinLockRelease(&c.mutex);
        }
    }
    int grant = core::SlotsToGrant(static_cast<int>(without_slot.size()), in_use, limit);
    for (auto it = without_slot.begin(); it != without_slot.end() && grant > 0;) {
        int index = -1;
        for (int i = 0; i < shared->slot_count && index < 0; i++)
            if (AssignConsumerSlotLocked(i, MyDatabaseId, it->first, it->second.queue.c_str(),
                                         it->second.consumer.c_str(), now))
                index = i;
        if (index < 0)
            break;
        to_start.push_back({index, 0, it->first});
        grant--;
        it = without_slot.erase(it);
    }
    for (ToStart &s : to_start)
        if (!RegisterSlot(SlotKind::Consumer, s.index, now, &s.generation))
            s.generation = 0;
    LWLockRelease(shared->lock);

    for (Latch *latch : to_wake)
        SetLatch(latch);  // read the configuration again
    for (const auto &[id, who] : without_slot)
        NoteState(id, who, "waiting for a worker slot (max_consumer_workers = " + std::to_string(limit) + ")");
    for (const auto &[id, at] : backing_off)
        NoteState(id, desired[id], std::string("backing off after a crash (retry at ") +
                                       TimeText(at) + ")");
    for (const auto &[id, at] : refused)
        NoteState(id, desired[id], "cannot start: max_worker_processes exhausted (retry at " +
                                       TimeText(at) + ")");
    for (const ToStart &s : to_start) {
        if (s.generation == 0)
            continue;
        const Wanted &who = desired[s.consumer_id];
        const std::string name = "pgque_worker consumer " + who.consumer + " of queue " + who.queue;
        BackgroundWorkerHandle *handle = StartSlotProcess(SlotKind::Consumer, s.index, s.generation, name.c_str());
        if (handle) {
            auto old = started_.find(s.index);
            if (old != started_.end())
                pg::Call([&] { pfree(old->second.handle); });
            started_[s.index] = {handle, s.generation};
            NoteState(s.consumer_id, who, "starting");
            continue;
        }
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        (void) StartRefusedLocked(SlotKind::Consumer, s.index, s.generation, now);
        LWLockRelease(shared->lock);
        NoteState(s.consumer_id, who, "cannot start: max_worker_processes exhausted");
    }
    // Forget consumers that are no longer wanted: their next state is news.
    for (auto it = shown_.begin(); it != shown_.end();)
        it = desired.count(it->first) ? std::next(it) : shown_.erase(it);
}

void ConsumerSupervisor::WakeQueues(const std::vector<std::string> &queues)
{
    for (const std::string &queue : queues)
        WakeConsumers(MyDatabaseId, queue.c_str(), false);
}

void ConsumerSupervisor::ReleaseAll()
{
    SharedState *shared = Shared();
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    (void) ReleaseConsumersOfLocked(MyDatabaseId, GetCurrentTimestamp());
    LWLockRelease(shared->lock);
    shown_.clear();
}

}  // namespace pgque::worker
