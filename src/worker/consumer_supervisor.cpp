#include "pgque_worker/worker/consumer_supervisor.hpp"

#include <csignal>
#include <map>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/core/schedule.hpp"
#include "pgque_worker/dispatch/consumer_config.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/worker/shared_state.hpp"

extern "C" {
#include "postmaster/bgworker.h"
#include "utils/timestamp.h"
}

namespace pgque::worker {

namespace {

bool StartConsumerWorker(int index, const char *queue)
{
    BackgroundWorker bgw = {};
    bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
    bgw.bgw_restart_time = BGW_NEVER_RESTART;  // the database worker restarts it
    strlcpy(bgw.bgw_library_name, "pgque_worker", BGW_MAXLEN);
    strlcpy(bgw.bgw_function_name, "pgque_worker_consumer_main", BGW_MAXLEN);
    snprintf(bgw.bgw_name, BGW_MAXLEN, "pgque_worker consumer of queue %s", queue);
    strlcpy(bgw.bgw_type, "pgque_worker consumer", BGW_MAXLEN);
    bgw.bgw_main_arg = Int32GetDatum(index);
    bgw.bgw_notify_pid = MyProcPid;
    bool started = false;
    pg::Call([&] { started = RegisterDynamicBackgroundWorker(&bgw, nullptr); });
    return started;
}

}  // namespace

void ConsumerSupervisor::Reconcile(pg::Transaction &tx, bool config_changed)
{
    // consumer id -> queue, for every consumer that should have a worker
    std::map<int, std::string> desired;
    dispatch::LimitLockWait(tx);
    for (const pg::Row &row : tx.Query(
             "SELECT c.id, c.queue FROM pgque_worker.consumer c"
             " WHERE pgque_worker._stop_reason(c) IS NULL"))
        desired.emplace(std::stoi(row[0].value_or("0")), row[1].value_or(""));

    SharedState *shared = Shared();
    const TimestampTz now = GetCurrentTimestamp();
    std::vector<int> to_start;
    int in_use = 0;
    bool over_limit = false;

    LWLockAcquire(shared->lock, LW_EXCLUSIVE);
    for (int i = 0; i < shared->slot_count; i++)
        if (OidIsValid(shared->consumers[i].database))
            in_use++;
    for (int i = 0; i < shared->slot_count; i++) {
        ConsumerSlot &c = shared->consumers[i];
        if (c.database != MyDatabaseId)
            continue;
        SpinLockAcquire(&c.mutex);
        pid_t pid = c.pid;
        bool due = now >= c.exited_at + core::RestartDelayUs(c.failures);
        if (config_changed)
            c.reload = true;
        Latch *latch = config_changed ? c.latch : nullptr;
        SpinLockRelease(&c.mutex);
        auto wanted = desired.find(c.consumer_id);
        if (wanted == desired.end()) {
            if (pid != 0) {
                kill(pid, SIGTERM);  // paused, dropped or without routes
            } else {
                c.database = InvalidOid;
                in_use--;
            }
            continue;
        }
        desired.erase(wanted);  // has a slot
        if (pid == 0 && due && c.exited_at != 0)
            to_start.push_back(i);
        else if (latch)
            SetLatch(latch);  // read the configuration again
    }
    for (const auto &[id, queue] : desired) {
        if (in_use >= config::MaxConsumerWorkers()) {
            over_limit = true;
            break;
        }
        for (int i = 0; i < shared->slot_count; i++) {
            ConsumerSlot &c = shared->consumers[i];
            if (OidIsValid(c.database))
                continue;
            c.database = MyDatabaseId;
            c.consumer_id = id;
            strlcpy(c.queue, queue.c_str(), sizeof c.queue);
            SpinLockAcquire(&c.mutex);
            c.pid = 0;
            c.latch = nullptr;
            c.failures = 0;
            c.exited_at = 0;
            SpinLockRelease(&c.mutex);
            to_start.push_back(i);
            in_use++;
            break;
        }
    }
    LWLockRelease(shared->lock);

    for (int i : to_start) {
        ConsumerSlot &c = shared->consumers[i];
        // Counted as running until the process attaches or exits: the exit
        // callback records the time, which spaces out restarts.
        SpinLockAcquire(&c.mutex);
        c.exited_at = 0;
        SpinLockRelease(&c.mutex);
        if (StartConsumerWorker(i, c.queue))
            continue;
        SpinLockAcquire(&c.mutex);
        c.exited_at = now;  // try again after the back-off
        c.failures++;
        SpinLockRelease(&c.mutex);
        pg::Call([] {
                ereport(WARNING, (errmsg("pgque_worker: could not start a consumer worker"),
                                  errhint("Raise max_worker_processes.")));
            });
    }
    if (over_limit && !warned_limit_)
        pg::Call([] {
            ereport(LOG, (errmsg("pgque_worker: pgque_worker.max_consumer_workers (%d) reached; "
                                 "some consumers are not running",
                                 config::MaxConsumerWorkers())));
        });
    warned_limit_ = over_limit;
}

void ConsumerSupervisor::WakeQueues(const std::vector<std::string> &queues)
{
    for (const std::string &queue : queues)
        WakeConsumers(MyDatabaseId, queue.c_str(), false);
}

void ConsumerSupervisor::StopAll()
{
    SharedState *shared = Shared();
    LWLockAcquire(shared->lock, LW_SHARED);
    for (int i = 0; i < shared->slot_count; i++) {
        ConsumerSlot &c = shared->consumers[i];
        if (c.database != MyDatabaseId)
            continue;
        SpinLockAcquire(&c.mutex);
        pid_t pid = c.pid;
        SpinLockRelease(&c.mutex);
        if (pid != 0)
            kill(pid, SIGTERM);
    }
    LWLockRelease(shared->lock);
}

}  // namespace pgque::worker
