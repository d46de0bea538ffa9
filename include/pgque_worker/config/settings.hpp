// The pgque_worker.* GUCs (postgresql.conf; reloaded on SIGHUP).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace pgque::config {

// Defines every GUC; called once from _PG_init in the postmaster.
void DefineSettings();

// Current values (as of the last configuration reload of this process).
int MaxWorkers();
int MaxConsumerWorkers();
int TickIntervalMs();
// pgque_worker.tick_min_gap: passes woken by commits are at least this far apart.
int TickMinGapMs();
int RetryIntervalMs();
int MaintIntervalMs();
std::string WorkerRole();
int HttpMaxConnections();
int HttpTimeoutMs();                         // upper bound of a route's timeout
std::string HttpAllowedHosts();
std::size_t MaxBatchBytes();                 // memory a consumer worker holds of a batch at once
int PoisonCrashLimit();                      // deaths in flight before a message is dead-lettered
int MaxTrackedConsumers();                   // entries of the shared counters hash (fixed at start)
int WebhookHistory();                        // attempts per webhook history table; 0: no history
// pgque_worker.databases. Calls PostgreSQL (palloc): use inside pg::Call.
bool DatabaseAllowed(const char *datname);

}  // namespace pgque::config
