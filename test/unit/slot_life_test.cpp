#include <gtest/gtest.h>

#include "pgque_worker/core/slot_life.hpp"
#include "pgque_worker/core/schedule.hpp"

using namespace pgque::core;

namespace {

constexpr std::int64_t kSecond = 1000000;

// A slot assigned at t=0 and given a process that attached (pid 100).
SlotLife Running(std::uint32_t *generation)
{
    SlotLife s{};
    EXPECT_TRUE(Assign(s, 0));
    EXPECT_TRUE(Register(s, 0, generation));
    EXPECT_EQ(Attach(s, *generation, 100, 1), AttachResult::Attached);
    return s;
}

}  // namespace

TEST(SlotLife, AssignRegisterAttachExitIsTheHappyPath)
{
    SlotLife s{};
    EXPECT_EQ(s.phase, SlotPhase::Free);
    ASSERT_TRUE(Assign(s, 5));
    EXPECT_EQ(s.phase, SlotPhase::Waiting);
    EXPECT_TRUE(StartDue(s, 5));
    std::uint32_t gen = 0;
    ASSERT_TRUE(Register(s, 6, &gen));
    EXPECT_EQ(s.phase, SlotPhase::Registered);
    EXPECT_EQ(Attach(s, gen, 42, 7), AttachResult::Attached);
    EXPECT_EQ(s.pid, 42);
    ASSERT_TRUE(Exit(s, gen, 42, ExitKind::Release, 8));
    EXPECT_EQ(s.phase, SlotPhase::Free);
}

TEST(SlotLife, EachTransitionRefusesAStateItDoesNotLeave)
{
    SlotLife s{};
    std::uint32_t gen = 0;
    EXPECT_FALSE(Register(s, 0, &gen));         // Free
    EXPECT_FALSE(Release(s));                   // Free
    EXPECT_FALSE(Exit(s, 0, 0, ExitKind::Failure, 0));
    EXPECT_FALSE(Vanished(s, 0, 0));
    ASSERT_TRUE(Assign(s, 0));
    EXPECT_FALSE(Assign(s, 0));                 // Waiting
    EXPECT_EQ(Attach(s, s.generation, 1, 0), AttachResult::NotOurs);  // nothing registered
    ASSERT_TRUE(Register(s, 0, &gen));
    EXPECT_FALSE(Release(s));                   // a process may come: not freed under it
    EXPECT_FALSE(Register(s, 0, &gen));
    EXPECT_EQ(Attach(s, gen, 1, 0), AttachResult::Attached);
    EXPECT_EQ(Attach(s, gen, 2, 0), AttachResult::NotOurs);  // a second process for the same ticket
    EXPECT_FALSE(Exit(s, gen, 2, ExitKind::Failure, 0));    // not its slot
    EXPECT_FALSE(StartRefused(s, gen, 0));                   // it did start
}

TEST(SlotLife, AProcessOfAnEarlierGenerationNeverAttaches)
{
    SlotLife s{};
    std::uint32_t old_gen = 0, new_gen = 0;
    ASSERT_TRUE(Assign(s, 0));
    ASSERT_TRUE(Register(s, 0, &old_gen));
    // Its consumer is dropped before the process attaches: the slot is freed
    // and given to another consumer, whose process is asked for.
    EXPECT_EQ(RequestStop(s, StopCause::Release, 1), StopAction::None);
    ASSERT_TRUE(StartRefused(s, old_gen, 2));  // the postmaster said no: settles the stop
    EXPECT_EQ(s.phase, SlotPhase::Free);
    ASSERT_TRUE(Assign(s, 3));
    ASSERT_TRUE(Register(s, 3, &new_gen));
    EXPECT_NE(old_gen, new_gen);
    EXPECT_EQ(Attach(s, old_gen, 10, 4), AttachResult::NotOurs);
    EXPECT_EQ(Attach(s, new_gen, 11, 4), AttachResult::Attached);
    EXPECT_FALSE(Exit(s, old_gen, 10, ExitKind::Failure, 5));
    EXPECT_EQ(s.pid, 11);
}

TEST(SlotLife, AStopAskedBeforeAttachEndsTheProcessAtAttach)
{
    SlotLife s{};
    std::uint32_t gen = 0;
    ASSERT_TRUE(Assign(s, 0));
    ASSERT_TRUE(Register(s, 0, &gen));
    EXPECT_EQ(RequestStop(s, StopCause::Release, 1), StopAction::None);
    EXPECT_EQ(s.phase, SlotPhase::Stopping);
    EXPECT_EQ(Attach(s, gen, 7, 2), AttachResult::StopAsked);
    ASSERT_TRUE(Exit(s, gen, 7, ExitKind::Done, 3));
    EXPECT_EQ(s.phase, SlotPhase::Free);  // the stop's cause decides
}

TEST(SlotLife, StopCausesDecideWhatTheSlotBecomes)
{
    for (auto [cause, phase, failures] : {std::tuple{StopCause::Release, SlotPhase::Free, 0},
                                          std::tuple{StopCause::Limit, SlotPhase::Free, 0},
                                          std::tuple{StopCause::Hold, SlotPhase::Waiting, 0}}) {
        std::uint32_t gen = 0;
        SlotLife s = Running(&gen);
        EXPECT_EQ(RequestStop(s, cause, 10), StopAction::SignalProcess);
        // Even if it ends with an error on its way out: asked to stop, no failure.
        ASSERT_TRUE(Exit(s, gen, 100, ExitKind::Failure, 20));
        EXPECT_EQ(s.phase, phase) << StopCauseName(cause);
        EXPECT_EQ(s.failures, failures);
    }
}

TEST(SlotLife, AStrongerStopCauseWins)
{
    std::uint32_t gen = 0;
    SlotLife s = Running(&gen);
    RequestStop(s, StopCause::Hold, 1);
    RequestStop(s, StopCause::Release, 2);
    EXPECT_EQ(s.stop_cause, StopCause::Release);
    RequestStop(s, StopCause::Hold, 3);
    EXPECT_EQ(s.stop_cause, StopCause::Release);
}

TEST(SlotLife, AWaitingSlotIsFreedByReleaseOrLimitOnly)
{
    SlotLife s{};
    ASSERT_TRUE(Assign(s, 0));
    EXPECT_EQ(RequestStop(s, StopCause::Hold, 1), StopAction::None);
    EXPECT_EQ(s.phase, SlotPhase::Waiting);
    EXPECT_EQ(RequestStop(s, StopCause::Limit, 1), StopAction::Freed);
    EXPECT_EQ(s.phase, SlotPhase::Free);
}

TEST(SlotLife, FailuresBackOffAndACleanExitResetsThem)
{
    std::uint32_t gen = 0;
    SlotLife s = Running(&gen);
    ASSERT_TRUE(Exit(s, gen, 100, ExitKind::Failure, 10 * kSecond));
    EXPECT_EQ(s.failures, 1);
    EXPECT_FALSE(StartDue(s, 10 * kSecond + kSecond - 1));
    EXPECT_TRUE(StartDue(s, 11 * kSecond));
    ASSERT_TRUE(Register(s, 11 * kSecond, &gen));
    ASSERT_TRUE(Vanished(s, gen, 12 * kSecond));  // died before attaching
    EXPECT_EQ(s.failures, 2);
    EXPECT_EQ(StartDueAt(s), 14 * kSecond);
    ASSERT_TRUE(Register(s, 14 * kSecond, &gen));
    ASSERT_TRUE(StartRefused(s, gen, 14 * kSecond));  // no background worker slot
    EXPECT_TRUE(s.start_refused);
    EXPECT_EQ(StartDueAt(s), 18 * kSecond);
    ASSERT_TRUE(Register(s, 18 * kSecond, &gen));
    ASSERT_EQ(Attach(s, gen, 5, 18 * kSecond), AttachResult::Attached);
    EXPECT_FALSE(s.start_refused);
    ASSERT_TRUE(Exit(s, gen, 5, ExitKind::Restart, 19 * kSecond));
    EXPECT_EQ(s.failures, 0);
    EXPECT_TRUE(StartDue(s, 19 * kSecond));  // restarted at once
}

TEST(SlotLife, UsefulWorkResetsTheFailures)
{
    SlotLife s{};
    std::uint32_t gen = 0;
    ASSERT_TRUE(Assign(s, 0));
    s.failures = 3;
    EXPECT_FALSE(MarkHealthy(s, s.generation));  // no process yet
    ASSERT_TRUE(Register(s, 0, &gen));
    ASSERT_EQ(Attach(s, gen, 9, 0), AttachResult::Attached);
    EXPECT_FALSE(MarkHealthy(s, gen + 1));
    ASSERT_TRUE(MarkHealthy(s, gen));
    EXPECT_EQ(s.failures, 0);
}

TEST(SlotLife, VanishedIsIgnoredOnceTheSlotMovedOn)
{
    std::uint32_t gen = 0;
    SlotLife s = Running(&gen);
    ASSERT_TRUE(Exit(s, gen, 100, ExitKind::Done, 1));
    EXPECT_FALSE(Vanished(s, gen, 2));  // its exit callback already left the slot
    EXPECT_EQ(s.failures, 0);
}

TEST(SlotLife, FreeingVoidsEveryTicket)
{
    SlotLife s{};
    std::uint32_t gen = 0;
    ASSERT_TRUE(Assign(s, 0));
    ASSERT_TRUE(Register(s, 0, &gen));
    ASSERT_TRUE(Vanished(s, gen, 1));
    ASSERT_TRUE(Release(s));
    ASSERT_TRUE(Assign(s, 2));
    EXPECT_NE(s.generation, gen);
}

TEST(SlotPolicy, ExcessIsStoppedNewestFirst)
{
    std::vector<RunningSlot> running = {{0, 100}, {1, 300}, {2, 200}, {3, 300}};
    EXPECT_EQ(ExcessNewestFirst(running, 4), std::vector<int>{});
    EXPECT_EQ(ExcessNewestFirst(running, 2), (std::vector<int>{3, 1}));
    EXPECT_EQ(ExcessNewestFirst(running, 0), (std::vector<int>{3, 1, 2, 0}));
    EXPECT_EQ(ExcessNewestFirst(running, -1).size(), 4u);
}

TEST(SlotPolicy, SlotsAreGrantedUpToTheLimit)
{
    EXPECT_EQ(SlotsToGrant(5, 6, 8), 2);
    EXPECT_EQ(SlotsToGrant(1, 6, 8), 1);
    EXPECT_EQ(SlotsToGrant(3, 9, 8), 0);  // over the limit already
}

TEST(SlotPolicy, RestartDelayDoublesUpToAMinute)
{
    EXPECT_EQ(RestartDelayUs(0), 0);
    EXPECT_EQ(RestartDelayUs(1), kSecond);
    EXPECT_EQ(RestartDelayUs(3), 4 * kSecond);
    EXPECT_EQ(RestartDelayUs(30), 60 * kSecond);
}
