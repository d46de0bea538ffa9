// The shared library's entry points: module load and the SQL-callable
// functions of extension pgque_worker that are not elsewhere.
#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/stats/consumer_counters.hpp"
#include "pgque_worker/version.hpp"
#include "pgque_worker/worker/commit_wakeup.hpp"
#include "pgque_worker/worker/database_guard.hpp"
#include "pgque_worker/worker/worker_process.hpp"
#include "pgque_worker/worker/shared_state.hpp"

extern "C" {
#include "utils/builtins.h"

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);
PG_FUNCTION_INFO_V1(pgque_worker_version);
PG_FUNCTION_INFO_V1(pgque_worker_wake_launcher_at_commit);
PG_FUNCTION_INFO_V1(pgque_worker_config_changed);
}

// The workers are registered from the postmaster while it reads
// shared_preload_libraries; loaded any other way (CREATE EXTENSION, LOAD) the
// module could never run them, so it refuses to load at all.
void _PG_init(void)
{
    if (!process_shared_preload_libraries_in_progress)
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("pgque_worker must be loaded via shared_preload_libraries"),
                 errhint("Add pgque_worker to shared_preload_libraries in postgresql.conf "
                         "and restart the server.")));

    // pg_upgrade runs the new server to restore into it: no worker may
    // touch the databases then.
    if (IsBinaryUpgrade)
        return;
    pgque::pg::Entry([] {
        pgque::config::DefineSettings();
        pgque::worker::InstallSharedState();
        pgque::stats::InstallConsumerCounters();
        pgque::worker::InstallCommitWakeup();
        pgque::worker::InstallDatabaseGuard();
        pgque::worker::RegisterLauncher();
    });
}

extern "C" Datum pgque_worker_version(PG_FUNCTION_ARGS)
{
    (void) fcinfo;
    return pgque::pg::Entry([]() -> Datum { return CStringGetTextDatum(pgque::kVersion); });
}

// Called by the extension script: when CREATE EXTENSION commits, the
// launcher starts a worker for this database at once.
extern "C" Datum pgque_worker_wake_launcher_at_commit(PG_FUNCTION_ARGS)
{
    (void) fcinfo;
    return pgque::pg::Entry([]() -> Datum {
        pgque::worker::WakeLauncherAtCommit();
        PG_RETURN_VOID();
    });
}

// Statement trigger on pgque_worker.consumer and .route: the database worker
// picks up the change when the transaction commits.
extern "C" Datum pgque_worker_config_changed(PG_FUNCTION_ARGS)
{
    (void) fcinfo;
    return pgque::pg::Entry([]() -> Datum {
        pgque::worker::WakeWorkerForConfigAtCommit();
        return PointerGetDatum(nullptr);
    });
}
