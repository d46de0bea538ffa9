#include "pgque_worker/worker/worker_process.hpp"

#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/pg/session.hpp"
#include "pgque_worker/worker/process_loop.hpp"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "utils/guc.h"
}

namespace pgque::worker {

namespace {

BackgroundWorker BaseWorker(const char *function_name)
{
    BackgroundWorker bgw = {};
    bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
    strlcpy(bgw.bgw_library_name, "pgque_worker", BGW_MAXLEN);
    strlcpy(bgw.bgw_function_name, function_name, BGW_MAXLEN);
    return bgw;
}

}  // namespace

void RegisterLauncher()
{
    BackgroundWorker bgw = BaseWorker("pgque_worker_launcher_main");
    // Restarted by the postmaster whatever ended it (pg_cron's launcher stays
    // down after a SIGTERM; ours comes back after 5 seconds).
    bgw.bgw_restart_time = 5;
    strlcpy(bgw.bgw_name, "pgque_worker launcher", BGW_MAXLEN);
    strlcpy(bgw.bgw_type, "pgque_worker launcher", BGW_MAXLEN);
    RegisterBackgroundWorker(&bgw);
}

BackgroundWorkerHandle *StartSlotProcess(SlotKind kind, int index, std::uint32_t generation, const char *name)
{
    const bool database = kind == SlotKind::Database;
    BackgroundWorker bgw = BaseWorker(database ? "pgque_worker_database_main" : "pgque_worker_consumer_main");
    bgw.bgw_restart_time = BGW_NEVER_RESTART;  // its slot's owner restarts it, with back-off
    strlcpy(bgw.bgw_name, name, BGW_MAXLEN);
    strlcpy(bgw.bgw_type, database ? "pgque_worker" : "pgque_worker consumer", BGW_MAXLEN);
    bgw.bgw_main_arg = Int32GetDatum(index);
    static_assert(sizeof generation <= BGW_EXTRALEN);
    memcpy(bgw.bgw_extra, &generation, sizeof generation);
    bgw.bgw_notify_pid = MyProcPid;

    BackgroundWorkerHandle *handle = nullptr;
    bool started = false;
    // The handle outlives the caller's transaction: it is kept until the
    // process is seen gone.
    pg::Call([&] {
        MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        started = RegisterDynamicBackgroundWorker(&bgw, &handle);
        MemoryContextSwitchTo(old);
    });
    return started ? handle : nullptr;
}

void StartOwnSlot(SlotKind kind, int index)
{
    SetUpSignals();
    switch (AttachThisProcess(kind, index)) {
    case core::AttachResult::Attached:
        return;
    case core::AttachResult::StopAsked:
        ExitThisProcess(core::ExitKind::Done, "a worker was stopped before it started");
    case core::AttachResult::NotOurs:
        break;
    }
    // Started for a slot that was freed and given to someone else meanwhile:
    // it must not run that slot.
    pg::Call([] {
        ereport(LOG, (errmsg("pgque_worker: a worker exits at start: its slot was reassigned")));
        proc_exit(0);
    });
}

void ConnectWorker(Oid database, const char *database_name, const char *role, const char *application_name)
{
    pg::Call([&] {
        if (role[0] == '\0')
            BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
        else
            BackgroundWorkerInitializeConnection(database_name, role, 0);
        SetConfigOption("application_name", application_name, PGC_USERSET, PGC_S_SESSION);
        pgstat_report_appname(application_name);
    });
    pg::PinWorkerSession();
}

}  // namespace pgque::worker
