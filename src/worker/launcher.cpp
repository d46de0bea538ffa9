// The launcher: a static background worker that keeps one database worker
// running for every database that has extension pgque_worker. It alone
// assigns and frees slots. See README.md here for the state machine.
#include <cstdint>
#include <vector>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/core/schedule.hpp"
#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/worker/process_loop.hpp"
#include "pgque_worker/worker/shared_state.hpp"

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

struct DatabaseEntry {
    Oid oid;
    NameData name;
};

class Launcher {
public:
    [[noreturn]] void Run();

private:
    std::vector<DatabaseEntry> ServedDatabases();
    void AssignSlots(const std::vector<DatabaseEntry> &databases);
    void StartWorkers(std::int64_t now);
    bool StartWorker(int index);

    std::vector<BackgroundWorkerHandle *> handles_;
    // Per slot: a CREATE EXTENSION pgque_worker committed since its last probe
    // started. Kept until a probe starts after it: a probe still running when
    // the request came may have looked before the commit.
    std::vector<bool> reprobe_;
    std::uint64_t rescans_seen_ = 0;
    // A launcher that (re)starts probes every database again, including
    // those that had no extension.
    bool rescan_at_start_ = true;
    bool warned_max_workers_ = false;
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

// Gives every served database a slot, and frees the slots of databases that
// are gone or no longer served (once their worker has exited).
void Launcher::AssignSlots(const std::vector<DatabaseEntry> &databases)
{
    SharedState *shared = Shared();
    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    for (int i = 0; i < shared->slot_count; i++) {
        DatabaseSlot &slot = shared->slots[i];
        if (!OidIsValid(slot.database))
            continue;
        bool served = false;
        for (const DatabaseEntry &db : databases)
            served = served || db.oid == slot.database;
        if (served)
            continue;
        SpinLockAcquire(&slot.mutex);
        pid_t pid = slot.pid;
        SpinLockRelease(&slot.mutex);
        if (pid != 0) {  // stop it; the slot is freed on a later pass
            if (handles_[i])
                TerminateBackgroundWorker(handles_[i]);
            else
                kill(pid, SIGTERM);
            continue;
        }
        slot.database = InvalidOid;
        slot.database_name[0] = '\0';
        SpinLockAcquire(&slot.mutex);
        slot.state = SlotState::Free;
        slot.failures = 0;
        slot.ticks = 0;
        slot.last_error[0] = '\0';
        slot.started_at = slot.last_tick_at = slot.last_maint_at = slot.last_error_at = 0;
        slot.stop_requested_at = 0;
        SpinLockRelease(&slot.mutex);
    }
    for (const DatabaseEntry &db : databases) {
        bool has_slot = false;
        int free_index = -1;
        for (int i = 0; i < shared->slot_count; i++) {
            has_slot = has_slot || shared->slots[i].database == db.oid;
            if (free_index < 0 && !OidIsValid(shared->slots[i].database))
                free_index = i;
        }
        if (has_slot || free_index < 0)
            continue;
        DatabaseSlot &slot = shared->slots[free_index];
        slot.database = db.oid;
        strlcpy(slot.database_name, NameStr(db.name), NAMEDATALEN);
        SpinLockAcquire(&slot.mutex);
        slot.state = SlotState::Exited;  // not running yet: start it
        slot.failures = 0;
        slot.exited_at = 0;
        SpinLockRelease(&slot.mutex);
    }
    LWLockRelease(shared->lock);
}

bool Launcher::StartWorker(int index)
{
    SharedState *shared = Shared();
    BackgroundWorker bgw = {};
    bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
    bgw.bgw_restart_time = BGW_NEVER_RESTART;  // the launcher restarts it, with back-off
    strlcpy(bgw.bgw_library_name, "pgque_worker", BGW_MAXLEN);
    strlcpy(bgw.bgw_function_name, "pgque_worker_database_main", BGW_MAXLEN);
    snprintf(bgw.bgw_name, BGW_MAXLEN, "pgque_worker for database %s",
             shared->slots[index].database_name);
    strlcpy(bgw.bgw_type, "pgque_worker", BGW_MAXLEN);
    bgw.bgw_main_arg = Int32GetDatum(index);
    bgw.bgw_notify_pid = MyProcPid;

    BackgroundWorkerHandle *handle = nullptr;
    bool started = false;
    pg::Call([&] { started = RegisterDynamicBackgroundWorker(&bgw, &handle); });
    if (!started) {
        pg::Call([] {
            ereport(WARNING,
                    (errmsg("pgque_worker: could not start a database worker"),
                     errhint("Raise max_worker_processes.")));
        });
        return false;
    }
    handles_[index] = handle;
    DatabaseSlot &slot = shared->slots[index];
    SpinLockAcquire(&slot.mutex);
    slot.state = SlotState::Starting;
    SpinLockRelease(&slot.mutex);
    return true;
}

void Launcher::StartWorkers(std::int64_t now)
{
    SharedState *shared = Shared();
    SpinLockAcquire(&shared->mutex);
    bool rescan = shared->rescan_requests != rescans_seen_ || rescan_at_start_;
    rescans_seen_ = shared->rescan_requests;
    SpinLockRelease(&shared->mutex);
    rescan_at_start_ = false;
    if (rescan)
        reprobe_.assign(shared->slot_count, true);

    // Which slots have a process: one we started that has not ended, or one
    // attached to the slot (started by an earlier launcher of this server).
    int running = 0;
    std::vector<bool> alive(shared->slot_count, false);
    for (int i = 0; i < shared->slot_count; i++) {
        if (handles_[i]) {
            pid_t pid;
            BgwHandleStatus status = BGWH_STOPPED;
            pg::Call([&] { status = GetBackgroundWorkerPid(handles_[i], &pid); });
            if (status == BGWH_STARTED || status == BGWH_NOT_YET_STARTED) {
                alive[i] = true;
            } else {
                pg::Call([&] { pfree(handles_[i]); });
                handles_[i] = nullptr;
            }
        }
        SpinLockAcquire(&shared->slots[i].mutex);
        alive[i] = alive[i] || shared->slots[i].pid != 0;
        SpinLockRelease(&shared->slots[i].mutex);
        if (alive[i])
            running++;
    }

    // Over the limit (pgque_worker.max_workers was lowered): stop the
    // workers of the last slots until the count fits.
    for (int i = shared->slot_count - 1; i >= 0 && running > config::MaxWorkers(); i--) {
        DatabaseSlot &slot = shared->slots[i];
        SpinLockAcquire(&slot.mutex);
        pid_t pid = alive[i] && slot.state != SlotState::Stopping ? slot.pid : 0;
        if (pid != 0)
            slot.state = SlotState::Stopping;
        SpinLockRelease(&slot.mutex);
        if (pid != 0) {
            kill(pid, SIGTERM);
            running--;
        }
    }

    next_wake_us_ = now + 1000000;  // look for new databases every second
    LWLockAcquire(shared->lock, LW_SHARED);
    for (int i = 0; i < shared->slot_count; i++) {
        DatabaseSlot &slot = shared->slots[i];
        if (!OidIsValid(slot.database) || alive[i])
            continue;
        SpinLockAcquire(&slot.mutex);
        SlotState state = slot.state;
        // A process that died before it could say why is a failure too; one
        // that was asked to stop is not.
        if (state == SlotState::Stopping) {
            state = slot.state = SlotState::Exited;
        } else if (state == SlotState::Starting || state == SlotState::Running ||
                   state == SlotState::NoApi || state == SlotState::Refused ||
                   state == SlotState::TickingStopped) {
            state = slot.state = SlotState::Exited;
            slot.failures++;
            slot.exited_at = now;
        }
        std::int64_t exited_at = slot.exited_at;
        int failures = slot.failures;
        std::int64_t stop_requested_at = slot.stop_requested_at;
        if (stop_requested_at && now - stop_requested_at >= kStopHoldUs)
            slot.stop_requested_at = stop_requested_at = 0;
        SpinLockRelease(&slot.mutex);

        if (stop_requested_at)
            continue;  // a DROP DATABASE is waiting for it to stay away
        std::int64_t start_at = exited_at;
        if (state == SlotState::NoExtension) {
            if (!reprobe_[i] && now - exited_at < kReprobeUs)
                continue;
        } else {
            start_at = exited_at + core::RestartDelayUs(failures);
            if (now < start_at) {
                next_wake_us_ = std::min(next_wake_us_, start_at);
                continue;
            }
        }
        if (running >= config::MaxWorkers()) {
            // Say so where a DBA looks: the workers view (and, through it,
            // the consumers view) of the database left out.
            SpinLockAcquire(&slot.mutex);
            snprintf(slot.last_error, sizeof slot.last_error,
                     "not served: pgque_worker.max_workers (%d) databases are served already",
                     config::MaxWorkers());
            slot.last_error_at = now;
            SpinLockRelease(&slot.mutex);
            if (!warned_max_workers_)
                pg::Call([] {
                    ereport(LOG, (errmsg("pgque_worker: pgque_worker.max_workers (%d) reached; "
                                         "some databases are not served",
                                         config::MaxWorkers())));
                });
            warned_max_workers_ = true;
            continue;
        }
        if (StartWorker(i)) {
            running++;
            reprobe_[i] = false;
        }
    }
    LWLockRelease(shared->lock);
    if (running < config::MaxWorkers())
        warned_max_workers_ = false;
}

void Launcher::Run()
{
    SharedState *shared = Shared();
    handles_.assign(shared->slot_count, nullptr);
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
        AssignSlots(ServedDatabases());
        StartWorkers(now);

        long wait_ms = std::max<long>(1, static_cast<long>((next_wake_us_ - now + 999) / 1000));
        WaitForWork(wait_ms);
    }
}

}  // namespace

void RegisterLauncher()
{
    BackgroundWorker bgw = {};
    bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
    // Restarted by the postmaster whatever ended it (pg_cron's launcher stays
    // down after a SIGTERM; ours comes back after 5 seconds).
    bgw.bgw_restart_time = 5;
    strlcpy(bgw.bgw_library_name, "pgque_worker", BGW_MAXLEN);
    strlcpy(bgw.bgw_function_name, "pgque_worker_launcher_main", BGW_MAXLEN);
    strlcpy(bgw.bgw_name, "pgque_worker launcher", BGW_MAXLEN);
    strlcpy(bgw.bgw_type, "pgque_worker launcher", BGW_MAXLEN);
    RegisterBackgroundWorker(&bgw);
}

}  // namespace pgque::worker

void pgque_worker_launcher_main(Datum)
{
    pgque::pg::Entry([] {
        pgque::worker::Launcher launcher;
        launcher.Run();
    });
}
