#include <gtest/gtest.h>

#include "pgque_worker/core/slice_budget.hpp"

using pgque::core::SliceBudget;

constexpr std::size_t kMB = 1024 * 1024;

TEST(SliceBudget, SmallMessagesFillASliceOfMaxMessages)
{
    SliceBudget b(100, 64 * kMB);
    long fetches = 0;
    while (!b.Full()) {
        long n = b.NextFetch();
        for (long i = 0; i < n; i++)
            b.Add(200);
        b.Fetched(n);
        fetches++;
    }
    EXPECT_EQ(b.Messages(), 100);
    EXPECT_LE(fetches, 8);  // 1, 2, 4, 8, 16, 32, 32, 5
    b.NextSlice();
    EXPECT_EQ(b.NextFetch(), 32);  // what was learnt is kept
}

TEST(SliceBudget, OneSmallMessageDoesNotInviteAHugeFetch)
{
    SliceBudget b(100, 64 * kMB);
    EXPECT_EQ(b.NextFetch(), 1);
    b.Add(10);
    b.Fetched(1);
    EXPECT_EQ(b.NextFetch(), 2);   // not 100: the next rows might be 20 MB each
    b.Add(20 * kMB);
    b.Add(20 * kMB);
    b.Fetched(2);
    EXPECT_EQ(b.NextFetch(), 1);   // (64 - 40) MB left / 20 MB
    b.Add(20 * kMB);
    b.Fetched(1);
    EXPECT_FALSE(b.Full());
    b.Add(20 * kMB);
    EXPECT_TRUE(b.Full());
    EXPECT_LE(b.Bytes(), 80 * kMB + 10);  // one 20 MB message over the 64 MB budget, at most
}

TEST(SliceBudget, LargeMessagesShrinkTheFetchAndEndTheSlice)
{
    SliceBudget b(100000, 64 * kMB);
    EXPECT_EQ(b.NextFetch(), 1);
    b.Add(10 * kMB);
    b.Fetched(1);
    EXPECT_EQ(b.NextFetch(), 1);  // large rows: one at a time
    for (int i = 0; i < 5; i++) {
        b.Add(10 * kMB);
        b.Fetched(1);
    }
    EXPECT_EQ(b.Bytes(), 60 * kMB);
    EXPECT_FALSE(b.Full());
    EXPECT_EQ(b.NextFetch(), 1);  // never less than one
    b.Add(10 * kMB);
    EXPECT_TRUE(b.Full());
    EXPECT_LE(b.Bytes(), 70 * kMB);
}

TEST(SliceBudget, AMessageLargerThanTheBudgetGoesAlone)
{
    SliceBudget b(100, 64 * kMB);
    b.Add(200 * kMB);
    EXPECT_TRUE(b.Full());
    EXPECT_EQ(b.Messages(), 1);
    b.NextSlice();
    EXPECT_EQ(b.NextFetch(), 1);  // sized by the largest seen
}

TEST(SliceBudget, ZeroOrNegativeLimitsStillMakeProgress)
{
    SliceBudget b(0, 0);
    EXPECT_EQ(b.NextFetch(), 1);
    b.Add(1);
    EXPECT_TRUE(b.Full());
}
