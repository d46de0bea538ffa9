#include <gtest/gtest.h>

#include "pgque_worker/core/txid_snapshot.hpp"

using pgque::core::TxidSnapshot;

TEST(TxidSnapshot, ParsesPgSnapshotText)
{
    auto s = TxidSnapshot::Parse("100:110:105,101");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->xmin, 100u);
    EXPECT_EQ(s->xmax, 110u);
    EXPECT_EQ(s->xip, (std::vector<std::uint64_t>{101, 105}));
}

TEST(TxidSnapshot, ParsesEmptyInProgressList)
{
    auto s = TxidSnapshot::Parse("7:7:");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->xip.empty());
}

TEST(TxidSnapshot, RejectsMalformedText)
{
    for (const char *bad : {"", "1", "1:2", "x:2:", "5:4:", "1:9:12", "1:9:3,", "1:9:3,,4", "1:9:a"})
        EXPECT_FALSE(TxidSnapshot::Parse(bad)) << bad;
}

TEST(TxidSnapshot, VisibilityFollowsPostgresRules)
{
    auto s = *TxidSnapshot::Parse("100:110:105");
    EXPECT_TRUE(s.Sees(99));    // finished before xmin
    EXPECT_TRUE(s.Sees(100));   // xmin itself is not in progress here
    EXPECT_FALSE(s.Sees(105));  // was in progress
    EXPECT_TRUE(s.Sees(106));
    EXPECT_FALSE(s.Sees(110));  // started after the snapshot
    EXPECT_FALSE(s.Sees(5000000000ull));
}
