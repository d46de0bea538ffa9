// A consumer worker: one process per enabled consumer that has routes,
// started by its database's worker. It dispatches batch after batch, one
// transaction each, and waits on its latch (set by the database worker when
// it ticks the queue) or poll_interval when nothing is waiting.
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <set>
#include <string>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/core/poison_journal.hpp"
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
#include "common/file_perm.h"
#include "pgstat.h"
#include "storage/fd.h"
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
constexpr std::int64_t kFailureLogIntervalUs = 60 * 1000000LL;
constexpr std::size_t kTrimAfterBytes = 8 * 1024 * 1024;
constexpr std::size_t kMaxLoggedTypes = 100;
bool clean_exit = false;  // the consumer was paused, dropped or lost its routes

void CleanUpCurl(int, Datum) { http::HttpClient::GlobalCleanup(); }

// The poison journal of this process, for the exit paths below.
core::PoisonJournal *journal = nullptr;
char quit_marker[MAXPGPATH];

// An orderly exit (SIGTERM: pause, drop, reconfiguration, shutdown; or an
// error) is no crash: the message in flight did not cause it.
void ClearJournalAtExit(int, Datum)
{
    try {
        if (journal)
            journal->Clear();
    } catch (...) {
        // Leaving the journal costs at most a replay of the batch.
    }
}

// The postmaster stops every process with SIGQUIT when another one crashed:
// leave a marker so that this death blames no message, then exit as
// PostgreSQL's own handler does.
void QuitForAnotherCrash(SIGNAL_ARGS)
{
    core::PoisonJournal::MarkQuit(quit_marker);
    _exit(2);
}

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

// The consumer's poison journal, under the data directory (it must survive
// crash recovery, which wipes shared memory).
std::string JournalPath(Oid database, int consumer_id)
{
    std::string dir = std::string(DataDir) + "/pgque_worker";
    pg::Call([&] {
        if (MakePGDirectory(dir.c_str()) < 0 && errno != EEXIST)
            ereport(ERROR, (errcode_for_file_access(), errmsg("could not create directory \"%s\": %m", dir.c_str())));
    });
    return dir + "/journal_" + std::to_string(database) + "_" + std::to_string(consumer_id);
}

class ConsumerWorker {
public:
    explicit ConsumerWorker(ConsumerSlot &slot)
        : slot_(slot), journal_(JournalPath(slot.database, slot.consumer_id))
    {
    }
    [[noreturn]] void Run();
    // Orderly exits clear the journal; SIGQUIT leaves the quit marker.
    void InstallExitHandlers();

private:
    void Reload();
    bool ProcessBatch();  // true when a batch was processed
    void Log(const std::string &text);
    void LogOutcome(const dispatch::BatchOutcome &out);

    ConsumerSlot &slot_;
    core::PoisonJournal journal_;
    long failures_unlogged_ = 0;      // handler or HTTP failures since the last line about them
    std::int64_t failures_logged_at_ = 0;
    dispatch::ConsumerConfig config_;
    std::unique_ptr<http::HttpClient> http_;  // HTTP consumers only: keeps connections open
    std::string activity_;
    std::set<std::string> logged_unhandled_;
    std::string last_logged_error_;
    std::string last_history_error_;
};

void ConsumerWorker::InstallExitHandlers()
{
    journal = &journal_;
    strlcpy(quit_marker, journal_.quit_marker().c_str(), sizeof quit_marker);
    pg::Call([] {
        on_proc_exit(ClearJournalAtExit, 0);
        pqsignal(SIGQUIT, QuitForAnotherCrash);
    });
}

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
    journal_.SetIdentity(core::PoisonJournal::IdentityOf(config_.queue, config_.consumer, config_.created));
    activity_ = "pgque_worker: consumer \"" + config_.consumer + "\" of queue \"" + config_.queue +
                (config_.IsHttp() ? "\": receiving or acknowledging a batch" : "\": dispatching a batch");
}

bool ConsumerWorker::ProcessBatch()
{
    dispatch::BatchOutcome out;
    const std::int64_t started_us = pg::NowUs();
    if (config_.IsHttp()) {
        if (!http_)
            http_ = std::make_unique<http::HttpClient>(config::HttpMaxConnections());
        out = dispatch::DispatchHttpBatch(config_, *http_, activity_.c_str(), journal_);
    } else {
        pg::Transaction tx(activity_.c_str());
        out = dispatch::DispatchSqlBatch(tx, config_, journal_);
        tx.Commit();
    }
    if (out.messages > 0)
        dispatch::CountBatch(config_, out, pg::NowUs() - started_us);
    journal_.Clear();  // its outcome is committed
    LogOutcome(out);
    // After large messages, give the memory back to the system rather than
    // keep the process at its peak (glibc keeps freed heap otherwise).
    if (out.bytes >= kTrimAfterBytes)
        malloc_trim(0);
    if (out.messages > 0) {
        SpinLockAcquire(&slot_.mutex);
        slot_.failures = 0;  // working: a later crash restarts it at once
        SpinLockRelease(&slot_.mutex);
    }
    return out.messages > 0;
}

// One line per dead-lettered message; failures that will be retried at most
// once a minute, so that a failing handler cannot flood the log.
void ConsumerWorker::LogOutcome(const dispatch::BatchOutcome &out)
{
    const std::string who = "consumer \"" + config_.consumer + "\" of queue \"" + config_.queue + "\"";
    if (out.replayed)
        Log(who + ": replayed a batch one message at a time, since a worker died during it");
    for (const std::string &note : out.dead_letters)
        Log(who + ": dead-lettered " + note);
    failures_unlogged_ += out.failed - out.dead_lettered;
    const std::int64_t now = pg::NowUs();
    if (failures_unlogged_ > 0 && now - failures_logged_at_ >= kFailureLogIntervalUs) {
        Log(who + ": " + std::to_string(failures_unlogged_) +
            " message(s) failed and will be retried; the latest error: " + out.last_error);
        failures_unlogged_ = 0;
        failures_logged_at_ = now;
    }
    if (!out.history_error.empty() && out.history_error != last_history_error_)
        Log(who + ": could not write the webhook history (deliveries are not affected): " + out.history_error);
    last_history_error_ = out.history_error;
    // Once per event type, not once per message, and for a bounded number of
    // types: a producer must not be able to fill the log or this process's
    // memory with made-up types.
    for (const std::string &type : out.unhandled_types) {
        if (logged_unhandled_.size() > kMaxLoggedTypes || !logged_unhandled_.insert(type).second)
            continue;
        if (logged_unhandled_.size() > kMaxLoggedTypes)
            Log(who + " has had messages of more than " + std::to_string(kMaxLoggedTypes) +
                " event types without a handler; no more are logged");
        else
            Log(who + " has no handler for event type \"" + type + "\"; such messages are acked unhandled");
    }
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
            if (ProcessBatch()) {
                ReportTableStats();
                continue;  // more may be waiting
            }
            last_logged_error_.clear();
        } catch (const pg::Error &e) {
            journal_.Clear();  // the process survived: nothing to replay
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
        consumer.InstallExitHandlers();
        consumer.Run();
    });
}
