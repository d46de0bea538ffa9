// The database worker: one process per served database. It ticks every
// queue (TickPolicy decides when), moves due retries back and runs
// maintenance, calling only functions of pgque's API. See README.md here for
// its states and who wakes it.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/core/error_shape.hpp"
#include "pgque_worker/core/schedule.hpp"
#include "pgque_worker/core/utf8.hpp"
#include "pgque_worker/core/tick_policy.hpp"
#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/session.hpp"
#include "pgque_worker/pg/spi.hpp"
#include "pgque_worker/version.hpp"
#include "pgque_worker/worker/consumer_supervisor.hpp"
#include "pgque_worker/worker/process_loop.hpp"
#include "pgque_worker/worker/shared_state.hpp"
#include "pgque_worker/worker/slot_table.hpp"
#include "pgque_worker/worker/worker_process.hpp"

extern "C" {
#include "commands/dbcommands.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/syscache.h"

PGDLLEXPORT void pgque_worker_database_main(Datum slot_index);
}

namespace pgque::worker {

namespace {

// What the worker needs of the engine, all of it pgque's public API; the
// version of extension pgque_worker (consumers run only on the schema this
// module was built for); and why pgque_worker.role cannot serve, or NULL.
constexpr const char *kReadinessSql =
    "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pgque_worker'),"
    "       pg_catalog.to_regprocedure('pgque.get_queue_info()') IS NOT NULL"
    "   AND pg_catalog.to_regprocedure('pgque.get_consumer_info()') IS NOT NULL"
    "   AND pg_catalog.to_regprocedure('pgque.ticker(text)') IS NOT NULL"
    "   AND pg_catalog.to_regprocedure('pgque.force_next_tick(text)') IS NOT NULL"
    "   AND pg_catalog.to_regprocedure('pgque.maint_retry_events()') IS NOT NULL"
    "   AND pg_catalog.to_regprocedure('pgque.maint()') IS NOT NULL,"
    "       pg_catalog.to_regprocedure('pgque.maint_rotate_tables_step2()') IS NOT NULL,"
    "       (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgque_worker'),"
    "       (SELECT CASE"
    "          WHEN EXISTS (SELECT FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) c"
    "                        WHERE s.setrole = 0 AND s.setdatabase = (SELECT d.oid FROM pg_catalog.pg_database d"
    "                                                   WHERE d.datname = pg_catalog.current_database())"
    "                          AND pg_catalog.texticregexeq(c, '^pgque_worker\\.serve_database=(of|off|f|fa|fal|fals|false|n|no|0)$')) THEN"
    "            'pgque_worker.serve_database is off for this database'"
    "            || ' (ALTER DATABASE ... RESET pgque_worker.serve_database serves it again)'"
    // The workers call the pgque API as pgque_worker.role: a pgque schema
    // or function of a lesser role (a schema created where the API is not
    // installed yet, say) would run that role's code with the workers'
    // privileges. The rule of pgque_worker._pgque_api_trusted(), written out
    // here: the workers tick databases whose pgque_worker schema is older.
    // $1: whether to look (a scan of pg_proc and pg_class): on full passes,
    // while not ready, and after pg_proc, pg_namespace or pg_class changed
    // (see NoteCatalogChange); the scans were a fifth of an idle worker's
    // time with 1,000 queues.
    "          WHEN $1::pg_catalog.bool AND (EXISTS (SELECT FROM pg_catalog.pg_namespace n"
    "                         JOIN pg_catalog.pg_roles o ON o.oid = n.nspowner"
    "                        WHERE n.nspname = 'pgque' AND NOT o.rolsuper)"
    "            OR EXISTS (SELECT FROM pg_catalog.pg_proc p"
    "                         JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
    "                         JOIN pg_catalog.pg_roles o ON o.oid = p.proowner"
    "                        WHERE n.nspname = 'pgque' AND NOT o.rolsuper)"
    "            OR EXISTS (SELECT FROM pg_catalog.pg_class c"
    "                         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    "                         JOIN pg_catalog.pg_roles o ON o.oid = c.relowner"
    "                        WHERE n.nspname = 'pgque' AND NOT o.rolsuper)) THEN"
    "            'schema pgque or a function or table in it belongs to a role that is not a superuser;'"
    "            || ' the workers call the pgque API with their own privileges and serve'"
    "            || ' only an API installed by a superuser'"
    "          WHEN r.rolsuper THEN NULL"
    "          WHEN NOT r.rolbypassrls THEN"
    "            'pgque_worker.role \"' || r.rolname || '\" must be a superuser or have BYPASSRLS'"
    "            || ' (route secrets and headers are readable by their owners only)'"
    "        END"
    "          FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER),"
    // pgque_pgq's start()/stop() switch this database's ticking (upstream
    // pgque has no such function: its start()/stop() drive pg_cron).
    "       pg_catalog.to_regprocedure('pgque.ticker_stopped()') IS NOT NULL,"
    // Where queue ids are named (readable: passes follow the queues written;
    // else every pass looks at every queue).
    "       CASE WHEN pg_catalog.to_regclass('pgque.queue') IS NOT NULL THEN"
    "              CASE WHEN pg_catalog.has_table_privilege('pgque.queue', 'SELECT') THEN 'pgque' END"
    "            WHEN pg_catalog.to_regclass('pgq.queue') IS NOT NULL THEN"
    "              CASE WHEN pg_catalog.has_table_privilege('pgq.queue', 'SELECT') THEN 'pgq' END"
    "       END";

// A queue's tick state and PgQ's thresholds, for every queue (a full pass)
// or one (a pass woken by commits); durations in microseconds.
#define PGQUE_WORKER_QUEUE_COLUMNS                                                        \
    "SELECT q.queue_name, q.ev_new, q.queue_ticker_paused, q.queue_external_ticker,"      \
    "       q.last_tick_id,"                                                              \
    "       (pg_catalog.date_part('epoch', q.ticker_lag) * 1000000)::pg_catalog.int8,"    \
    "       q.queue_ticker_max_count,"                                                    \
    "       (pg_catalog.date_part('epoch', q.queue_ticker_max_lag) * 1000000)::pg_catalog.int8," \
    "       (pg_catalog.date_part('epoch', q.queue_ticker_idle_period) * 1000000)::pg_catalog.int8"
constexpr const char *kObserveAllSql = PGQUE_WORKER_QUEUE_COLUMNS " FROM pgque.get_queue_info() q";
constexpr const char *kObserveOneSql = PGQUE_WORKER_QUEUE_COLUMNS " FROM pgque.get_queue_info($1) q";
#undef PGQUE_WORKER_QUEUE_COLUMNS

// A consumer is busy while it has a batch open, and also while a tick it has
// not received yet waits for it: another tick would only cut the waiting
// events into smaller batches (under load, one per commit). $2: the queue's
// last tick.
constexpr const char *kConsumerCountsSql =
    "SELECT pg_catalog.count(*),"
    "       pg_catalog.count(*) FILTER (WHERE i.current_batch IS NOT NULL OR i.last_tick < $2::pg_catalog.int8)"
    "  FROM pgque.get_consumer_info($1) i";

// The names of queues by id, for the ids the commit hook read off the event
// tables' names (the engine's queue table: PgQ's or upstream pgque's).
constexpr const char *kQueueNamesPgqSql =
    "SELECT queue_id, queue_name FROM pgq.queue WHERE queue_id = ANY ($1::pg_catalog.int4[])";
constexpr const char *kQueueNamesPgqueSql =
    "SELECT queue_id, queue_name FROM pgque.queue WHERE queue_id = ANY ($1::pg_catalog.int4[])";

// Every this many tick_intervals, a pass looks at every queue: a safety net
// for events no commit announced (COMMIT PREPARED, writes by other means)
// and for dropped queues; in between, periodic passes look only at the
// queues that are pending or due an idle tick.
constexpr std::int64_t kFullPassTickIntervals = 10;

// The worker waits this long at most for a lock, then gives way and tries
// again at the next pass: shorter than deadlock_timeout (1 s by default), so
// that DDL on a queue (drop_queue) never deadlocks with a tick, and the
// worker, not the user's statement, is the one that backs off.
constexpr const char *kLockTimeout = "100ms";
constexpr std::int64_t kLockRetryUs = 100 * 1000;

// An error that says a queue is being created or dropped under the pass:
// its locks are held (lock timeout), or its objects vanished between the
// pass's snapshot and their use. pgque's ticker(queue) says a vanished queue
// with PgQ's P0001 "no such queue" (force_next_tick: "queue not found: x");
// pgque_pgq's get_queue_info reads event sequences by OID, and one dropped
// after it was looked up says "could not open relation with OID n" (XX000).
bool GivesWayToDdl(const pg::Error &e)
{
    const std::string_view message = e.what();
    return pg::IsLockTimeout(e) || e.sqlstate() == ERRCODE_UNDEFINED_TABLE ||
           e.sqlstate() == ERRCODE_UNDEFINED_OBJECT ||
           (e.sqlstate() == ERRCODE_RAISE_EXCEPTION &&
            (message == "no such queue" || message.rfind("queue not found: ", 0) == 0)) ||
           (e.sqlstate() == ERRCODE_INTERNAL_ERROR && message.rfind("could not open relation with OID ", 0) == 0);
}

bool IsTrue(const pg::Value &v) { return v && *v == "t"; }

// Set by a syscache callback when pg_proc, pg_namespace, pg_class or pg_authid
// changed, or by a relcache callback (PostgreSQL delivers these at transaction
// start and at lock acquisition):
// the pass that follows checks who owns schema pgque and its contents again
// before it calls anything in it, so a function planted or given away
// between two full passes is never called.
volatile bool catalog_changed = false;
void NoteCatalogChange(Datum, int, uint32) { catalog_changed = true; }
void NoteRelationChange(Datum, Oid) { catalog_changed = true; }
bool CatalogChanged() { return catalog_changed; }
bool TakeCatalogChange()
{
    bool changed = catalog_changed;
    catalog_changed = false;
    return changed;
}

class DatabaseWorker {
public:
    explicit DatabaseWorker(DatabaseSlot &slot) : slot_(slot)
    {
        ApplySettings();
        pg::UseGenericPlans();
        pg::Call([] {
            CacheRegisterSyscacheCallback(PROCOID, NoteCatalogChange, 0);
            CacheRegisterSyscacheCallback(NAMESPACEOID, NoteCatalogChange, 0);
            CacheRegisterSyscacheCallback(RELOID, NoteCatalogChange, 0);
            // A role that loses superuser (pg_authid), and a view's rule
            // replaced (pg_rewrite: a relcache invalidation only).
            CacheRegisterSyscacheCallback(AUTHOID, NoteCatalogChange, 0);
            CacheRegisterRelcacheCallback(NoteRelationChange, 0);
        });
        SchedulePass(false);  // a predecessor's schedule is not ours
    }

    [[noreturn]] void Run();

private:
    enum class Readiness { Ready, NoApi, NoExtension, Refused, Stopped };

    void ApplySettings();
    void ReloadIfAsked();
    void StopIfAsked();
    bool TakeConfigChanged();
    void ReportState(SlotState state);
    void TakeWakes(std::vector<WakeRecord> &commits, bool &lost, bool &consumer_changed);
    // Whether commits or a consumer asked for a pass since the last one.
    bool WakesPending();
    // Tells committers whether a pass is already due at a set time.
    void SchedulePass(bool scheduled);
    bool NameQueues(pg::Transaction *tx, const std::vector<WakeRecord> &records,
                    std::vector<core::CommittedWrite> &commits);
    core::QueueObservation Observe(pg::Transaction &tx, const pg::Row &row);
    void TickPass(bool periodic_due, bool full_due);
    void ReconcileConsumers(bool config_changed);
    void RetryPass();
    void MaintPass();
    void SetReadiness(Readiness readiness);
    void NoteSchemaVersion(const std::string &installed);
    void RecordError(const char *what, const pg::Error &e);
    void RecordTicks(std::size_t count, std::int64_t now_us);
    void RecordMaint(std::int64_t now_us);

    DatabaseSlot &slot_;
    std::string role_ = config::WorkerRole();
    core::TickPolicy policy_;
    ConsumerSupervisor consumers_;
    core::IntervalTimer periodic_;
    core::IntervalTimer full_;  // a pass over every queue
    core::IntervalTimer retry_;
    core::IntervalTimer maint_;
    std::int64_t pause_until_us_ = 0;  // after a failed pass
    std::int64_t last_pass_us_ = 0;    // start of the last tick pass
    std::uint64_t wakes_seen_ = 0;
    Readiness readiness_ = Readiness::NoApi;
    bool announced_ = false;
    bool has_step2_ = false;
    const char *queue_names_sql_ = nullptr;          // kQueueNames*Sql, or none readable
    std::map<std::int32_t, std::string> queue_names_;  // by id; cleared on full passes
    std::string schema_version_;   // of extension pgque_worker, as last seen
    bool schema_current_ = false;  // it is kVersion: consumers may run
    std::string refusal_;          // why pgque_worker.role cannot serve, when Refused
    std::string last_logged_error_;
    std::map<std::string, std::string> queue_errors_;
};

void DatabaseWorker::ApplySettings()
{
    periodic_.SetInterval(config::TickIntervalMs() * 1000LL);
    full_.SetInterval(kFullPassTickIntervals * config::TickIntervalMs() * 1000LL);
    retry_.SetInterval(config::RetryIntervalMs() * 1000LL);
    maint_.SetInterval(config::MaintIntervalMs() * 1000LL);
}

void DatabaseWorker::ReloadIfAsked()
{
    if (!ReloadConfigurationIfAsked())
        return;
    ApplySettings();
    if (config::WorkerRole() != role_) {
        const std::string why = std::string("pgque_worker.role changed; restarting the worker of database \"") +
                                slot_.database_name + "\"";
        ExitThisProcess(core::ExitKind::Restart, why.c_str());
    }
}

// A stop asked by the launcher (max_workers lowered, database no longer
// served) or by DROP DATABASE: this database's consumers go too, then the
// process exits cleanly (LOG, no FATAL).
void DatabaseWorker::StopIfAsked()
{
    const core::StopCause cause = StopAskedOfThisProcess();
    if (cause == core::StopCause::None)
        return;
    consumers_.ReleaseAll();
    ReloadIfAsked();  // the limit's new value (the same SIGHUP)
    const std::string why = std::string("stopping the worker of database \"") + slot_.database_name +
                            "\": " + core::StopCauseName(cause) +
                            (cause == core::StopCause::Limit
                                 ? " (pgque_worker.max_workers = " + std::to_string(config::MaxWorkers()) + ")"
                                 : std::string());
    ExitThisProcess(core::ExitKind::Done, why.c_str());
}

// The flag is taken only by the pass that applies it, and put back when
// that pass fails (ReconcileConsumers' caller).
bool DatabaseWorker::TakeConfigChanged()
{
    SpinLockAcquire(&slot_.mutex);
    bool changed = slot_.config_changed;
    slot_.config_changed = false;
    SpinLockRelease(&slot_.mutex);
    return changed;
}

// The only writer of the state this process reports in its slot.
void DatabaseWorker::ReportState(SlotState state)
{
    SpinLockAcquire(&slot_.mutex);
    slot_.state = state;
    SpinLockRelease(&slot_.mutex);
}

// Commits announced since the last call (lost: the ring overflowed), and
// whether a consumer started or finished a batch.
void DatabaseWorker::TakeWakes(std::vector<WakeRecord> &commits, bool &lost, bool &consumer_changed)
{
    SpinLockAcquire(&slot_.mutex);
    std::uint64_t count = slot_.wake_count;
    consumer_changed = slot_.consumer_changed;
    slot_.consumer_changed = false;
    std::uint64_t first = wakes_seen_;
    lost = count - first > static_cast<std::uint64_t>(kWakeRingSize);
    if (lost)
        first = count - kWakeRingSize;
    WakeRecord copy[kWakeRingSize];
    std::size_t n = 0;
    for (std::uint64_t i = first; i < count; i++)
        copy[n++] = slot_.wakes[i % kWakeRingSize];
    slot_.wakes_taken = count;
    SpinLockRelease(&slot_.mutex);

    wakes_seen_ = count;
    commits.assign(copy, copy + n);
}

// The commits with the names of the queues they wrote. A commit whose
// queues are all gone (dropped) needs nothing; one whose queues are unknown
// (or cannot be named) may concern any queue. Ids not cached are looked up
// in tx; without one (tx null), false when a lookup is needed.
bool DatabaseWorker::NameQueues(pg::Transaction *tx, const std::vector<WakeRecord> &records,
                                std::vector<core::CommittedWrite> &commits)
{
    std::string missing;
    for (const WakeRecord &r : records)
        for (int i = 0; i < r.queue_count; i++)
            if (!queue_names_.count(r.queue_ids[i]))
                missing += (missing.empty() ? "{" : ",") + std::to_string(r.queue_ids[i]);
    if (!missing.empty() && queue_names_sql_) {
        if (!tx)
            return false;
        for (const pg::Row &row : tx->Query(queue_names_sql_, {missing + "}"}))
            queue_names_[std::stoi(row[0].value_or("0"))] = row[1].value_or("");
    }

    commits.clear();
    for (const WakeRecord &r : records) {
        core::CommittedWrite c{r.txid, r.started_us, {}};
        if (r.queue_count > 0 && queue_names_sql_) {
            for (int i = 0; i < r.queue_count; i++) {
                auto name = queue_names_.find(r.queue_ids[i]);
                if (name != queue_names_.end())
                    c.queues.push_back(name->second);
            }
            if (c.queues.empty())
                continue;
        }
        commits.push_back(std::move(c));
    }
    return true;
}

core::QueueObservation DatabaseWorker::Observe(pg::Transaction &tx, const pg::Row &row)
{
    auto number = [](const pg::Value &v, std::int64_t otherwise) {
        return v ? std::stoll(*v) : otherwise;
    };
    core::QueueObservation q;
    q.name = row[0].value_or("");
    q.new_events = number(row[1], 0);
    q.paused = IsTrue(row[2]);
    q.external_ticker = IsTrue(row[3]);
    q.last_tick_id = number(row[4], 0);
    q.ticker_lag_us = number(row[5], -1);
    q.max_count = number(row[6], 0);
    q.max_lag_us = number(row[7], 0);
    q.idle_period_us = number(row[8], 0);
    q.observed_at_us = pg::NowUs();
    if (policy_.NeedsConsumerCounts(q)) {
        std::vector<pg::Row> counts = tx.Query(kConsumerCountsSql, {q.name, row[4]});
        q.consumers = static_cast<int>(number(counts.at(0)[0], 0));
        q.busy_consumers = static_cast<int>(number(counts.at(0)[1], 0));
    }
    return q;
}

void DatabaseWorker::TickPass(bool periodic_due, bool full_due)
{
    std::vector<WakeRecord> records;
    bool lost = false;
    bool consumer_changed = false;
    TakeWakes(records, lost, consumer_changed);
    if (lost)
        policy_.NoteLostCommits();
    if (consumer_changed)
        policy_.NoteConsumersChanged();
    // Nothing to look at (the queues written have busy consumers, nothing
    // pending, no timer): no transaction at all.
    std::vector<core::CommittedWrite> commits;
    bool noted = readiness_ == Readiness::Ready && NameQueues(nullptr, records, commits);
    if (noted) {
        policy_.NoteCommits(commits);
        core::PassScope scope = policy_.Scope(periodic_due, full_due, pg::NowUs());
        if (!scope.all && scope.queues.empty()) {
            policy_.EndPass(false);
            return;
        }
    }

    std::vector<std::string> ticked;
    std::optional<core::TxidSnapshot> snapshot;
    bool full = false;
    {
        pg::Transaction tx("pgque_worker: ticking queues", pg::Isolation::RepeatableRead);
        tx.SetLockTimeout(kLockTimeout);
        // The extension and the API are checked on periodic passes only (and
        // until they are there): passes woken by commits are the hot path.
        if (periodic_due || readiness_ != Readiness::Ready || CatalogChanged()) {
            const bool check_trust = full_due || readiness_ != Readiness::Ready || TakeCatalogChange();
            pg::Row ready = tx.Query(kReadinessSql, {check_trust ? "t" : "f"}).at(0);
            if (!IsTrue(ready[0])) {
                tx.Commit();
                SetReadiness(Readiness::NoExtension);
            }
            has_step2_ = IsTrue(ready[2]);
            NoteSchemaVersion(ready[3].value_or(""));
            if (ready[4]) {
                tx.Commit();
                refusal_ = *ready[4];
                SetReadiness(Readiness::Refused);
                policy_.EndPass(false);
                return;
            }
            if (!IsTrue(ready[1])) {
                tx.Commit();
                SetReadiness(Readiness::NoApi);
                policy_.EndPass(false);
                return;
            }
            if (IsTrue(ready[5]) && IsTrue(tx.QueryValue("SELECT pgque.ticker_stopped()"))) {
                tx.Commit();
                SetReadiness(Readiness::Stopped);
                policy_.EndPass(false);
                return;
            }
            queue_names_sql_ = !ready[6]              ? nullptr
                               : *ready[6] == "pgque" ? kQueueNamesPgqueSql
                                                      : kQueueNamesPgqSql;
            SetReadiness(Readiness::Ready);
        }

        if (!noted) {
            NameQueues(&tx, records, commits);
            policy_.NoteCommits(commits);
        }
        core::PassScope scope = policy_.Scope(periodic_due, full_due, pg::NowUs());
        full = scope.all;
        std::vector<core::QueueObservation> observed;
        if (full) {
            queue_names_.clear();  // ids of dropped queues go too
            for (const pg::Row &row : tx.Query(kObserveAllSql))
                observed.push_back(Observe(tx, row));
        } else {
            for (const std::string &name : scope.queues)
                for (const pg::Row &row : tx.Query(kObserveOneSql, {name}))
                    observed.push_back(Observe(tx, row));
        }

        for (const core::QueueObservation &q : observed) {
            core::TickAction action = policy_.Decide(q, periodic_due);
            if (action == core::TickAction::None)
                continue;
            // One subtransaction per queue: a queue that cannot be ticked
            // (dropped or paused meanwhile, a privilege missing) does not
            // stop the others.
            std::optional<pg::Error> error = tx.Subtransaction([&] {
                if (action == core::TickAction::Force)
                    tx.Query("SELECT pgque.force_next_tick($1)", {q.name});
                if (tx.QueryValue("SELECT pgque.ticker($1)", {q.name}))
                    ticked.push_back(q.name);
            });
            auto known = queue_errors_.find(q.name);
            // A queue being dropped right now: its DDL holds the locks (or
            // the queue is already gone); it is passed by, quietly, until
            // the next pass.
            if (error && GivesWayToDdl(*error))
                continue;
            if (error) {
                // Once per queue and error shape (see core::ErrorShape).
                std::string shape = core::ErrorShape(error->what());
                if (known == queue_errors_.end() || known->second != shape) {
                    queue_errors_[q.name] = shape;
                    RecordError(("ticking queue \"" + q.name + "\"").c_str(), *error);
                }
            } else if (known != queue_errors_.end()) {
                queue_errors_.erase(known);
            }
        }
        // In REPEATABLE READ every statement shares the transaction's
        // snapshot: this is the snapshot of the ticks just made.
        if (!ticked.empty())
            snapshot = core::TxidSnapshot::Parse(
                tx.QueryValue("SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text").value_or(""));
        tx.Commit();
    }

    std::int64_t after_us = pg::NowUs();
    for (const std::string &queue : ticked)
        if (snapshot)
            policy_.RecordTick(queue, *snapshot, after_us);
    policy_.EndPass(full);
    consumers_.WakeQueues(ticked);
    RecordTicks(ticked.size(), after_us);
}

// Consumers run only on the schema this module was built for: after the
// package is upgraded and before ALTER EXTENSION pgque_worker UPDATE, queues
// are still ticked but their consumers wait.
void DatabaseWorker::NoteSchemaVersion(const std::string &installed)
{
    if (installed == schema_version_)
        return;
    schema_version_ = installed;
    schema_current_ = installed == kVersion;
    if (schema_current_)
        return;
    consumers_.ReleaseAll();
    std::string text = "extension pgque_worker is version " + installed + " in this database; module " +
                       kVersion + " runs no consumers until ALTER EXTENSION pgque_worker UPDATE";
    RecordError("consumers stopped", pg::Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, text));
}

void DatabaseWorker::ReconcileConsumers(bool config_changed)
{
    pg::Transaction tx("pgque_worker: starting and stopping consumer workers");
    consumers_.Reconcile(tx, config_changed);
    tx.Commit();
}

void DatabaseWorker::RetryPass()
{
    pg::Transaction tx("pgque_worker: moving due retries back");
    tx.SetLockTimeout(kLockTimeout);
    tx.Query("SELECT pgque.maint_retry_events()");
    tx.Commit();
}

void DatabaseWorker::MaintPass()
{
    {
        pg::Transaction tx("pgque_worker: maintenance");
        tx.SetLockTimeout(kLockTimeout);
        tx.Query("SELECT pgque.maint()");
        tx.Commit();
    }
    // PgQ's rotation step 2 must be a later transaction than step 1.
    if (has_step2_) {
        pg::Transaction tx("pgque_worker: maintenance (rotation step 2)");
        tx.SetLockTimeout(kLockTimeout);
        tx.Query("SELECT pgque.maint_rotate_tables_step2()");
        tx.Commit();
    }
    RecordMaint(pg::NowUs());
}

void DatabaseWorker::SetReadiness(Readiness readiness)
{
    if (readiness == Readiness::NoExtension) {
        consumers_.ReleaseAll();
        ReportState(SlotState::NoExtension);
        // Probing a database that does not use pgque_worker is routine.
        const std::string why = std::string("extension pgque_worker is not installed in database \"") +
                                slot_.database_name + "\"; its worker exits";
        ExitThisProcess(core::ExitKind::Done, why.c_str(), DEBUG1);
    }
    if (readiness == readiness_ && announced_)
        return;
    readiness_ = readiness;
    announced_ = true;
    if (readiness == Readiness::Refused) {
        consumers_.ReleaseAll();
        ReportState(SlotState::Refused);
        SpinLockAcquire(&slot_.mutex);
        core::CopyTruncatedUtf8(refusal_, slot_.last_error, sizeof slot_.last_error);
        slot_.last_error_at = pg::NowUs();
        SpinLockRelease(&slot_.mutex);
        pg::Call([&] {
            ereport(LOG, (errmsg("pgque_worker: not serving database \"%s\": %s", slot_.database_name,
                                 refusal_.c_str()),
                          errhint("See \"The worker role\" in docs/worker.md; checked again every "
                                  "pgque_worker.tick_interval.")));
        });
        return;
    }
    if (readiness == Readiness::Stopped) {
        ReportState(SlotState::TickingStopped);
        pg::Call([&] {
            ereport(LOG, (errmsg("pgque_worker: ticking and maintenance of database \"%s\" stopped by "
                                 "pgque.stop(); checking every pgque_worker.tick_interval for pgque.start()",
                                 slot_.database_name)));
        });
        return;
    }
    ReportState(readiness == Readiness::Ready ? SlotState::Running : SlotState::NoApi);
    if (readiness == Readiness::Ready)
        MarkThisProcessHealthy();
    // One log line per change of state, not one per pass.
    if (readiness == Readiness::Ready)
        pg::Call([&] {
            ereport(LOG, (errmsg("pgque_worker: ticking the queues of database \"%s\"",
                                 slot_.database_name)));
        });
    else
        pg::Call([&] {
            ereport(LOG,
                    (errmsg("pgque_worker: database \"%s\" has no pgque API; checking again "
                            "every pgque_worker.tick_interval",
                            slot_.database_name),
                     errhint("Install it with CREATE EXTENSION pgque_pgq CASCADE, or install "
                             "upstream pgque.")));
        });
}

void DatabaseWorker::RecordError(const char *what, const pg::Error &e)
{
    std::string text = std::string(what) + ": " + e.what();
    SpinLockAcquire(&slot_.mutex);
    core::CopyTruncatedUtf8(text, slot_.last_error, sizeof slot_.last_error);
    slot_.last_error_at = pg::NowUs();
    SpinLockRelease(&slot_.mutex);
    // Once per shape: an error that names a new number on every attempt
    // (PgQ's "Invalid PgQ state ... cur txid=N") is still one error.
    std::string shape = std::string(what) + ": " + core::ErrorShape(e.what());
    if (shape == last_logged_error_)
        return;
    last_logged_error_ = shape;
    pg::Call([&] {
        ereport(LOG, (errmsg("pgque_worker: %s", text.c_str())));
    });
}

void DatabaseWorker::RecordTicks(std::size_t count, std::int64_t now_us)
{
    if (count == 0)
        return;
    SpinLockAcquire(&slot_.mutex);
    slot_.ticks += count;
    slot_.last_tick_at = now_us;
    SpinLockRelease(&slot_.mutex);
}

void DatabaseWorker::RecordMaint(std::int64_t now_us)
{
    SpinLockAcquire(&slot_.mutex);
    slot_.last_maint_at = now_us;
    SpinLockRelease(&slot_.mutex);
}

void DatabaseWorker::SchedulePass(bool scheduled)
{
    SpinLockAcquire(&slot_.mutex);
    slot_.pass_scheduled = scheduled;
    SpinLockRelease(&slot_.mutex);
}

bool DatabaseWorker::WakesPending()
{
    SpinLockAcquire(&slot_.mutex);
    bool pending = slot_.wake_count != wakes_seen_ || slot_.consumer_changed;
    SpinLockRelease(&slot_.mutex);
    return pending;
}

void DatabaseWorker::Run()
{
    for (;;) {
        pg::Call([] { CHECK_FOR_INTERRUPTS(); });
        StopIfAsked();
        ReloadIfAsked();

        std::int64_t now = pg::NowUs();
        if (now >= pause_until_us_) {
            bool woken = WakesPending();
            SpinLockAcquire(&slot_.mutex);
            bool config_pending = slot_.config_changed;
            SpinLockRelease(&slot_.mutex);
            try {
                bool periodic_due = periodic_.Due(now);
                // Commits within tick_min_gap of the last pass wait for the
                // next one: one tick (and one batch) per queue for all of
                // them, however fast they come.
                if (woken && !periodic_due && now < last_pass_us_ + config::TickMinGapMs() * 1000LL) {
                    woken = false;
                    SchedulePass(true);
                }
                if (woken || periodic_due) {
                    bool full_due = full_.Due(now);
                    last_pass_us_ = now;
                    SchedulePass(false);
                    TickPass(periodic_due, full_due);
                    if (periodic_due)
                        periodic_.Done(now);
                    if (full_due)
                        full_.Done(now);
                }
                // Consumers: on every configuration change, and periodically
                // to restart any that exited.
                if (readiness_ == Readiness::Ready && schema_current_ && (config_pending || periodic_due)) {
                    // Its own failure (a lock on the configuration tables, say)
                    // must not hold up ticking; the change is applied later.
                    const bool config_changed = TakeConfigChanged();
                    try {
                        ReconcileConsumers(config_changed);
                    } catch (const pg::Error &e) {
                        RecordError("starting and stopping consumer workers", e);
                        SpinLockAcquire(&slot_.mutex);
                        slot_.config_changed = slot_.config_changed || config_changed;
                        SpinLockRelease(&slot_.mutex);
                    }
                }
                if (readiness_ == Readiness::Ready && retry_.Due(now)) {
                    RetryPass();
                    retry_.Done(now);
                }
                if (readiness_ == Readiness::Ready && maint_.Due(now)) {
                    MaintPass();
                    maint_.Done(now);
                }
            } catch (const pg::Error &e) {
                // Giving way to DDL is routine: try again soon, say nothing.
                if (GivesWayToDdl(e)) {
                    pause_until_us_ = now + kLockRetryUs;
                } else {
                    RecordError("pass failed", e);
                    pause_until_us_ = now + config::TickIntervalMs() * 1000LL;
                }
            }
        }

        now = pg::NowUs();
        std::int64_t wait_us = std::min({periodic_.Remaining(now), retry_.Remaining(now),
                                         maint_.Remaining(now)});
        if (WakesPending())  // held back by tick_min_gap
            wait_us = std::min<std::int64_t>(wait_us, last_pass_us_ + config::TickMinGapMs() * 1000LL - now);
        if (pause_until_us_ > now)
            wait_us = std::max(wait_us, pause_until_us_ - now);
        if (readiness_ != Readiness::Ready)
            wait_us = periodic_.Remaining(now);
        long wait_ms = std::max<long>(1, static_cast<long>((wait_us + 999) / 1000));
        WaitForWork(wait_ms);
    }
}

}  // namespace

}  // namespace pgque::worker

void pgque_worker_database_main(Datum slot_index)
{
    using namespace pgque::worker;
    pgque::pg::Entry([&] {
        const int index = DatumGetInt32(slot_index);
        StartOwnSlot(SlotKind::Database, index);
        // The launcher does not change a slot's database while its process
        // is attached.
        DatabaseSlot &slot = Shared()->slots[index];
        SpinLockAcquire(&slot.mutex);
        slot.state = SlotState::Starting;
        slot.started_at = GetCurrentTimestamp();
        SpinLockRelease(&slot.mutex);
        ConnectWorker(slot.database, slot.database_name, pgque::config::WorkerRole().c_str(),
                      "pgque_worker database worker");
        DatabaseWorker worker(slot);
        worker.Run();
    });
}
