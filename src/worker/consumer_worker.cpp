// A consumer worker: one process per enabled consumer that has routes,
// started by its database's worker. It dispatches batch after batch, one
// transaction each, and waits on its latch (set by the database worker when
// it ticks the queue) or poll_interval when nothing is waiting.
#include <set>
#include <string>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/dispatch/consumer_config.hpp"
#include "pgque_worker/dispatch/sql_dispatch.hpp"
#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/spi.hpp"
#include "pgque_worker/worker/shared_state.hpp"

extern "C" {
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"

PGDLLEXPORT void pgque_worker_consumer_main(Datum slot_index);
}

namespace pgque::worker {

namespace {

int attached = -1;
bool clean_exit = false;  // the consumer was paused, dropped or lost its routes

void ReleaseConsumerSlot(int, Datum)
{
    SharedState *shared = Shared();
    if (!shared || attached < 0)
        return;
    ConsumerSlot &slot = shared->consumers[attached];
    SpinLockAcquire(&slot.mutex);
    slot.pid = 0;
    slot.latch = nullptr;
    slot.exited_at = GetCurrentTimestamp();
    slot.failures = clean_exit ? 0 : slot.failures + 1;
    SpinLockRelease(&slot.mutex);
    // Its database worker decides whether to start it again.
    int db = FindSlot(slot.database);
    if (db >= 0) {
        SpinLockAcquire(&shared->slots[db].mutex);
        shared->slots[db].config_changed = true;
        Latch *latch = shared->slots[db].latch;
        SpinLockRelease(&shared->slots[db].mutex);
        if (latch)
            SetLatch(latch);
    }
}

class ConsumerWorker {
public:
    explicit ConsumerWorker(ConsumerSlot &slot) : slot_(slot) {}
    [[noreturn]] void Run();

private:
    void Reload();
    bool ProcessBatch();  // true when a batch was processed
    void Log(const std::string &text);

    ConsumerSlot &slot_;
    dispatch::ConsumerConfig config_;
    std::string activity_;
    std::set<std::string> logged_unhandled_;
    std::string last_logged_error_;
};

void ConsumerWorker::Log(const std::string &text)
{
    pg::Call([&] { ereport(LOG, (errmsg("pgque_worker: %s", text.c_str()))); });
}

// Reads the configuration; exits when the consumer is gone, paused or has
// no route (its database worker stops restarting it then).
void ConsumerWorker::Reload()
{
    std::optional<dispatch::ConsumerConfig> config;
    {
        pg::Transaction tx("pgque_worker: loading consumer configuration");
        config = dispatch::LoadConsumerConfig(tx, slot_.consumer_id);
        tx.Commit();
    }
    if (!config || !config->enabled || config->routes.empty()) {
        clean_exit = true;
        pg::Call([] { proc_exit(0); });
    }
    config_ = *config;
    activity_ = "pgque_worker: consumer \"" + config_.consumer + "\" of queue \"" + config_.queue +
                "\": dispatching a batch";
}

bool ConsumerWorker::ProcessBatch()
{
    dispatch::BatchOutcome out;
    {
        pg::Transaction tx(activity_.c_str());
        out = dispatch::DispatchSqlBatch(tx, config_);
        if (out.messages > 0) {
            tx.Query(
                "INSERT INTO pgque_worker.consumer_stats AS s"
                "  (consumer_id, processed, failed, retried, dead_lettered, unhandled, batches,"
                "   last_batch_at, last_error, last_error_at)"
                " VALUES ($1::int, $2::bigint, $3::bigint, $4::bigint, $5::bigint, $6::bigint, 1,"
                "         now(), $7, CASE WHEN $7 IS NULL THEN NULL ELSE now() END)"
                " ON CONFLICT (consumer_id) DO UPDATE SET"
                "   processed = s.processed + excluded.processed, failed = s.failed + excluded.failed,"
                "   retried = s.retried + excluded.retried,"
                "   dead_lettered = s.dead_lettered + excluded.dead_lettered,"
                "   unhandled = s.unhandled + excluded.unhandled, batches = s.batches + 1,"
                "   last_batch_at = excluded.last_batch_at,"
                "   last_error = coalesce(excluded.last_error, s.last_error),"
                "   last_error_at = coalesce(excluded.last_error_at, s.last_error_at)",
                {std::to_string(config_.id), std::to_string(out.processed), std::to_string(out.failed),
                 std::to_string(out.failed - out.dead_lettered), std::to_string(out.dead_lettered),
                 std::to_string(out.unhandled),
                 out.last_error.empty() ? pg::Value() : pg::Value(out.last_error)});
        }
        tx.Commit();
    }
    if (out.messages > 0) {
        SpinLockAcquire(&slot_.mutex);
        slot_.failures = 0;  // working: a later crash restarts it at once
        SpinLockRelease(&slot_.mutex);
    }
    // Once per event type, not once per message.
    for (const std::string &type : out.unhandled_types)
        if (logged_unhandled_.insert(type).second)
            Log("consumer \"" + config_.consumer + "\" of queue \"" + config_.queue +
                "\" has no handler for event type \"" + type + "\"; such messages are acked unhandled");
    return out.messages > 0;
}

void ConsumerWorker::Run()
{
    Reload();
    for (;;) {
        pg::Call([] { CHECK_FOR_INTERRUPTS(); });
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            pg::Call([] { ProcessConfigFile(PGC_SIGHUP); });
        }
        SpinLockAcquire(&slot_.mutex);
        bool reload = slot_.reload;
        slot_.reload = false;
        SpinLockRelease(&slot_.mutex);
        if (reload)
            Reload();

        long wait_ms = config_.poll_ms;
        try {
            if (ProcessBatch())
                continue;  // more may be waiting
            last_logged_error_.clear();
        } catch (const pg::Error &e) {
            std::string text = "consumer \"" + config_.consumer + "\" of queue \"" + config_.queue +
                               "\": " + e.what();
            if (text != last_logged_error_)
                Log(text);
            last_logged_error_ = text;
            wait_ms = std::min<long>(wait_ms, 1000);  // retry soon, without spinning
        }
        pg::Call([&] {
            pgstat_report_activity(STATE_IDLE, nullptr);
            (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms,
                             PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
        });
    }
}

}  // namespace

}  // namespace pgque::worker

void pgque_worker_consumer_main(Datum slot_index)
{
    using namespace pgque;
    pg::Entry([&] {
        worker::ConsumerSlot &slot = worker::Shared()->consumers[DatumGetInt32(slot_index)];
        std::string role = config::WorkerRole();
        char database_name[NAMEDATALEN];
        Oid database = slot.database;
        pg::Call([&] {
            pqsignal(SIGHUP, SignalHandlerForConfigReload);
            pqsignal(SIGTERM, die);
            BackgroundWorkerUnblockSignals();
            worker::attached = DatumGetInt32(slot_index);
            before_shmem_exit(worker::ReleaseConsumerSlot, 0);
        });
        SpinLockAcquire(&slot.mutex);
        slot.pid = MyProcPid;
        slot.latch = MyLatch;
        slot.reload = false;
        SpinLockRelease(&slot.mutex);
        int db = worker::FindSlot(database);
        strlcpy(database_name, db >= 0 ? worker::Shared()->slots[db].database_name : "",
                sizeof database_name);
        pg::Call([&] {
            if (role.empty())
                BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
            else
                BackgroundWorkerInitializeConnection(database_name, role.c_str(), 0);
            pgstat_report_appname("pgque_worker consumer");
        });
        worker::ConsumerWorker consumer(slot);
        consumer.Run();
    });
}
