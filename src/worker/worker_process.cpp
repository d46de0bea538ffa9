#include "pgque_worker/worker/worker_process.hpp"

#include <string>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/pg/session.hpp"
#include "pgque_worker/worker/process_loop.hpp"

extern "C" {
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
}

namespace pgque::worker {

namespace {

int attached_slot = -1;
bool exit_state_left = false;

// However the process ends (error, SIGTERM, extension dropped), the slot
// tells the launcher: no process any more, and whether it was a failure.
void ReleaseSlot(int, Datum)
{
    SharedState *shared = Shared();
    if (!shared || attached_slot < 0)
        return;
    DatabaseSlot &slot = shared->slots[attached_slot];
    SpinLockAcquire(&slot.mutex);
    if (slot.pid == MyProcPid) {
        slot.pid = 0;
        slot.latch = nullptr;
    }
    if (!exit_state_left) {
        // Asked to stop (max_workers lowered, DROP DATABASE): not a failure.
        if (slot.state != SlotState::Stopping)
            slot.failures++;
        slot.state = SlotState::Exited;
    }
    slot.exited_at = GetCurrentTimestamp();
    SpinLockRelease(&slot.mutex);
    WakeLauncher(false);
}

}  // namespace

DatabaseSlot &AttachWorkerToSlot(int slot_index)
{
    SharedState *shared = Shared();
    DatabaseSlot &slot = shared->slots[slot_index];
    SetUpSignals();
    pg::Call([&] {
        attached_slot = slot_index;
        before_shmem_exit(ReleaseSlot, 0);
    });

    SpinLockAcquire(&slot.mutex);
    slot.pid = MyProcPid;
    slot.latch = MyLatch;
    slot.started_at = GetCurrentTimestamp();
    slot.state = SlotState::Starting;
    SpinLockRelease(&slot.mutex);

    // The launcher does not change a slot's database while its worker runs.
    Oid database = slot.database;
    char database_name[NAMEDATALEN];
    strlcpy(database_name, slot.database_name, sizeof database_name);
    std::string role = config::WorkerRole();
    pg::Call([&] {
        if (role.empty())
            BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
        else
            BackgroundWorkerInitializeConnection(database_name, role.c_str(), 0);
        SetConfigOption("application_name", "pgque_worker database worker", PGC_USERSET,
                        PGC_S_SESSION);
        pgstat_report_appname("pgque_worker database worker");
    });
    pg::PinWorkerSession();
    return slot;
}

void ExitWorker(DatabaseSlot &slot, SlotState state, bool failure)
{
    SpinLockAcquire(&slot.mutex);
    slot.state = state;
    slot.failures = failure ? slot.failures + 1 : 0;
    SpinLockRelease(&slot.mutex);
    exit_state_left = true;
    proc_exit(0);
}

}  // namespace pgque::worker
