#pragma once

namespace pgque::worker {

// Registers the launcher as a static background worker (from _PG_init, in
// the postmaster).
void RegisterLauncher();

}  // namespace pgque::worker
