// What every pgque_worker process does the same way: PostgreSQL's signal
// handlers, configuration reloads, and waiting on its latch.
#pragma once

namespace pgque::worker {

// SIGHUP reloads the configuration, SIGTERM ends the process (die: the
// current transaction rolls back); then signals are unblocked.
void SetUpSignals();

// Reloads postgresql.conf if SIGHUP came; true when it did.
bool ReloadConfigurationIfAsked();

// Sends this process's table statistics (at most once a second; PostgreSQL
// rate-limits it), so that autovacuum sees the dead tuples the workers leave
// behind. Call between transactions.
void ReportTableStats();

// Reports its table statistics (for autovacuum) and the process idle, then
// waits for its latch, at most timeout_ms; exits if the postmaster dies.
void WaitForWork(long timeout_ms);

}  // namespace pgque::worker
