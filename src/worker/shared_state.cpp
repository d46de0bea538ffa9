#include "pgque_worker/worker/shared_state.hpp"

extern "C" {
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
}

namespace pgque::worker {

namespace {

SharedState *shared = nullptr;
shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

// One slot per possible background worker: max_worker_processes is fixed at
// server start, pgque_worker.max_workers is not.
int SlotCount() { return max_worker_processes; }

Size SharedSize()
{
    return add_size(offsetof(SharedState, slots), mul_size(SlotCount(), sizeof(DatabaseSlot)));
}

Size ConsumersSize() { return mul_size(SlotCount(), sizeof(ConsumerSlot)); }

void RequestSharedMemory()
{
    if (prev_shmem_request_hook)
        prev_shmem_request_hook();
    RequestAddinShmemSpace(SharedSize());
    RequestAddinShmemSpace(ConsumersSize());
    RequestNamedLWLockTranche("pgque_worker", 1);
}

void AttachSharedMemory()
{
    if (prev_shmem_startup_hook)
        prev_shmem_startup_hook();

    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found = false;
    shared = static_cast<SharedState *>(ShmemInitStruct("pgque_worker", SharedSize(), &found));
    if (!found) {
        memset(shared, 0, SharedSize());
        shared->lock = &(GetNamedLWLockTranche("pgque_worker"))->lock;
        SpinLockInit(&shared->mutex);
        shared->slot_count = SlotCount();
        for (int i = 0; i < shared->slot_count; i++)
            SpinLockInit(&shared->slots[i].mutex);
    }
    bool consumers_found = false;
    shared->consumers = static_cast<ConsumerSlot *>(
        ShmemInitStruct("pgque_worker consumers", ConsumersSize(), &consumers_found));
    if (!consumers_found) {
        memset(shared->consumers, 0, ConsumersSize());
        for (int i = 0; i < shared->slot_count; i++)
            SpinLockInit(&shared->consumers[i].mutex);
    }
    LWLockRelease(AddinShmemInitLock);
}

}  // namespace

const char *SlotStateName(SlotState state)
{
    switch (state) {
    case SlotState::Starting: return "starting";
    case SlotState::Running: return "running";
    case SlotState::NoApi: return "waiting for pgque API";
    case SlotState::NoExtension: return "no extension";
    case SlotState::Refused: return "refused";
    case SlotState::TickingStopped: return "stopped by pgque.stop()";
    }
    return "unknown";
}

void InstallSharedState()
{
    prev_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = RequestSharedMemory;
    prev_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = AttachSharedMemory;
}

SharedState *Shared() { return shared; }

int FindSlot(Oid database)
{
    if (!shared || !OidIsValid(database))
        return -1;
    int found = -1;
    LWLockAcquire(shared->lock, LW_SHARED);
    for (int i = 0; i < shared->slot_count; i++) {
        if (shared->slots[i].database == database) {
            found = i;
            break;
        }
    }
    LWLockRelease(shared->lock);
    return found;
}

void WakeConsumers(Oid database, const char *queue, bool reload)
{
    if (!shared)
        return;
    LWLockAcquire(shared->lock, LW_SHARED);
    for (int i = 0; i < shared->slot_count; i++) {
        ConsumerSlot &c = shared->consumers[i];
        if (c.database != database || (queue && strcmp(c.queue, queue) != 0))
            continue;
        SpinLockAcquire(&c.mutex);
        if (reload)
            c.reload = true;
        Latch *latch = c.latch;
        SpinLockRelease(&c.mutex);
        if (latch)
            SetLatch(latch);
    }
    LWLockRelease(shared->lock);
}

void WakeLauncher(bool rescan)
{
    if (!shared)
        return;
    SpinLockAcquire(&shared->mutex);
    if (rescan)
        shared->rescan_requests++;
    Latch *latch = shared->launcher_latch;
    SpinLockRelease(&shared->mutex);
    if (latch)
        SetLatch(latch);
}

}  // namespace pgque::worker
