#include "pgque_worker/core/wake_record.hpp"

#include <algorithm>

namespace pgque::core {

bool SameQueues(const WakeRecord &a, const WakeRecord &b)
{
    if (a.queue_count == kWakeUnknownQueues || a.queue_count != b.queue_count)
        return false;
    for (int i = 0; i < a.queue_count; i++)
        if (std::find(b.queue_ids, b.queue_ids + b.queue_count, a.queue_ids[i]) == b.queue_ids + b.queue_count)
            return false;
    return true;
}

void MergeWake(WakeRecord &into, const WakeRecord &also)
{
    into.txid = into.txid == also.txid ? into.txid : kWakeMergedTxid;
    into.started_us = std::min(into.started_us, also.started_us);
}

}  // namespace pgque::core
