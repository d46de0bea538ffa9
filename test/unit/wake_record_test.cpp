#include <gtest/gtest.h>

#include "pgque_worker/core/txid_snapshot.hpp"
#include "pgque_worker/core/wake_record.hpp"

using namespace pgque::core;

namespace {

WakeRecord Wake(std::uint64_t txid, std::int64_t started_us, std::initializer_list<std::int32_t> queues)
{
    WakeRecord r{txid, started_us, static_cast<int>(queues.size()), {}};
    int i = 0;
    for (std::int32_t q : queues)
        r.queue_ids[i++] = q;
    return r;
}

}  // namespace

TEST(WakeRecord, SameQueuesInAnyOrder)
{
    EXPECT_TRUE(SameQueues(Wake(1, 0, {3}), Wake(2, 0, {3})));
    EXPECT_TRUE(SameQueues(Wake(1, 0, {3, 7}), Wake(2, 0, {7, 3})));
    EXPECT_FALSE(SameQueues(Wake(1, 0, {3}), Wake(2, 0, {4})));
    EXPECT_FALSE(SameQueues(Wake(1, 0, {3}), Wake(2, 0, {3, 4})));
    EXPECT_FALSE(SameQueues(Wake(1, 0, {3, 4}), Wake(2, 0, {3, 5})));
    // Unknown queues (more than kWakeQueueIds, or unnamed): never merged,
    // the worker must look at every queue for them.
    WakeRecord unknown = Wake(1, 0, {});
    unknown.queue_count = kWakeUnknownQueues;
    EXPECT_FALSE(SameQueues(unknown, unknown));
}

TEST(WakeRecord, MergedRecordKeepsTheEarliestStartAndIsSeenByNoSnapshot)
{
    WakeRecord r = Wake(105, 2000, {3});
    MergeWake(r, Wake(107, 1000, {3}));
    EXPECT_EQ(r.started_us, 1000);
    EXPECT_EQ(r.txid, kWakeMergedTxid);
    // A snapshot that saw both commits is not taken to: the queue is looked
    // at again (conservative), never passed by.
    EXPECT_FALSE(TxidSnapshot::Parse("200:200:")->Sees(r.txid));
    // The same commit twice changes nothing.
    WakeRecord same = Wake(105, 2000, {3});
    MergeWake(same, Wake(105, 2000, {3}));
    EXPECT_EQ(same.txid, 105u);
}
