#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <unistd.h>

#include "pgque_worker/core/poison_journal.hpp"

using pgque::core::PoisonJournal;

namespace {
std::string TempPath()
{
    char dir[] = "/tmp/journal_test.XXXXXX";
    EXPECT_NE(mkdtemp(dir), nullptr);
    return std::string(dir) + "/journal";
}
bool Exists(const std::string &path) { return std::ifstream(path).good(); }
}  // namespace

TEST(PoisonJournal, AFinishedBatchLeavesNothing)
{
    std::string path = TempPath();
    PoisonJournal j(path);
    EXPECT_FALSE(j.BeginBatch(7));
    EXPECT_TRUE(Exists(path));
    j.Clear();
    EXPECT_FALSE(Exists(path));
    EXPECT_FALSE(PoisonJournal(path).BeginBatch(7));  // a new process: nothing to replay
}

TEST(PoisonJournal, ADeathDuringABatchReplaysIt)
{
    std::string path = TempPath();
    PoisonJournal(path).BeginBatch(7);   // the process dies here
    PoisonJournal after(path);           // its successor
    EXPECT_TRUE(after.BeginBatch(7));
    EXPECT_EQ(after.DeathsOf(100), 0);   // the first death blames no message
}

TEST(PoisonJournal, TheMessageInFlightIsBlamedOncePerDeath)
{
    std::string path = TempPath();
    PoisonJournal(path).BeginBatch(7);
    for (int death = 1; death <= 3; death++) {
        PoisonJournal j(path);
        EXPECT_TRUE(j.BeginBatch(7));
        EXPECT_EQ(j.DeathsOf(101), death - 1);
        j.MarkInFlight(100);
        j.MarkInFlight(101);  // 100 went fine; the process dies on 101
    }
    PoisonJournal j(path);
    EXPECT_TRUE(j.BeginBatch(7));
    EXPECT_EQ(j.DeathsOf(100), 0);
    EXPECT_EQ(j.DeathsOf(101), 3);
    j.Clear();
    EXPECT_FALSE(PoisonJournal(path).BeginBatch(7));
}

TEST(PoisonJournal, AnotherBatchForgetsTheOldOne)
{
    std::string path = TempPath();
    {
        PoisonJournal j(path);
        j.BeginBatch(7);
        j.MarkInFlight(101);
    }
    PoisonJournal j(path);
    EXPECT_FALSE(j.BeginBatch(8));
    EXPECT_EQ(j.DeathsOf(101), 0);
}

TEST(PoisonJournal, GarbageIsNoJournal)
{
    std::string path = TempPath();
    std::ofstream(path) << "batch\x01 x\nin_flight \nrandom words\n";
    EXPECT_FALSE(PoisonJournal(path).BeginBatch(7));
}
