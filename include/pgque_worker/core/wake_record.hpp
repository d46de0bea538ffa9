// What the commit hook tells a database worker of a committed transaction
// that inserted events: kept in a ring in shared memory (worker/shared_state).
#pragma once

#include <cstdint>

namespace pgque::core {

// The ids of the queues whose event tables it wrote (queue_count of them;
// kWakeUnknownQueues: more than kWakeQueueIds, or a table whose queue the
// name does not tell).
constexpr int kWakeQueueIds = 4;
constexpr int kWakeUnknownQueues = -1;
// The txid of a record that stands for several commits: no tick's snapshot
// is taken to have seen it (so a queue it names is looked at if any of them
// started before the queue's last tick).
constexpr std::uint64_t kWakeMergedTxid = UINT64_MAX;

struct WakeRecord {
    std::uint64_t txid;
    std::int64_t started_us;
    int queue_count;
    std::int32_t queue_ids[kWakeQueueIds];
};

// Whether two records name the same known queues (in any order).
bool SameQueues(const WakeRecord &a, const WakeRecord &b);

// Makes into stand for itself and also: the earlier start, a merged txid.
// A stream of commits to the same queues then takes one record between two
// passes instead of one each (the ring is bounded, and a ring that overflows
// makes the worker look at every queue).
void MergeWake(WakeRecord &into, const WakeRecord &also);

}  // namespace pgque::core
