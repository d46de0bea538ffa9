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
#include "pgque_worker/worker/slot_table.hpp"
#include "pgque_worker/worker/worker_process.hpp"

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

constexpr std::int64_t kFailureLogIntervalUs = 60 * 1000000LL;
constexpr std::size_t kMaxLoggedTypes = 100;
constexpr long kTrimWhenIdleMs = 1000;

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
    ConsumerWorker(ConsumerSlot &slot, std::string database_name)
        : slot_(slot), database_name_(std::move(database_name)),
          journal_(JournalPath(slot.database, slot.consumer_id))
    {
    }
    // An error that ends the process unwinds this object before the exit
    // callbacks run: they must not reach its journal then.
    ~ConsumerWorker() { journal = nullptr; }
    [[noreturn]] void Run();
    // glibc's defaults hand large blocks back to the system as soon as they
    // are freed, and each batch then page-faults its memory in again (13% of
    // a no-op dispatch's time in perf): while busy the heap is kept, and Run
    // trims it once when the consumer goes idle.
    static void KeepHeapWhileBusy()
    {
        mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
        mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
    }
    // Orderly exits clear the journal; SIGQUIT leaves the quit marker.
    void InstallExitHandlers();

private:
    void Reload();
    void StopIfAsked();
    [[noreturn]] void Exit(core::ExitKind kind, const std::string &why);
    void SetIdle(bool idle);
    bool ProcessBatch();  // true when a batch was processed
    void Log(const std::string &text);
    void LogOutcome(const dispatch::BatchOutcome &out);

    ConsumerSlot &slot_;
    const std::string database_name_;
    const std::string role_ = config::WorkerRole();
    core::PoisonJournal journal_;
    long failures_unlogged_ = 0;      // handler or HTTP failures since the last line about them
    std::string latest_failure_;      // the error of the newest of them (the batch logging may have none)
    std::int64_t failures_logged_at_ = 0;
    bool trimmed_ = true;             // the heap was trimmed since the last batch
    std::int64_t last_work_us_ = 0;   // when the last batch with messages ended
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
    if (!config)
        Exit(core::ExitKind::Release, "stopping: the consumer was dropped");
    if (config->stop_reason)
        Exit(core::ExitKind::Release, "stopping: " + *config->stop_reason);
    config_ = *config;
    journal_.SetIdentity(core::PoisonJournal::IdentityOf(config_.queue, config_.consumer, config_.created));
    activity_ = "pgque_worker: consumer \"" + config_.consumer + "\" of queue \"" + config_.queue +
                (config_.IsHttp() ? "\": receiving or acknowledging a batch" : "\": dispatching a batch");
}

// Stops its owner asked for: the consumer was paused or dropped, the
// database is going, max_consumer_workers was lowered. The batch in hand was
// finished (stops are looked at between batches).
void ConsumerWorker::StopIfAsked()
{
    const core::StopCause cause = StopAskedOfThisProcess();
    if (cause == core::StopCause::None)
        return;
    if (cause == core::StopCause::Release) {
        // Paused, dropped, left without handlers: its configuration says
        // which (Reload exits with it). Otherwise its database is going.
        try {
            Reload();
        } catch (const pg::Error &) {
            // The configuration is gone with the extension or the database.
        }
        Exit(core::ExitKind::Done, "stopping: its database is no longer served");
    }
    std::string why = std::string("stopping: ") + core::StopCauseName(cause);
    (void) ReloadConfigurationIfAsked();  // the limit's new value (the same SIGHUP)
    if (cause == core::StopCause::Limit)
        why += " (pgque_worker.max_consumer_workers = " + std::to_string(config::MaxConsumerWorkers()) + ")";
    Exit(core::ExitKind::Done, why);
}

// A clean exit, logged at LOG with the consumer's name.
void ConsumerWorker::Exit(core::ExitKind kind, const std::string &why)
{
    const std::string text = "consumer \"" + std::string(slot_.consumer) + "\" of queue \"" + slot_.queue +
                             "\" in database \"" + database_name_ + "\": " + why;
    ExitThisProcess(kind, text.c_str());
}

void ConsumerWorker::SetIdle(bool idle)
{
    SpinLockAcquire(&slot_.mutex);
    slot_.idle = idle;
    SpinLockRelease(&slot_.mutex);
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
    if (out.messages > 0)
        MarkThisProcessHealthy();  // working: a later crash restarts it at once
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
    if (out.failed > out.dead_lettered)
        latest_failure_ = out.last_error;
    const std::int64_t now = pg::NowUs();
    if (failures_unlogged_ > 0 && now - failures_logged_at_ >= kFailureLogIntervalUs) {
        Log(who + ": " + std::to_string(failures_unlogged_) +
            " message(s) failed and will be retried; the latest error: " + latest_failure_);
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
        StopIfAsked();
        if (ReloadConfigurationIfAsked()) {
            if (config::WorkerRole() != role_)
                Exit(core::ExitKind::Restart, "pgque_worker.role changed; restarting");
            http_.reset();  // takes the new pgque_worker.http_max_connections
        }
        SpinLockAcquire(&slot_.mutex);
        bool reload = slot_.reload;
        slot_.reload = false;
        SpinLockRelease(&slot_.mutex);
        if (reload)
            Reload();

        long wait_ms = config_.poll_ms;
        try {
            if (ProcessBatch()) {
                trimmed_ = false;
                last_work_us_ = pg::NowUs();
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
        // Idle for a second: give what the batches used back to the system
        // (see KeepHeapWhileBusy), so that a drained backlog leaves no peak
        // behind. Not at every pause of a steady stream: the next batch
        // would fault it all in again.
        if (!trimmed_) {
            if (pg::NowUs() - last_work_us_ >= kTrimWhenIdleMs * 1000LL) {
                malloc_trim(0);
                trimmed_ = true;
            } else {
                wait_ms = std::min<long>(wait_ms, kTrimWhenIdleMs);
            }
        }
        SetIdle(true);
        WaitForWork(wait_ms);
        SetIdle(false);
    }
}

}  // namespace

}  // namespace pgque::worker

void pgque_worker_consumer_main(Datum slot_index)
{
    using namespace pgque;
    pg::Entry([&] {
        const int index = DatumGetInt32(slot_index);
        worker::StartOwnSlot(worker::SlotKind::Consumer, index);
        pg::Call([] { on_proc_exit(worker::CleanUpCurl, 0); });
        http::HttpClient::GlobalInit();
        // Its identity does not change while it is attached.
        worker::ConsumerSlot &slot = worker::Shared()->consumers[index];
        SpinLockAcquire(&slot.mutex);
        slot.reload = false;
        slot.idle = false;
        SpinLockRelease(&slot.mutex);
        char database_name[NAMEDATALEN] = "";
        int db = worker::FindSlot(slot.database);
        if (db >= 0)
            strlcpy(database_name, worker::Shared()->slots[db].database_name, sizeof database_name);
        worker::ConnectWorker(slot.database, database_name, config::WorkerRole().c_str(), "pgque_worker consumer");
        worker::ConsumerWorker::KeepHeapWhileBusy();
        worker::ConsumerWorker consumer(slot, database_name);
        consumer.InstallExitHandlers();
        consumer.Run();
    });
}
