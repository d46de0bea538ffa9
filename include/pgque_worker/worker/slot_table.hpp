// The slot table: database and consumer slots in shared memory, moved only
// through the transitions of core::SlotLife (slot_life.hpp), here. Owners
// (the launcher, database workers, the DROP DATABASE guard) assign, stop and
// free slots; each process attaches to its own slot with the generation it
// was started with and leaves it when it exits. See README.md here for the
// state machine.
//
// Locks: a slot's identity (database, consumer) and every transition that
// may free it need SharedState::lock held EXCLUSIVE by the caller
// (functions named ...Locked); the rest of a slot is under its spinlock,
// taken here.
#pragma once

#include <cstdint>

#include "pgque_worker/core/slot_life.hpp"
#include "pgque_worker/worker/shared_state.hpp"

namespace pgque::worker {

enum class SlotKind : int { Database = 0, Consumer = 1 };

// ---- Owners: SharedState::lock held exclusive --------------------------

bool AssignDatabaseSlotLocked(int index, Oid database, const char *name, std::int64_t now);
bool AssignConsumerSlotLocked(int index, Oid database, int consumer_id, const char *queue, const char *consumer,
                              std::int64_t now);
// Asks the slot's process to stop (its latch is set; it exits at its next
// check, logging why at LOG), or frees a slot that has none (Freed).
core::StopAction StopSlotLocked(SlotKind kind, int index, core::StopCause cause, std::int64_t now);
// Stops (Release) every consumer slot of `database`; returns how many still
// have a process.
int ReleaseConsumersOfLocked(Oid database, std::int64_t now);
bool StartRefusedLocked(SlotKind kind, int index, std::uint32_t generation, std::int64_t now);
bool VanishedLocked(SlotKind kind, int index, std::uint32_t generation, std::int64_t now);

// ---- Owners: SharedState::lock held in either mode ---------------------

// Waiting -> Registered; *generation goes into the process's bgw_extra.
bool RegisterSlot(SlotKind kind, int index, std::int64_t now, std::uint32_t *generation);
core::SlotLife LifeOf(SlotKind kind, int index);

// ---- A worker process and its own slot (takes the locks) ---------------

// Attaches this process to its slot (index and generation from its
// registration). On Attached, the slot is left however the process ends:
// by ExitThisProcess, or as a failure (error, crash, pg_terminate_backend).
core::AttachResult AttachThisProcess(SlotKind kind, int index);
// This process did useful work: a later failure restarts it at once.
void MarkThisProcessHealthy();
// What a stop asked of this process (StopCause::None: none).
core::StopCause StopAskedOfThisProcess();
// Logs `why` at LOG (a clean exit is no FATAL) and exits, leaving the slot
// as `kind` says (a stop's cause takes precedence).
[[noreturn]] void ExitThisProcess(core::ExitKind kind, const char *why, int elevel = LOG);

}  // namespace pgque::worker
