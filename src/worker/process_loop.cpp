#include "pgque_worker/worker/process_loop.hpp"

#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"

extern "C" {
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
}

namespace pgque::worker {

void SetUpSignals()
{
    pg::Call([] {
        pqsignal(SIGHUP, SignalHandlerForConfigReload);
        pqsignal(SIGTERM, die);
        BackgroundWorkerUnblockSignals();
    });
}

bool ReloadConfigurationIfAsked()
{
    if (!ConfigReloadPending)
        return false;
    ConfigReloadPending = false;
    pg::Call([] { ProcessConfigFile(PGC_SIGHUP); });
    return true;
}

void ReportTableStats()
{
    pg::Call([] { (void) pgstat_report_stat(false); });
}

void WaitForWork(long timeout_ms)
{
    pg::Call([&] {
        (void) pgstat_report_stat(false);  // see ReportTableStats
        pgstat_report_activity(STATE_IDLE, nullptr);
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms,
                         PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    });
}

}  // namespace pgque::worker
