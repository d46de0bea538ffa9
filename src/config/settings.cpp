#include <climits>
#include <cstring>
#include <string>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/pg/postgres.hpp"

extern "C" {
#include "utils/guc.h"
#include "utils/varlena.h"
}

namespace pgque::config {

namespace {

int max_workers = 4;
int max_consumer_workers = 8;
int tick_interval_ms = 1000;
int tick_min_gap_ms = 50;
int retry_interval_ms = 1000;
int maint_interval_ms = 30000;
char *worker_role = nullptr;
int http_max_connections = 32;
int http_timeout_ms = 30000;
char *http_allowed_hosts = nullptr;
char *databases = nullptr;
int max_batch_kb = 64 * 1024;
int poison_crash_limit = 2;
bool serve_database = true;
int max_tracked_consumers = 1000;
int webhook_history = 1000;

// A comma-separated list of database names, or empty for all databases.
bool CheckDatabaseList(char **newval, void **, GucSource)
{
    char *copy = pstrdup(*newval ? *newval : "");
    List *names = NIL;
    bool ok = SplitIdentifierString(copy, ',', &names);
    list_free(names);
    pfree(copy);
    if (!ok)
        GUC_check_errdetail("List syntax is invalid: give database names separated by commas.");
    return ok;
}

bool CheckRole(char **newval, void **, GucSource)
{
    if (*newval && std::strlen(*newval) >= NAMEDATALEN) {
        GUC_check_errdetail("A role name is at most %d bytes long.", NAMEDATALEN - 1);
        return false;
    }
    return true;
}

}  // namespace

void DefineSettings()
{
    // Read by the database worker from pg_db_role_setting (so that a RESET
    // takes effect without a reconnect); defined so that ALTER DATABASE may
    // set it under the reserved prefix.
    DefineCustomBoolVariable(
        "pgque_worker.serve_database",
        "Whether the workers serve this database (set it with ALTER DATABASE).",
        "off: no ticks, no maintenance, no consumers in this database, e.g. while a restore "
        "is checked or while pg_regress drives the queues itself.",
        &serve_database, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "pgque_worker.max_workers",
        "Most database worker processes pgque_worker runs at once.",
        "One per database with extension pgque_worker. They count against max_worker_processes.",
        &max_workers, 4, 1, 1024, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "pgque_worker.max_consumer_workers",
        "Most consumer worker processes pgque_worker runs at once, in all databases.",
        "One per enabled consumer with a handler. They count against max_worker_processes.",
        &max_consumer_workers, 8, 0, 1024, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "pgque_worker.tick_interval",
        "Longest wait between two checks of every queue's tick thresholds.",
        "New events are ticked as soon as their transaction commits; this bounds PgQ's "
        "threshold and idle ticks.",
        &tick_interval_ms, 1000, 10, 3600000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "pgque_worker.tick_min_gap",
        "Shortest time between two tick passes woken by commits.",
        "Commits that arrive within it are ticked together, in one batch per queue: under a steady "
        "stream of commits this bounds the ticks (and batches) per second; an event waits at most "
        "this long for its tick. 0 ticks after every commit.",
        &tick_min_gap_ms, 50, 0, 10000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "pgque_worker.retry_interval",
        "How often nacked messages that are due are moved back into their queue.",
        nullptr, &retry_interval_ms, 1000, 10, 3600000, PGC_SIGHUP, GUC_UNIT_MS, nullptr,
        nullptr, nullptr);
    DefineCustomIntVariable(
        "pgque_worker.maint_interval",
        "How often queue maintenance (table rotation, housekeeping) runs.",
        nullptr, &maint_interval_ms, 30000, 1000, 86400000, PGC_SIGHUP, GUC_UNIT_MS, nullptr,
        nullptr, nullptr);
    DefineCustomStringVariable(
        "pgque_worker.role",
        "Role the database workers connect as; empty for the bootstrap superuser.",
        "A change takes effect when the workers restart, which they do on reload.",
        &worker_role, "", PGC_SIGHUP, 0, CheckRole, nullptr, nullptr);
    DefineCustomStringVariable(
        "pgque_worker.databases",
        "Databases pgque_worker serves, separated by commas; empty for all.",
        "A database is served only where extension pgque_worker is installed.",
        &databases, "", PGC_SIGHUP, GUC_LIST_INPUT, CheckDatabaseList, nullptr, nullptr);
    DefineCustomIntVariable(
        "pgque_worker.http_max_connections",
        "Most HTTP requests a consumer worker has in flight at once.",
        nullptr, &http_max_connections, 32, 1, 10000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "pgque_worker.http_timeout",
        "Longest an HTTP request may take, whatever its route's timeout says.",
        nullptr, &http_timeout_ms, 30000, 100, 3600000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
        nullptr);
    DefineCustomStringVariable(
        "pgque_worker.http_allowed_hosts",
        "Hosts that HTTP routes of non-superusers may send to: names, \"*.domain\", or \"*\".",
        "Empty: only superusers may declare HTTP routes. Guards internal services.",
        &http_allowed_hosts, "", PGC_SUSET, GUC_LIST_INPUT, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "pgque_worker.max_batch_bytes",
        "Most message bytes a consumer worker holds in memory at once.",
        "A batch is read whole and handled in slices of at most max_messages messages and "
        "this many bytes; a single larger message is handled alone.",
        &max_batch_kb, 64 * 1024, 64, INT_MAX, PGC_SIGHUP, GUC_UNIT_KB, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "pgque_worker.poison_crash_limit",
        "Deaths of a consumer worker while handling one message before that message is dead-lettered.",
        "After a consumer worker dies during a batch, the batch is replayed one message at a time; "
        "a message that was being handled during this many deaths goes to the dead letters.",
        &poison_crash_limit, 2, 1, 100, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "pgque_worker.max_tracked_consumers",
        "Most consumers whose counters pgque_worker keeps in shared memory, in all databases.",
        "When full, the consumer idle the longest loses its counters to a new one.",
        &max_tracked_consumers, 1000, 16, 1000000, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "pgque_worker.webhook_history",
        "HTTP delivery attempts per table of the webhook history (three tables in turn); 0 turns it off.",
        "The history keeps the database's latest 2 to 3 times this many attempts; the oldest table is "
        "emptied with TRUNCATE when the one being written is full.",
        &webhook_history, 1000, 0, 10000000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("pgque_worker");
}

int MaxWorkers() { return max_workers; }
int MaxConsumerWorkers() { return max_consumer_workers; }
int TickIntervalMs() { return tick_interval_ms; }
int TickMinGapMs() { return tick_min_gap_ms; }
int RetryIntervalMs() { return retry_interval_ms; }
int MaintIntervalMs() { return maint_interval_ms; }
std::string WorkerRole() { return worker_role ? worker_role : ""; }
int HttpMaxConnections() { return http_max_connections; }
int HttpTimeoutMs() { return http_timeout_ms; }
std::string HttpAllowedHosts() { return http_allowed_hosts ? http_allowed_hosts : ""; }
std::size_t MaxBatchBytes() { return static_cast<std::size_t>(max_batch_kb) * 1024; }
int PoisonCrashLimit() { return poison_crash_limit; }
int MaxTrackedConsumers() { return max_tracked_consumers; }
int WebhookHistory() { return webhook_history; }

bool DatabaseAllowed(const char *datname)
{
    if (!databases || databases[0] == '\0')
        return true;
    // The check hook accepted the value; split it the same way.
    char *copy = pstrdup(databases);
    List *names = NIL;
    bool allowed = false;
    if (SplitIdentifierString(copy, ',', &names)) {
        ListCell *lc;
        foreach (lc, names) {
            if (std::strcmp(static_cast<const char *>(lfirst(lc)), datname) == 0)
                allowed = true;
        }
    }
    list_free(names);
    pfree(copy);
    return allowed;
}

}  // namespace pgque::config
