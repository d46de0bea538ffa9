// pgque_worker.worker_status(): the rows of view pgque_worker.workers, read
// from shared memory.
#include "pgque_worker/core/schedule.hpp"
#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/worker/shared_state.hpp"

extern "C" {
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pgque_worker_status);
PG_FUNCTION_INFO_V1(pgque_worker_consumer_processes);
}

namespace {

Datum TimestampOrNull(TimestampTz t, bool &isnull)
{
    isnull = t == 0;
    return TimestampTzGetDatum(t);
}

}  // namespace

extern "C" Datum pgque_worker_status(PG_FUNCTION_ARGS)
{
    using namespace pgque::worker;
    return pgque::pg::Entry([&]() -> Datum {
        InitMaterializedSRF(fcinfo, 0);
        ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
        SharedState *shared = Shared();
        if (!shared)
            return (Datum) 0;

        LWLockAcquire(shared->lock, LW_SHARED);
        for (int i = 0; i < shared->slot_count; i++) {
            DatabaseSlot &slot = shared->slots[i];
            if (!OidIsValid(slot.database))
                continue;
            SpinLockAcquire(&slot.mutex);
            DatabaseSlot copy = slot;  // plain data; formatted outside the spinlock
            SpinLockRelease(&slot.mutex);

            Datum values[10];
            bool nulls[10] = {};
            values[0] = CStringGetTextDatum(copy.database_name);
            values[1] = Int32GetDatum(copy.pid);
            nulls[1] = copy.pid == 0;
            values[2] = CStringGetTextDatum(SlotStateName(copy.state));
            values[3] = TimestampOrNull(copy.started_at, nulls[3]);
            values[4] = TimestampOrNull(copy.last_tick_at, nulls[4]);
            values[5] = Int64GetDatum(static_cast<int64>(copy.ticks));
            values[6] = TimestampOrNull(copy.last_maint_at, nulls[6]);
            values[7] = CStringGetTextDatum(copy.last_error);
            nulls[7] = copy.last_error[0] == '\0';
            values[8] = TimestampOrNull(copy.last_error_at, nulls[8]);
            values[9] = Int32GetDatum(copy.failures);
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        }
        LWLockRelease(shared->lock);
        return (Datum) 0;
    });
}

// pgque_worker._consumer_processes(): this database's consumer worker slots,
// for the state column of view pgque_worker.consumers.
extern "C" Datum pgque_worker_consumer_processes(PG_FUNCTION_ARGS)
{
    using namespace pgque::worker;
    return pgque::pg::Entry([&]() -> Datum {
        InitMaterializedSRF(fcinfo, 0);
        ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
        SharedState *shared = Shared();
        if (!shared)
            return (Datum) 0;

        LWLockAcquire(shared->lock, LW_SHARED);
        for (int i = 0; i < shared->slot_count; i++) {
            ConsumerSlot &slot = shared->consumers[i];
            if (slot.database != MyDatabaseId)
                continue;
            int consumer_id = slot.consumer_id;
            SpinLockAcquire(&slot.mutex);
            pid_t pid = slot.pid;
            int failures = slot.failures;
            TimestampTz exited_at = slot.exited_at;
            SpinLockRelease(&slot.mutex);

            Datum values[4];
            bool nulls[4] = {};
            values[0] = Int32GetDatum(consumer_id);
            values[1] = Int32GetDatum(pid);
            nulls[1] = pid == 0;
            values[2] = Int32GetDatum(failures);
            // When a worker that exited is started again (its back-off).
            values[3] = TimestampOrNull(exited_at == 0 ? 0 : exited_at + pgque::core::RestartDelayUs(failures),
                                        nulls[3]);
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        }
        LWLockRelease(shared->lock);
        return (Datum) 0;
    });
}
