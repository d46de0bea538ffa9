// The launcher: a static background worker that keeps one database worker
// running for every database that has extension pgque_worker. It assigns
// database slots, enforces the limits and collects what others left behind.
// See README.md here for the state machine.
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <vector>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/core/schedule.hpp"
#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/worker/process_loop.hpp"
#include "pgque_worker/worker/shared_state.hpp"
#include "pgque_worker/worker/slot_table.hpp"
#include "pgque_worker/worker/worker_process.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

PGDLLEXPORT void pgque_worker_launcher_main(Datum);
}

namespace pgque::worker {

namespace {

// How long a slot whose worker was stopped for DROP DATABASE (or CREATE
// DATABASE ... TEMPLATE) stays down when the database is still there.
constexpr std::int64_t kStopHoldUs = 10 * 1000000LL;
// Databases without the extension are probed again this often, besides
// right after any CREATE EXTENSION pgque_worker.
constexpr std::int64_t kReprobeUs = 5 * 60 * 1000000LL;
// A process asked to stop gets this long to do so at its next check; then
// SIGTERM (it is stuck in a long call).
constexpr std::int64_t kStopGraceUs = 5 * 1000000LL;
// A consumer process registered this long ago that never attached is given
// up (its database worker, which held its handle, is gone).
constexpr std::int64_t kNeverAttachedUs = 60 * 1000000LL;

struct DatabaseEntry {
    Oid oid;
    NameData name;
};

class Launcher {
public:
    [[noreturn]] void Run();

private:
    struct Handle {
        BackgroundWorkerHandle *handle = nullptr;
        std::uint32_t generation = 0;
    };

    void Pass(std::int64_t now);
    std::vector<DatabaseEntry> ServedDatabases();
    void AssignSlots(const std::vector<DatabaseEntry> &databases, std::int64_t now);
    void CheckHandles(std::int64_t now);
    void EnforceLimits(std::int64_t now);
    bool StartAllowed(int index, const core::SlotLife &life, std::int64_t now);
    void NoteUnserved(int index, int limit);
    void StartDueWorkers(std::int64_t now);
    void CollectStuck(std::int64_t now);

    // The process started for each database slot, and its generation.
    std::vector<Handle> handles_;
    // Per slot: a CREATE EXTENSION pgque_worker committed since its last probe
    // started. Kept until a probe starts after it: a probe still running when
    // the request came may have looked before the commit.
    std::vector<bool> reprobe_;
    std::uint64_t rescans_seen_ = 0;
    // A launcher that (re)starts probes every database again, including
    // those that had no extension.
    bool rescan_at_start_ = true;
    std::int64_t next_wake_us_ = 0;
};

std::vector<DatabaseEntry> Launcher::ServedDatabases()
{
    DatabaseEntry *entries = nullptr;
    int count = 0;
    pg::Call([&] {
        int capacity = 16;
        entries = static_cast<DatabaseEntry *>(
            MemoryContextAlloc(TopMemoryContext, sizeof(DatabaseEntry) * capacity));
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        (void) GetTransactionSnapshot();
        pgstat_report_activity(STATE_RUNNING, "pgque_worker: looking for databases");
        Relation rel = table_open(DatabaseRelationId, AccessShareLock);
        TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
        HeapTuple tuple;
        while ((tuple = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
            Form_pg_database db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tuple));
            if (!db->datallowconn || db->datistemplate ||
                !config::DatabaseAllowed(NameStr(db->datname)))
                continue;
            if (count == capacity) {
                capacity *= 2;
                entries = static_cast<DatabaseEntry *>(
                    repalloc(entries, sizeof(DatabaseEntry) * capacity));
            }
            entries[count].oid = db->oid;
            entries[count].name = db->datname;
            count++;
        }
        table_endscan(scan);
        table_close(rel, AccessShareLock);
        CommitTransactionCommand();
        pgstat_report_activity(STATE_IDLE, nullptr);
    });
    std::vector<DatabaseEntry> result(entries, entries + count);
    pg::Call([&] { pfree(entries); });
    return result;
}

// Gives every served database a slot, and stops and frees the slots of
// databases that are gone or no longer served, with their consumers' slots.
void Launcher::AssignSlots(const std::vector<DatabaseEntry> &databases, std::int64_t now)
{
    SharedState *shared = Shared();
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    for (int i = 0; i < shared->slot_count; i++) {
        const Oid database = shared->slots[i].database;
        if (!OidIsValid(database))
            continue;
        bool served = false;
        for (const DatabaseEntry &db : databases)
            served = served || db.oid == database;
        if (served)
            continue;
        ReleaseConsumersOfLocked(database, now);
        (void) StopSlotLocked(SlotKind::Database, i, core::StopCause::Release, now);
    }
    for (const DatabaseEntry &db : databases) {
        bool has_slot = false;
        int free_index = -1;
        for (int i = 0; i < shared->slot_count; i++) {
            has_slot = has_slot || shared->slots[i].database == db.oid;
            if (free_index < 0 && !OidIsValid(shared->slots[i].database) &&
                LifeOf(SlotKind::Database, i).phase == core::SlotPhase::Free)
                free_index = i;
        }
        if (!has_slot && free_index >= 0)
            AssignDatabaseSlotLocked(free_index, db.oid, NameStr(db.name), now);
    }
    LWLockRelease(shared->lock);
}

// A process we started that ended without leaving its slot (it died before
// attaching, or the postmaster could not fork it) is seen here.
void Launcher::CheckHandles(std::int64_t now)
{
    SharedState *shared = Shared();
    for (int i = 0; i < shared->slot_count; i++) {
        if (!handles_[i].handle)
            continue;
        pid_t pid;
        BgwHandleStatus status = BGWH_STOPPED;
        pg::Call([&] { status = GetBackgroundWorkerPid(handles_[i].handle, &pid); });
        if (status == BGWH_STARTED || status == BGWH_NOT_YET_STARTED)
            continue;
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        (void) VanishedLocked(SlotKind::Database, i, handles_[i].generation, now);
        LWLockRelease(shared->lock);
        pg::Call([&] { pfree(handles_[i].handle); });
        handles_[i] = {};
    }
}

// Lowered limits stop the newest processes first: database workers over
// pgque_worker.max_workers, consumer workers over max_consumer_workers (in
// all databases). Each logs why at LOG, and the views say it.
void Launcher::EnforceLimits(std::int64_t now)
{
    SharedState *shared = Shared();
    std::vector<core::RunningSlot> databases, consumers;
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    for (int i = 0; i < shared->slot_count; i++) {
        core::SlotLife db = LifeOf(SlotKind::Database, i);
        if (db.phase == core::SlotPhase::Registered || db.phase == core::SlotPhase::Attached)
            databases.push_back({i, db.registered_at});
        core::SlotLife c = LifeOf(SlotKind::Consumer, i);
        if (c.phase != core::SlotPhase::Free && c.phase != core::SlotPhase::Stopping)
            consumers.push_back({i, c.assigned_at});
    }
    for (int i : core::ExcessNewestFirst(databases, config::MaxWorkers())) {
        ReleaseConsumersOfLocked(shared->slots[i].database, now);
        (void) StopSlotLocked(SlotKind::Database, i, core::StopCause::Limit, now);
    }
    for (int i : core::ExcessNewestFirst(consumers, config::MaxConsumerWorkers()))
        (void) StopSlotLocked(SlotKind::Consumer, i, core::StopCause::Limit, now);
    LWLockRelease(shared->lock);
}

// Whether a waiting database slot may be started now.
bool Launcher::StartAllowed(int index, const core::SlotLife &life, std::int64_t now)
{
    DatabaseSlot &slot = Shared()->slots[index];
    SpinLockAcquire(&slot.mutex);
    std::int64_t hold = slot.stop_requested_at;
    if (hold && now - hold >= kStopHoldUs)
        slot.stop_requested_at = hold = 0;
    const bool no_extension = slot.state == SlotState::NoExtension;
    SpinLockRelease(&slot.mutex);
    if (hold)
        return false;  // a DROP DATABASE is waiting for it to stay away
    if (no_extension)
        return reprobe_[index] || now - life.exited_at >= kReprobeUs;
    if (!core::StartDue(life, now)) {
        next_wake_us_ = std::min(next_wake_us_, core::StartDueAt(life));
        return false;
    }
    return true;
}

// Records (and logs once) that a database waits for max_workers, or that it
// no longer does.
void Launcher::NoteUnserved(int index, int limit)
{
    DatabaseSlot &slot = Shared()->slots[index];
    SpinLockAcquire(&slot.mutex);
    const bool changed = slot.unserved_limit != limit;
    slot.unserved_limit = limit;
    SpinLockRelease(&slot.mutex);
    if (changed && limit > 0)
        pg::Call([&] {
            ereport(LOG, (errmsg("pgque_worker: database \"%s\" is not served: pgque_worker.max_workers (%d) "
                                 "databases are served already",
                                 slot.database_name, limit),
                          errhint("Raise pgque_worker.max_workers.")));
        });
}

void Launcher::StartDueWorkers(std::int64_t now)
{
    SharedState *shared = Shared();
    next_wake_us_ = now + 1000000;  // look for new databases every second
    int running = 0;
    for (int i = 0; i < shared->slot_count; i++)
        if (core::HoldsProcess(LifeOf(SlotKind::Database, i)))
            running++;

    for (int i = 0; i < shared->slot_count; i++) {
        core::SlotLife life = LifeOf(SlotKind::Database, i);
        if (life.phase != core::SlotPhase::Waiting || !StartAllowed(i, life, now))
            continue;
        if (running >= config::MaxWorkers()) {
            NoteUnserved(i, config::MaxWorkers());
            continue;
        }
        NoteUnserved(i, 0);
        std::uint32_t generation = 0;
        char name[BGW_MAXLEN];
        // The DROP DATABASE guard sets its hold under the lock held
        // exclusively: checked here under it, no process is asked for a
        // database being dropped.
        LWLockAcquire(shared->lock, LW_SHARED);
        SpinLockAcquire(&shared->slots[i].mutex);
        const bool held = shared->slots[i].stop_requested_at != 0;
        SpinLockRelease(&shared->slots[i].mutex);
        bool registered = !held && RegisterSlot(SlotKind::Database, i, now, &generation);
        snprintf(name, sizeof name, "pgque_worker for database %s", shared->slots[i].database_name);
        LWLockRelease(shared->lock);
        if (!registered)
            continue;
        reprobe_[i] = false;
        running++;
        BackgroundWorkerHandle *handle = StartSlotProcess(SlotKind::Database, i, generation, name);
        if (handle) {
            if (handles_[i].handle)
                pg::Call([&] { pfree(handles_[i].handle); });
            handles_[i] = {handle, generation};
            continue;
        }
        running--;
        LWLockAcquire(shared->lock, LW_EXCLUSIVE);
        (void) StartRefusedLocked(SlotKind::Database, i, generation, now);
        LWLockRelease(shared->lock);
        pg::Call([&] {
            ereport(WARNING, (errmsg("pgque_worker: could not start the worker of database \"%s\": "
                                     "max_worker_processes exhausted", name + strlen("pgque_worker for database ")),
                              errhint("Raise max_worker_processes; retried with back-off.")));
        });
    }
}

// Stops that are not obeyed (a process stuck in a long call) are enforced
// after a grace period; consumer processes that never attached, with no one
// left holding their handle, are given up after a minute.
void Launcher::CollectStuck(std::int64_t now)
{
    SharedState *shared = Shared();
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    for (int i = 0; i < shared->slot_count; i++) {
        for (SlotKind kind : {SlotKind::Database, SlotKind::Consumer}) {
            core::SlotLife life = LifeOf(kind, i);
            if (life.phase == core::SlotPhase::Stopping && life.pid != 0 &&
                now - life.stop_requested_at >= kStopGraceUs)
                kill(life.pid, SIGTERM);
            if (kind == SlotKind::Consumer && life.pid == 0 && life.registered_at != 0 &&
                (life.phase == core::SlotPhase::Registered || life.phase == core::SlotPhase::Stopping) &&
                now - life.registered_at >= kNeverAttachedUs)
                (void) VanishedLocked(kind, i, life.generation, now);
        }
    }
    LWLockRelease(shared->lock);
}

void Launcher::Pass(std::int64_t now)
{
    SharedState *shared = Shared();
    SpinLockAcquire(&shared->mutex);
    bool rescan = shared->rescan_requests != rescans_seen_ || rescan_at_start_;
    rescans_seen_ = shared->rescan_requests;
    SpinLockRelease(&shared->mutex);
    rescan_at_start_ = false;
    if (rescan)
        reprobe_.assign(shared->slot_count, true);

    AssignSlots(ServedDatabases(), now);
    CheckHandles(now);
    EnforceLimits(now);
    StartDueWorkers(now);
    CollectStuck(now);
}

void Launcher::Run()
{
    SharedState *shared = Shared();
    handles_.assign(shared->slot_count, Handle{});
    reprobe_.assign(shared->slot_count, false);
    SetUpSignals();
    pg::Call([&] {
        BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
        pgstat_report_appname("pgque_worker launcher");
    });
    SpinLockAcquire(&shared->mutex);
    shared->launcher_latch = MyLatch;
    shared->launcher_pid = MyProcPid;
    rescans_seen_ = shared->rescan_requests;
    SpinLockRelease(&shared->mutex);

    for (;;) {
        pg::Call([] { CHECK_FOR_INTERRUPTS(); });
        ReloadConfigurationIfAsked();
        std::int64_t now = GetCurrentTimestamp();
        Pass(now);

        long wait_ms = std::max<long>(1, static_cast<long>((next_wake_us_ - now + 999) / 1000));
        WaitForWork(wait_ms);
    }
}

}  // namespace

}  // namespace pgque::worker

void pgque_worker_launcher_main(Datum)
{
    pgque::pg::Entry([] {
        pgque::worker::Launcher launcher;
        launcher.Run();
    });
}
