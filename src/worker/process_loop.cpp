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
        // See ReportTableStats. Stats it could not flush yet (at most one
        // flush a second) are flushed when it says, not after a long sleep.
        const long flush_in_ms = pgstat_report_stat(false);
        if (flush_in_ms > 0 && flush_in_ms < timeout_ms)
            timeout_ms = flush_in_ms;
        pgstat_report_activity(STATE_IDLE, nullptr);
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms,
                         PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    });
}

}  // namespace pgque::worker
