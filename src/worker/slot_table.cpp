#include "pgque_worker/worker/slot_table.hpp"

#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"

extern "C" {
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
}

namespace pgque::worker {

namespace {

struct SlotRefs {
    slock_t *mutex;
    core::SlotLife *life;
    Latch **latch;
};

SlotRefs RefsOf(SlotKind kind, int index)
{
    SharedState *shared = Shared();
    if (kind == SlotKind::Database) {
        DatabaseSlot &s = shared->slots[index];
        return {&s.mutex, &s.life, &s.latch};
    }
    ConsumerSlot &c = shared->consumers[index];
    return {&c.mutex, &c.life, &c.latch};
}

// Applies fn to the slot's life under its spinlock; sets the process's latch
// after releasing it when asked to.
template <typename Fn>
auto WithLife(SlotKind kind, int index, Fn fn)
{
    SlotRefs refs = RefsOf(kind, index);
    SpinLockAcquire(refs.mutex);
    auto result = fn(*refs.life, *refs.latch);
    SpinLockRelease(refs.mutex);
    return result;
}

// A slot that became Free forgets whom it served (lock held exclusive).
void ForgetIdentity(SlotKind kind, int index)
{
    SharedState *shared = Shared();
    if (kind == SlotKind::Database) {
        DatabaseSlot &s = shared->slots[index];
        s.database = InvalidOid;
        s.database_name[0] = '\0';
        SpinLockAcquire(&s.mutex);
        s.state = SlotState::Starting;
        s.unserved_limit = 0;
        s.latch = nullptr;
        s.pass_scheduled = false;
        s.ticks = 0;
        s.last_error[0] = '\0';
        s.started_at = s.last_tick_at = s.last_maint_at = s.last_error_at = 0;
        s.stop_requested_at = 0;
        SpinLockRelease(&s.mutex);
        return;
    }
    ConsumerSlot &c = shared->consumers[index];
    c.database = InvalidOid;
    c.consumer_id = 0;
    c.queue[0] = c.consumer[0] = '\0';
    SpinLockAcquire(&c.mutex);
    c.latch = nullptr;
    c.reload = c.idle = false;
    SpinLockRelease(&c.mutex);
}

bool IsFree(SlotKind kind, int index)
{
    return WithLife(kind, index, [](core::SlotLife &l, Latch *) { return l.phase == core::SlotPhase::Free; });
}

// This process's own slot.
struct OwnSlot {
    SlotKind kind;
    int index = -1;
    std::uint32_t generation = 0;
    core::ExitKind exit_kind = core::ExitKind::Failure;
};
OwnSlot own;

std::uint32_t GenerationOfThisProcess()
{
    std::uint32_t generation = 0;
    memcpy(&generation, MyBgworkerEntry->bgw_extra, sizeof generation);
    return generation;
}

// Whoever owns the slot learns that its process is gone: the launcher for a
// database slot, the database worker for a consumer slot.
void WakeOwner(SlotKind kind, Oid database)
{
    if (kind == SlotKind::Database) {
        WakeLauncher(false);
        return;
    }
    int db = FindSlot(database);
    if (db < 0)
        return;
    DatabaseSlot &slot = Shared()->slots[db];
    SpinLockAcquire(&slot.mutex);
    slot.config_changed = true;  // reconcile: start it again, or another one
    Latch *latch = slot.latch;
    SpinLockRelease(&slot.mutex);
    if (latch)
        SetLatch(latch);
}

// before_shmem_exit: however the process ends, it leaves its slot.
void LeaveOwnSlot(int, Datum)
{
    SharedState *shared = Shared();
    if (!shared || own.index < 0)
        return;
    const std::int64_t now = GetCurrentTimestamp();
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    Oid database = own.kind == SlotKind::Database ? shared->slots[own.index].database
                                                  : shared->consumers[own.index].database;
    bool freed = WithLife(own.kind, own.index, [&](core::SlotLife &l, Latch *&latch) {
        if (!core::Exit(l, own.generation, MyProcPid, own.exit_kind, now))
            return false;
        latch = nullptr;
        return l.phase == core::SlotPhase::Free;
    });
    if (freed)
        ForgetIdentity(own.kind, own.index);
    LWLockRelease(shared->lock);
    own.index = -1;
    WakeOwner(own.kind, database);
    if (freed)
        WakeLauncher(false);
}

}  // namespace

bool AssignDatabaseSlotLocked(int index, Oid database, const char *name, std::int64_t now)
{
    if (!IsFree(SlotKind::Database, index))
        return false;
    DatabaseSlot &s = Shared()->slots[index];
    ForgetIdentity(SlotKind::Database, index);
    s.database = database;
    strlcpy(s.database_name, name, sizeof s.database_name);
    return WithLife(SlotKind::Database, index, [&](core::SlotLife &l, Latch *) { return core::Assign(l, now); });
}

bool AssignConsumerSlotLocked(int index, Oid database, int consumer_id, const char *queue, const char *consumer,
                              std::int64_t now)
{
    if (!IsFree(SlotKind::Consumer, index))
        return false;
    ConsumerSlot &c = Shared()->consumers[index];
    ForgetIdentity(SlotKind::Consumer, index);
    c.database = database;
    c.consumer_id = consumer_id;
    strlcpy(c.queue, queue, sizeof c.queue);
    strlcpy(c.consumer, consumer, sizeof c.consumer);
    return WithLife(SlotKind::Consumer, index, [&](core::SlotLife &l, Latch *) { return core::Assign(l, now); });
}

core::StopAction StopSlotLocked(SlotKind kind, int index, core::StopCause cause, std::int64_t now)
{
    Latch *to_set = nullptr;
    core::StopAction action = WithLife(kind, index, [&](core::SlotLife &l, Latch *latch) {
        core::StopAction a = core::RequestStop(l, cause, now);
        if (a == core::StopAction::SignalProcess)
            to_set = latch;
        return a;
    });
    if (action == core::StopAction::Freed)
        ForgetIdentity(kind, index);
    if (to_set)
        SetLatch(to_set);
    return action;
}

int ReleaseConsumersOfLocked(Oid database, std::int64_t now)
{
    SharedState *shared = Shared();
    int with_process = 0;
    for (int i = 0; i < shared->slot_count; i++) {
        if (shared->consumers[i].database != database)
            continue;
        if (StopSlotLocked(SlotKind::Consumer, i, core::StopCause::Release, now) != core::StopAction::Freed)
            with_process++;
    }
    return with_process;
}

bool StartRefusedLocked(SlotKind kind, int index, std::uint32_t generation, std::int64_t now)
{
    bool freed = false;
    bool done = WithLife(kind, index, [&](core::SlotLife &l, Latch *) {
        bool applied = core::StartRefused(l, generation, now);
        freed = applied && l.phase == core::SlotPhase::Free;
        return applied;
    });
    if (freed)
        ForgetIdentity(kind, index);
    return done;
}

bool VanishedLocked(SlotKind kind, int index, std::uint32_t generation, std::int64_t now)
{
    bool freed = false;
    bool done = WithLife(kind, index, [&](core::SlotLife &l, Latch *&latch) {
        bool applied = core::Vanished(l, generation, now);
        if (applied)
            latch = nullptr;
        freed = applied && l.phase == core::SlotPhase::Free;
        return applied;
    });
    if (freed)
        ForgetIdentity(kind, index);
    return done;
}

bool RegisterSlot(SlotKind kind, int index, std::int64_t now, std::uint32_t *generation)
{
    return WithLife(kind, index, [&](core::SlotLife &l, Latch *) { return core::Register(l, now, generation); });
}

core::SlotLife LifeOf(SlotKind kind, int index)
{
    return WithLife(kind, index, [](core::SlotLife &l, Latch *) { return l; });
}

core::AttachResult AttachThisProcess(SlotKind kind, int index)
{
    SharedState *shared = Shared();
    const std::uint32_t generation = GenerationOfThisProcess();
    const std::int64_t now = GetCurrentTimestamp();
    // The exit callback first: from the moment the slot names this process,
    // any exit must leave it.
    own.kind = kind;
    own.generation = generation;
    pg::Call([] { before_shmem_exit(LeaveOwnSlot, 0); });
    LWLockAcquire(shared->lock, LW_SHARED);
    core::AttachResult result = WithLife(kind, index, [&](core::SlotLife &l, Latch *&latch) {
        core::AttachResult r = core::Attach(l, generation, MyProcPid, now);
        if (r == core::AttachResult::Attached)
            latch = MyLatch;
        return r;
    });
    LWLockRelease(shared->lock);
    if (result != core::AttachResult::NotOurs)
        own.index = index;
    return result;
}

void MarkThisProcessHealthy()
{
    if (own.index >= 0)
        WithLife(own.kind, own.index, [](core::SlotLife &l, Latch *) { return core::MarkHealthy(l, own.generation); });
}

core::StopCause StopAskedOfThisProcess()
{
    if (own.index < 0)
        return core::StopCause::None;
    return WithLife(own.kind, own.index, [](core::SlotLife &l, Latch *) {
        return l.phase == core::SlotPhase::Stopping ? l.stop_cause : core::StopCause::None;
    });
}

void ExitThisProcess(core::ExitKind kind, const char *why, int elevel)
{
    own.exit_kind = kind;
    pg::Call([&] {
        ereport(elevel, (errmsg("pgque_worker: %s", why)));
        proc_exit(0);
    });
    abort();  // proc_exit does not return
}

}  // namespace pgque::worker
