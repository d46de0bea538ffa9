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

TEST(PoisonJournal, AQuitBecauseAnotherProcessCrashedBlamesNoMessage)
{
    std::string path = TempPath();
    PoisonJournal(path).BeginBatch(7);
    {
        PoisonJournal j(path);
        EXPECT_TRUE(j.BeginBatch(7));
        j.MarkInFlight(101);
        PoisonJournal::MarkQuit(j.quit_marker().c_str());  // the postmaster's SIGQUIT
    }
    PoisonJournal j(path);
    EXPECT_TRUE(j.BeginBatch(7));   // still replayed
    EXPECT_EQ(j.DeathsOf(101), 0);  // but 101 is not blamed
    EXPECT_FALSE(Exists(j.quit_marker()));
}

TEST(PoisonJournal, AnOrderlyExitClearsIt)
{
    std::string path = TempPath();
    PoisonJournal j(path);
    j.BeginBatch(7);
    j.MarkInFlight(101);
    j.Clear();  // what the exit callback does on SIGTERM (pause, drop, shutdown)
    EXPECT_FALSE(PoisonJournal(path).BeginBatch(7));
}

TEST(PoisonJournal, AnotherConsumersJournalIsIgnored)
{
    std::string path = TempPath();
    auto old_id = PoisonJournal::IdentityOf("old_q", "old_c", "2026-11-25 05:00:00+00");
    auto new_id = PoisonJournal::IdentityOf("payments", "ledger", "2026-11-25 06:00:00+00");
    EXPECT_NE(old_id, new_id);
    EXPECT_NE(PoisonJournal::IdentityOf("ab", "c", ""), PoisonJournal::IdentityOf("a", "bc", ""));
    for (int death = 0; death < 3; death++) {  // the dropped consumer's journal: 2 deaths for message 2
        PoisonJournal j(path);
        j.SetIdentity(old_id);
        j.BeginBatch(2);
        j.MarkInFlight(2);
    }
    PoisonJournal fresh(path);
    fresh.SetIdentity(new_id);  // a new consumer that got the same id and file
    EXPECT_FALSE(fresh.BeginBatch(2));
    EXPECT_EQ(fresh.DeathsOf(2), 0);
}
