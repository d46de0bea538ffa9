// The life cycle of a database worker process and its slot: attaching at
// start, the state it leaves behind at exit.
#pragma once

#include "pgque_worker/worker/shared_state.hpp"

namespace pgque::worker {

// Sets up signals, connects to the slot's database (as pgque_worker.role)
// and marks the slot as ours. The slot is released by an exit callback
// however the process ends.
DatabaseSlot &AttachWorkerToSlot(int slot_index);

// Leaves `state` in the slot and exits the process. failure: counts towards
// the launcher's restart back-off.
[[noreturn]] void ExitWorker(DatabaseSlot &slot, SlotState state, bool failure);

}  // namespace pgque::worker
