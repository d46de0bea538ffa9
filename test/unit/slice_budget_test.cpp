#include <gtest/gtest.h>

#include "pgque_worker/core/slice_budget.hpp"

using pgque::core::SliceBudget;

constexpr std::size_t kMB = 1024 * 1024;

TEST(SliceBudget, SmallMessagesFillASliceOfMaxMessages)
{
    SliceBudget b(100, 64 * kMB);
    EXPECT_EQ(b.NextFetch(), 1);    // the first row tells the size
    b.Add(200);
    EXPECT_EQ(b.NextFetch(), 99);   // 64 MB / 256 kB = 256 > 99 left
    for (int i = 1; i < 100; i++)
        b.Add(200);
    EXPECT_TRUE(b.Full());
    EXPECT_EQ(b.NextFetch(), 0);
    b.NextSlice();
    EXPECT_FALSE(b.Full());
    EXPECT_EQ(b.NextFetch(), 100);
}

TEST(SliceBudget, LargeMessagesShrinkTheFetchAndEndTheSlice)
{
    SliceBudget b(100000, 64 * kMB);
    EXPECT_EQ(b.NextFetch(), 1);
    b.Add(10 * kMB);
    EXPECT_EQ(b.NextFetch(), 5);  // 54 MB left / 10 MB
    for (int i = 0; i < 5; i++)
        b.Add(10 * kMB);
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
