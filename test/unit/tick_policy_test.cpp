#include <gtest/gtest.h>

#include "pgque_worker/core/tick_policy.hpp"

using namespace pgque::core;

namespace {

QueueObservation Queue(std::int64_t new_events, int consumers = 1, int busy = 0)
{
    QueueObservation q;
    q.name = "orders";
    q.new_events = new_events;
    q.consumers = consumers;
    q.busy_consumers = busy;
    return q;
}

// A policy that has ticked "orders" once with snapshot 100:110:105, after t=1000.
TickPolicy TickedOnce()
{
    TickPolicy p;
    p.Decide(Queue(0), false);
    p.RecordTick("orders", *TxidSnapshot::Parse("100:110:105"), 1000);
    p.EndPass();
    return p;
}

}  // namespace

TEST(TickPolicy, QueueFirstSeenIsTickedOnceWhenAConsumerIsIdle)
{
    TickPolicy p;
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::Force);
}

TEST(TickPolicy, NewEventsWithAnIdleConsumerTickAtOnce)
{
    TickPolicy p = TickedOnce();
    EXPECT_EQ(p.Decide(Queue(3), false), TickAction::Force);
}

TEST(TickPolicy, NothingNewMeansNothingToDoUntilThePeriodicCheck)
{
    TickPolicy p = TickedOnce();
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::None);
    EXPECT_EQ(p.Decide(Queue(0), true), TickAction::Threshold);
}

TEST(TickPolicy, BusyConsumersLetTheBatchGrowUnderPgqThresholds)
{
    TickPolicy p = TickedOnce();
    EXPECT_EQ(p.Decide(Queue(3, 2, 2), false), TickAction::Threshold);
    p.EndPass();
    // Still pending on the next pass; a consumer is free now.
    EXPECT_EQ(p.Decide(Queue(0, 2, 1), false), TickAction::Force);
}

TEST(TickPolicy, QueueWithoutConsumersIsLeftToPgqThresholds)
{
    TickPolicy p = TickedOnce();
    EXPECT_EQ(p.Decide(Queue(3, 0, 0), false), TickAction::None);
    EXPECT_EQ(p.Decide(Queue(3, 0, 0), true), TickAction::Threshold);
}

TEST(TickPolicy, PausedAndExternallyTickedQueuesAreNeverTicked)
{
    TickPolicy p = TickedOnce();
    QueueObservation q = Queue(10);
    q.paused = true;
    EXPECT_EQ(p.Decide(q, true), TickAction::None);
    q.paused = false;
    q.external_ticker = true;
    EXPECT_EQ(p.Decide(q, true), TickAction::None);
}

TEST(TickPolicy, WriterInFlightDuringTheLastTickIsTickedAgain)
{
    // Transaction 105 was in progress during the tick: PgQ's counter may
    // already include its event although the tick does not contain it.
    TickPolicy p = TickedOnce();
    p.NoteCommits({{105, 900}});
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::Force);
}

TEST(TickPolicy, WriterThatGotItsTxidAfterTheSnapshotButStartedBeforeIsTickedAgain)
{
    TickPolicy p = TickedOnce();
    p.NoteCommits({{120, 900}});
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::Force);
}

TEST(TickPolicy, WriterThatStartedAfterTheTickIsCountedByPgqAlone)
{
    TickPolicy p = TickedOnce();
    p.NoteCommits({{120, 2000}});
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::None);
}

TEST(TickPolicy, WriterVisibleInTheLastTickNeedsNothing)
{
    TickPolicy p = TickedOnce();
    p.NoteCommits({{99, 500}, {106, 500}});
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::None);
}

TEST(TickPolicy, CommitsAreForgottenAtTheEndOfAPass)
{
    // The commit arrives during a pass in which the queue is paused: it is
    // not carried over to the next pass.
    TickPolicy p = TickedOnce();
    p.NoteCommits({{105, 900}});
    QueueObservation paused = Queue(0);
    paused.paused = true;
    EXPECT_EQ(p.Decide(paused, false), TickAction::None);
    p.EndPass();
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::None);
}

TEST(TickPolicy, LostAnnouncementsMakeEveryQueuePending)
{
    TickPolicy p = TickedOnce();
    p.NoteLostCommits();
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::Force);
}

TEST(TickPolicy, AThresholdCallThatDidNotTickKeepsTheQueuePending)
{
    TickPolicy p = TickedOnce();
    EXPECT_EQ(p.Decide(Queue(2, 1, 1), false), TickAction::Threshold);
    p.EndPass();
    EXPECT_EQ(p.Decide(Queue(0, 1, 1), false), TickAction::Threshold);
    p.RecordTick("orders", *TxidSnapshot::Parse("200:200:"), 5000);
    p.EndPass();
    EXPECT_EQ(p.Decide(Queue(0, 1, 0), false), TickAction::None);
}

TEST(TickPolicy, DroppedQueueIsForgotten)
{
    TickPolicy p = TickedOnce();
    p.EndPass();  // "orders" not observed: dropped
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::Force);  // a new queue of that name
}
