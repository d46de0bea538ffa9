// A consumer worker: one process per enabled consumer that has routes,
// started by its database's worker. It dispatches batch after batch, one
// transaction each, and waits on its latch (set by the database worker when
// it ticks the queue) or poll_interval when nothing is waiting.
#include <memory>
#include <set>
#include <string>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/dispatch/consumer_config.hpp"
#include "pgque_worker/dispatch/http_dispatch.hpp"
#include "pgque_worker/dispatch/sql_dispatch.hpp"
#include "pgque_worker/http/http_client.hpp"
#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/session.hpp"
#include "pgque_worker/pg/spi.hpp"
#include "pgque_worker/worker/process_loop.hpp"
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

void CleanUpCurl(int, Datum) { http::HttpClient::GlobalCleanup(); }

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
    std::unique_ptr<http::HttpClient> http_;  // HTTP consumers only: keeps connections open
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
        const std::string loading =
            std::string("pgque_worker: consumer of queue \"") + slot_.queue + "\": loading its configuration";
        pg::Transaction tx(loading.c_str());
        config = dispatch::LoadConsumerConfig(tx, slot_.consumer_id);
        tx.Commit();
    }
    if (!config || config->stop_reason) {
        clean_exit = true;
        pg::Call([] { proc_exit(0); });
    }
    config_ = *config;
    activity_ = "pgque_worker: consumer \"" + config_.consumer + "\" of queue \"" + config_.queue +
                (config_.IsHttp() ? "\": receiving or acknowledging a batch" : "\": dispatching a batch");
}

bool ConsumerWorker::ProcessBatch()
{
    dispatch::BatchOutcome out;
    if (config_.IsHttp()) {
        if (!http_)
            http_ = std::make_unique<http::HttpClient>(config::HttpMaxConnections());
        out = dispatch::DispatchHttpBatch(config_, *http_, activity_.c_str());
    } else {
        pg::Transaction tx(activity_.c_str());
        out = dispatch::DispatchSqlBatch(tx, config_);
        if (out.messages > 0)
            dispatch::RecordBatchStats(tx, config_, out);
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
        if (ReloadConfigurationIfAsked())
            http_.reset();  // takes the new pgque_worker.http_max_connections
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
        WaitForWork(wait_ms);
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
        worker::SetUpSignals();
        pg::Call([&] {
            worker::attached = DatumGetInt32(slot_index);
            before_shmem_exit(worker::ReleaseConsumerSlot, 0);
            on_proc_exit(worker::CleanUpCurl, 0);
        });
        http::HttpClient::GlobalInit();
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
        pg::PinWorkerSession();
        worker::ConsumerWorker consumer(slot);
        consumer.Run();
    });
}
