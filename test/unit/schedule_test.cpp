#include <gtest/gtest.h>

#include "pgque_worker/core/schedule.hpp"

using namespace pgque::core;

TEST(IntervalTimer, DueAtStartThenEveryInterval)
{
    IntervalTimer t(1000);
    EXPECT_TRUE(t.Due(0));
    t.Done(0);
    EXPECT_FALSE(t.Due(999));
    EXPECT_EQ(t.Remaining(400), 600);
    EXPECT_TRUE(t.Due(1000));
    EXPECT_EQ(t.Remaining(1500), 0);
}

TEST(IntervalTimer, NewIntervalAppliesFromTheNextDone)
{
    IntervalTimer t(1000);
    t.Done(0);
    t.SetInterval(10);
    EXPECT_FALSE(t.Due(500));
    t.Done(1000);
    EXPECT_TRUE(t.Due(1010));
}

TEST(RestartDelay, DoublesFromOneSecondUpToTheCap)
{
    EXPECT_EQ(RestartDelayUs(0), 0);
    EXPECT_EQ(RestartDelayUs(1), 1000000);
    EXPECT_EQ(RestartDelayUs(2), 2000000);
    EXPECT_EQ(RestartDelayUs(4), 8000000);
    EXPECT_EQ(RestartDelayUs(7), 60000000);
    EXPECT_EQ(RestartDelayUs(1000), 60000000);
}
