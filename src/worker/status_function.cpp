// pgque_worker.worker_status(): the rows of view pgque_worker.workers, read
// from shared memory.
#include <string>

#include "pgque_worker/core/schedule.hpp"
#include "pgque_worker/core/slot_life.hpp"
#include "pgque_worker/core/utf8.hpp"
#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/worker/shared_state.hpp"
#include "pgque_worker/worker/slot_table.hpp"

extern "C" {
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pgque_worker_status);
PG_FUNCTION_INFO_V1(pgque_worker_consumer_processes);
PG_FUNCTION_INFO_V1(pgque_worker_slot_table);
}

namespace {

using pgque::core::SlotLife;
using pgque::core::SlotPhase;

// A state text with no destructor. The functions below format a state into
// one before they call into PostgreSQL, so that no std::string is live in a
// frame an ERROR there could longjmp over.
struct StateText {
    char text[128];
};

StateText Fixed(const std::string &state)
{
    StateText out;
    pgque::core::CopyTruncatedUtf8(state, out.text, sizeof out.text);
    return out;
}

Datum TimestampOrNull(TimestampTz t, bool &isnull)
{
    isnull = t == 0;
    return TimestampTzGetDatum(t);
}

std::string RetryText(const SlotLife &life)
{
    return std::string(" (retry at ") + timestamptz_to_str(pgque::core::StartDueAt(life)) + ")";
}

// What a slot without a running process is waiting for, or nullptr.
const char *WaitReason(const SlotLife &life)
{
    if (life.phase == SlotPhase::Waiting && life.start_refused)
        return "cannot start: max_worker_processes exhausted";
    if (life.phase == SlotPhase::Waiting && life.failures > 0)
        return "backing off after a crash";
    return nullptr;
}

// The state column of view pgque_worker.workers: the slot's life cycle, and
// while a process runs, what it reports.
std::string DatabaseState(const pgque::worker::DatabaseSlot &slot)
{
    using pgque::worker::SlotState;
    const SlotLife &life = slot.life;
    switch (life.phase) {
    case SlotPhase::Free:
        return "free";
    case SlotPhase::Registered:
        return "starting";
    case SlotPhase::Attached:
        return pgque::worker::SlotStateName(slot.state);
    case SlotPhase::Stopping:
        return std::string("stopping (") + pgque::core::StopCauseName(life.stop_cause) + ")";
    case SlotPhase::Waiting:
        break;
    }
    if (slot.unserved_limit > 0)
        return "not served (max_workers = " + std::to_string(slot.unserved_limit) + ")";
    if (slot.stop_requested_at != 0)
        return "stopped for a database command";
    if (const char *reason = WaitReason(life))
        return reason + RetryText(life);
    if (slot.state == SlotState::NoExtension)
        return pgque::worker::SlotStateName(slot.state);
    return "starting";
}

// The state of a consumer that has a slot (pgque_worker._consumer_processes).
std::string ConsumerState(const pgque::worker::ConsumerSlot &slot)
{
    const SlotLife &life = slot.life;
    switch (life.phase) {
    case SlotPhase::Attached:
        return slot.idle ? "idle" : "running";
    case SlotPhase::Stopping:
        return std::string("stopping (") + pgque::core::StopCauseName(life.stop_cause) + ")";
    case SlotPhase::Waiting:
        if (const char *reason = WaitReason(life))
            return reason + RetryText(life);
        return "starting";
    case SlotPhase::Registered:
    case SlotPhase::Free:
        break;
    }
    return "starting";
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
            values[1] = Int32GetDatum(copy.life.pid);
            nulls[1] = copy.life.pid == 0;
            const StateText state = Fixed(DatabaseState(copy));
            values[2] = CStringGetTextDatum(state.text);
            values[3] = TimestampOrNull(copy.started_at, nulls[3]);
            values[4] = TimestampOrNull(copy.last_tick_at, nulls[4]);
            values[5] = Int64GetDatum(static_cast<int64>(copy.ticks));
            values[6] = TimestampOrNull(copy.last_maint_at, nulls[6]);
            values[7] = CStringGetTextDatum(copy.last_error);
            nulls[7] = copy.last_error[0] == '\0';
            values[8] = TimestampOrNull(copy.last_error_at, nulls[8]);
            values[9] = Int32GetDatum(copy.life.failures);
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
            SpinLockAcquire(&slot.mutex);
            ConsumerSlot copy = slot;  // plain data; formatted outside the spinlock
            SpinLockRelease(&slot.mutex);

            Datum values[5];
            bool nulls[5] = {};
            values[0] = Int32GetDatum(copy.consumer_id);
            values[1] = Int32GetDatum(copy.life.pid);
            nulls[1] = copy.life.pid == 0;
            values[2] = Int32GetDatum(copy.life.failures);
            // When a worker that exited is started again (its back-off).
            values[3] = TimestampOrNull(copy.life.phase == SlotPhase::Waiting && copy.life.failures > 0
                                            ? pgque::core::StartDueAt(copy.life)
                                            : 0,
                                        nulls[3]);
            const StateText state = Fixed(ConsumerState(copy));
            values[4] = CStringGetTextDatum(state.text);
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        }
        LWLockRelease(shared->lock);
        return (Datum) 0;
    });
}

// pgque_worker._slot_table(): every slot, database and consumer, in its raw
// life-cycle state (superuser only; for tests and post-mortems).
extern "C" Datum pgque_worker_slot_table(PG_FUNCTION_ARGS)
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
            for (SlotKind kind : {SlotKind::Database, SlotKind::Consumer}) {
                const bool database = kind == SlotKind::Database;
                SlotLife life = LifeOf(kind, i);
                Datum values[9];
                bool nulls[9] = {};
                values[0] = CStringGetTextDatum(database ? "database" : "consumer");
                values[1] = Int32GetDatum(i);
                values[2] = ObjectIdGetDatum(database ? shared->slots[i].database : shared->consumers[i].database);
                values[3] = Int32GetDatum(shared->consumers[i].consumer_id);
                nulls[3] = database || life.phase == SlotPhase::Free;
                values[4] = CStringGetTextDatum(pgque::core::SlotPhaseName(life.phase));
                values[5] = Int64GetDatum(life.generation);
                values[6] = Int32GetDatum(life.pid);
                nulls[6] = life.pid == 0;
                values[7] = Int32GetDatum(life.failures);
                values[8] = CStringGetTextDatum(pgque::core::StopCauseName(life.stop_cause));
                tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
            }
        }
        LWLockRelease(shared->lock);
        return (Datum) 0;
    });
}
