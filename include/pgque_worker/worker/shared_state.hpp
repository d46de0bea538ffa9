// Shared memory of pgque_worker: one slot per served database, owned by the
// launcher, plus the launcher's own latch. See src/worker/README.md for who
// writes what and who wakes whom.
//
// Everything here is plain data in shared memory: no C++ objects.
#pragma once

#include <cstdint>

#include "pgque_worker/core/slot_life.hpp"
#include "pgque_worker/core/wake_record.hpp"
#include "pgque_worker/pg/postgres.hpp"

extern "C" {
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
}

namespace pgque::worker {

// What a database worker reports of itself while its slot is Attached (its
// life cycle is the slot's core::SlotLife), and the reason it left last.
enum class SlotState : int {
    Starting = 0,  // attached, connecting, first pass not done
    Running,       // ticking and maintaining
    NoApi,         // pgque_worker installed, but no pgque API (pgque_pgq or pgque)
    NoExtension,   // the database has no pgque_worker: not served until CREATE EXTENSION
    Refused,       // pgque_worker.role lacks what the workers need (last_error says what)
    TickingStopped,  // pgque.stop() was called in the database: no ticks, no maintenance
};
const char *SlotStateName(SlotState state);

using core::kWakeQueueIds;
using core::kWakeUnknownQueues;
using core::WakeRecord;
constexpr int kWakeRingSize = 256;
// A commit merges into one of this many newest records not taken yet.
constexpr int kWakeMergeLookBack = 4;
constexpr int kErrorTextSize = 256;

struct DatabaseSlot {
    // Written by the launcher under SharedState::lock (exclusive); read under
    // it (shared).
    Oid database;  // InvalidOid: slot is free
    char database_name[NAMEDATALEN];

    // Everything below under mutex. life: written only by slot_table.cpp.
    slock_t mutex;
    core::SlotLife life;
    SlotState state;  // reported by its process
    int unserved_limit;  // > 0: not started, max_workers (this value) reached
    Latch *latch;  // the worker's process latch while it runs
    TimestampTz started_at;
    TimestampTz last_tick_at;
    TimestampTz last_maint_at;
    TimestampTz last_error_at;
    TimestampTz stop_requested_at;  // 0 unless a DROP DATABASE is waiting for it
    std::uint64_t ticks;
    char last_error[kErrorTextSize];
    // Wake-ups: commits of event writers (a ring, newest at wake_count - 1)
    // and consumer state changes.
    std::uint64_t wake_count;
    std::uint64_t wakes_taken;  // the worker has taken the records before this
    WakeRecord wakes[kWakeRingSize];
    bool consumer_changed;
    bool config_changed;  // pgque_worker.consumer or .route changed
    // The worker will run a tick pass at a time it has set (tick_min_gap):
    // commits record their wake-up but leave its latch alone, so that a
    // stream of commits costs neither them a signal nor the worker a wake.
    bool pass_scheduled;
};

// A consumer worker: one process per enabled consumer with routes, started
// by its database's worker.
struct ConsumerSlot {
    // Assigned and freed (slot_table.cpp) under SharedState::lock
    // (exclusive); read under it (shared).
    Oid database;    // InvalidOid: slot is free
    int consumer_id; // pgque_worker.consumer.id
    char queue[NAMEDATALEN];
    char consumer[NAMEDATALEN];

    // Below under mutex. life: written only by slot_table.cpp.
    slock_t mutex;
    core::SlotLife life;
    Latch *latch;
    bool reload;     // configuration changed: read it again before the next batch
    bool idle;       // waiting for a batch (not inside one)
};

struct SharedState {
    LWLock *lock;  // slot ownership (database, database_name)
    slock_t mutex;
    Latch *launcher_latch;
    pid_t launcher_pid;
    std::uint64_t rescan_requests;  // bumped by CREATE EXTENSION pgque_worker
    int slot_count;
    ConsumerSlot *consumers;  // slot_count of them, in a shared memory area of their own
    DatabaseSlot slots[FLEXIBLE_ARRAY_MEMBER];
};

// Shared-memory sizing and attachment (hooks installed by InstallSharedState).
void InstallSharedState();
SharedState *Shared();  // nullptr when the module was not preloaded

// Index of the slot serving `database`, or -1. Takes the lock in shared mode.
int FindSlot(Oid database);

// Sets the latch of every consumer worker of `database` (on `queue`, or all
// of them for nullptr); with reload, they read their configuration again.
void WakeConsumers(Oid database, const char *queue, bool reload);

// Sets the launcher's latch; with rescan, also asks it to look for databases
// that gained extension pgque_worker.
void WakeLauncher(bool rescan);

}  // namespace pgque::worker
