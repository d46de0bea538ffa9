// Starting a worker process, written once for every kind: the launcher's
// static registration, a slot's dynamic process (its generation in
// bgw_extra), and a process's start: signals, its slot, its connection.
#pragma once

#include <cstdint>

#include "pgque_worker/worker/slot_table.hpp"

extern "C" {
#include "postmaster/bgworker.h"
}

namespace pgque::worker {

// Registers the launcher as a static background worker (from _PG_init).
void RegisterLauncher();

// Asks the postmaster for the process of slot `index` (notifying this
// process of its start and end); nullptr when no background worker slot is
// free (max_worker_processes).
BackgroundWorkerHandle *StartSlotProcess(SlotKind kind, int index, std::uint32_t generation, const char *name);

// A slot process's start: signals, then its slot. Exits the process (at LOG)
// when the slot is not, or no longer, its own, or was asked to stop.
void StartOwnSlot(SlotKind kind, int index);

// Connects to the database as pgque_worker.role (the bootstrap superuser
// when empty), names the process, and pins the session's search_path.
void ConnectWorker(Oid database, const char *database_name, const char *role, const char *application_name);

}  // namespace pgque::worker
