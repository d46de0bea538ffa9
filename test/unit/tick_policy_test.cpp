#include <gtest/gtest.h>

#include <algorithm>

#include "pgque_worker/core/tick_policy.hpp"

using namespace pgque::core;

namespace {

QueueObservation Queue(std::int64_t new_events, int consumers = 1, int busy = 0,
                       const std::string &name = "orders")
{
    QueueObservation q;
    q.name = name;
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
    p.EndPass(true);
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
    p.EndPass(true);
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
    p.NoteCommits({{105, 900, {}}});
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::Force);
}

TEST(TickPolicy, WriterThatGotItsTxidAfterTheSnapshotButStartedBeforeIsTickedAgain)
{
    TickPolicy p = TickedOnce();
    p.NoteCommits({{120, 900, {}}});
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::Force);
}

TEST(TickPolicy, WriterThatStartedAfterTheTickIsCountedByPgqAlone)
{
    TickPolicy p = TickedOnce();
    p.NoteCommits({{120, 2000, {}}});
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::None);
}

TEST(TickPolicy, WriterVisibleInTheLastTickNeedsNothing)
{
    TickPolicy p = TickedOnce();
    p.NoteCommits({{99, 500, {}}, {106, 500, {}}});
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::None);
}

TEST(TickPolicy, CommitsAreForgottenAtTheEndOfAPass)
{
    // The commit arrives during a pass in which the queue is paused: it is
    // not carried over to the next pass.
    TickPolicy p = TickedOnce();
    p.NoteCommits({{105, 900, {}}});
    QueueObservation paused = Queue(0);
    paused.paused = true;
    EXPECT_EQ(p.Decide(paused, false), TickAction::None);
    p.EndPass(true);
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
    p.EndPass(true);
    EXPECT_EQ(p.Decide(Queue(0, 1, 1), false), TickAction::Threshold);
    p.RecordTick("orders", *TxidSnapshot::Parse("200:200:"), 5000);
    p.EndPass(true);
    EXPECT_EQ(p.Decide(Queue(0, 1, 0), false), TickAction::None);
}

TEST(TickPolicy, DroppedQueueIsForgotten)
{
    TickPolicy p = TickedOnce();
    p.EndPass(true);  // "orders" not observed: dropped
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::Force);  // a new queue of that name
}

// PgQ's defaults: ticker_max_count 500, ticker_max_lag 3 s, ticker_idle_period 1 min.
QueueObservation Idle(std::int64_t tick_id, std::int64_t lag_s, std::int64_t now_s,
                      std::int64_t new_events = 0)
{
    QueueObservation q = Queue(new_events);
    q.last_tick_id = tick_id;
    q.ticker_lag_us = lag_s * 1000000;
    q.max_count = 500;
    q.max_lag_us = 3 * 1000000;
    q.idle_period_us = 60 * 1000000;
    q.observed_at_us = now_s * 1000000;
    return q;
}

TEST(TickPolicy, PeriodicCheckCallsTheTickerOnlyWhenPgqWouldTick)
{
    TickPolicy p = TickedOnce();
    // Ticked at t=100 (tick 7), after a tick at t=96 (tick 6): a gap of 4 s.
    // The gap before tick 6 is unknown: PgQ decides.
    EXPECT_EQ(p.Decide(Idle(6, 4, 100), true), TickAction::Threshold);
    p.EndPass(true);
    EXPECT_EQ(p.Decide(Idle(7, 0, 100), true), TickAction::None);
    p.EndPass(true);
    // Idle: PgQ waits at least twice the previous gap (8 s).
    EXPECT_EQ(p.Decide(Idle(7, 7, 107), true), TickAction::None);
    p.EndPass(true);
    EXPECT_EQ(p.Decide(Idle(7, 8, 108), true), TickAction::Threshold);
    p.EndPass(true);
    // New events below ticker_max_count wait for ticker_max_lag.
    EXPECT_EQ(p.Decide(Idle(7, 2, 102, 10), true), TickAction::Force);  // pending, consumer idle
}

TEST(TickPolicy, ThresholdsOfAQueueWithoutConsumers)
{
    TickPolicy p = TickedOnce();
    QueueObservation q = Idle(7, 2, 102, 10);
    q.consumers = 0;
    EXPECT_EQ(p.Decide(q, true), TickAction::None);  // 10 < 500 events, 2 s < 3 s
    q = Idle(7, 2, 102, 500);
    q.consumers = 0;
    EXPECT_EQ(p.Decide(q, true), TickAction::Threshold);
    q = Idle(7, 3, 103, 1);
    q.consumers = 0;
    EXPECT_EQ(p.Decide(q, true), TickAction::Threshold);
}

TEST(TickPolicy, IdleTickGapUnknownLeavesTheDecisionToPgq)
{
    TickPolicy p;
    EXPECT_EQ(p.Decide(Idle(7, 1, 100), true), TickAction::Force);  // first seen
    p.RecordTick("orders", *TxidSnapshot::Parse("100:110:105"), 100);
    p.EndPass(true);
    EXPECT_EQ(p.Decide(Idle(7, 1, 101), true), TickAction::None);  // under ticker_max_lag / 2
    p.EndPass(true);
    EXPECT_EQ(p.Decide(Idle(7, 2, 102), true), TickAction::Threshold);  // gap before tick 7 unknown
}

TEST(TickPolicy, PassWokenByCommitsLooksAtTheQueuesWrittenAndThePendingOnes)
{
    TickPolicy p;
    EXPECT_TRUE(p.Scope(false, false, 0).all);  // nothing known yet
    p.Decide(Queue(0, 1, 0, "a"), true);
    p.Decide(Queue(0, 1, 0, "b"), true);
    p.Decide(Queue(0, 1, 0, "c"), true);
    for (const char *q : {"a", "b", "c"})
        p.RecordTick(q, *TxidSnapshot::Parse("100:100:"), 1000);
    p.EndPass(true);

    EXPECT_FALSE(p.Scope(false, false, 0).all);
    EXPECT_TRUE(p.Scope(false, false, 0).queues.empty());  // nothing to do: no pass
    EXPECT_TRUE(p.Scope(true, true, 0).all);     // full: every queue

    // Just ticked: every consumer has a tick to receive; a commit to b
    // needs no pass until a consumer moves (or the periodic check).
    p.NoteCommits({{120, 2000, {"b"}}});
    EXPECT_TRUE(p.Scope(false, false, 0).queues.empty());
    std::vector<std::string> periodic = p.Scope(true, false, 0).queues;
    EXPECT_NE(std::find(periodic.begin(), periodic.end(), "b"), periodic.end());
    p.NoteConsumersChanged();
    PassScope scope = p.Scope(false, false, 0);
    EXPECT_FALSE(scope.all);
    EXPECT_EQ(scope.queues, std::vector<std::string>{"b"});
    // b's consumer is busy (its batch is open): b stays pending.
    EXPECT_EQ(p.Decide(Queue(1, 1, 1, "b"), false), TickAction::Threshold);
    p.EndPass(false);
    EXPECT_TRUE(p.Scope(false, false, 0).queues.empty());
    // It finishes its batch: b is looked at again.
    p.NoteConsumersChanged();
    EXPECT_EQ(p.Scope(false, false, 0).queues, std::vector<std::string>{"b"});
    EXPECT_EQ(p.Decide(Queue(1, 1, 0, "b"), false), TickAction::Force);
}

TEST(TickPolicy, BusyConsumersAndPgqThresholdsNotReachedMeanNoTickerCall)
{
    TickPolicy p = TickedOnce();
    QueueObservation q = Idle(7, 1, 101, 10);  // 10 events, 1 s since the tick
    q.busy_consumers = 1;
    EXPECT_EQ(p.Decide(q, false), TickAction::None);
    q = Idle(7, 3, 103, 10);  // ticker_max_lag reached
    q.busy_consumers = 1;
    EXPECT_EQ(p.Decide(q, false), TickAction::Threshold);
}

TEST(TickPolicy, CommitInFlightDuringATickLeavesTheQueuePendingEvenIfNotLookedAt)
{
    TickPolicy p = TickedOnce();  // orders ticked: its consumer is busy
    p.NoteCommits({{105, 900, {"orders"}}});
    EXPECT_TRUE(p.Scope(false, false, 0).queues.empty());
    p.EndPass(false);
    p.NoteConsumersChanged();  // the consumer finished its batch
    EXPECT_EQ(p.Scope(false, false, 0).queues, std::vector<std::string>{"orders"});
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::Force);  // PgQ counts nothing new
}

TEST(TickPolicy, CommitOfUnknownQueuesOrLostAnnouncementsMeanAFullPass)
{
    TickPolicy p = TickedOnce();
    p.NoteCommits({{120, 2000, {}}});
    EXPECT_TRUE(p.Scope(false, false, 0).all);
    p.Decide(Queue(0), false);
    p.EndPass(true);
    EXPECT_FALSE(p.Scope(false, false, 0).all);
    p.NoteLostCommits();
    EXPECT_TRUE(p.Scope(false, false, 0).all);
    p.Decide(Queue(0), false);
    p.RecordTick("orders", *TxidSnapshot::Parse("200:200:"), 3000);
    p.EndPass(true);
    EXPECT_FALSE(p.Scope(false, false, 0).all);
}

TEST(TickPolicy, CommitToAnotherQueueDoesNotMakeThisOnePending)
{
    TickPolicy p = TickedOnce();
    p.NoteCommits({{105, 900, {"invoices"}}});
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::None);
    p.NoteCommits({{105, 900, {"invoices", "orders"}}});
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::Force);
}

TEST(TickPolicy, PassNotFullKeepsQueuesItDidNotLookAt)
{
    TickPolicy p = TickedOnce();
    p.EndPass(false);
    EXPECT_EQ(p.Decide(Queue(0), false), TickAction::None);  // still known, ticked once
}

TEST(TickPolicy, PeriodicCheckLooksOnlyAtQueuesDueAnIdleTick)
{
    TickPolicy p;
    // "orders" ticked at t=100 after t=96; "invoices" at t=100 after t=99.
    QueueObservation orders = Idle(6, 4, 100), invoices = Idle(6, 1, 100);
    invoices.name = "invoices";
    p.Decide(orders, true);
    p.Decide(invoices, true);
    for (const char *q : {"orders", "invoices"})
        p.RecordTick(q, *TxidSnapshot::Parse("100:100:"), 100 * 1000000);
    p.EndPass(true);
    orders = Idle(7, 0, 100);
    invoices = Idle(7, 0, 100);
    invoices.name = "invoices";
    p.Decide(orders, true);
    p.Decide(invoices, true);
    p.EndPass(true);

    // Gaps 4 s and 1 s: idle ticks due at t=108 and at t=101.5 (ticker_max_lag / 2).
    EXPECT_TRUE(p.Scope(true, false, 101 * 1000000).queues.empty());
    EXPECT_EQ(p.Scope(true, false, 102 * 1000000).queues, std::vector<std::string>{"invoices"});
    EXPECT_EQ(p.Scope(true, false, 108 * 1000000).queues, (std::vector<std::string>{"invoices", "orders"}));
    EXPECT_TRUE(p.Scope(false, false, 108 * 1000000).queues.empty());  // not a periodic check
}

TEST(TickPolicy, OwnTickIsNotLookedAtAgainBeforeTheNextIdleTick)
{
    TickPolicy p;
    // Last ticked at t=96; the worker ticks it at t=100 (a gap of 4 s). Until
    // the next observation, PgQ's idle back-off puts the next idle tick at
    // t=108: the periodic checks before that leave the queue alone (they
    // would otherwise look at it only to see the worker's own tick).
    p.Decide(Idle(6, 4, 100), true);
    p.RecordTick("orders", *TxidSnapshot::Parse("100:100:"), 100 * 1000000);
    p.EndPass(true);
    EXPECT_TRUE(p.Scope(true, false, 101 * 1000000).queues.empty());
    EXPECT_TRUE(p.Scope(true, false, 107 * 1000000).queues.empty());
    EXPECT_EQ(p.Scope(true, false, 108 * 1000000).queues, std::vector<std::string>{"orders"});
}

TEST(TickPolicy, CommitAfterOwnTickIsLookedAtByTheNextPeriodicCheck)
{
    TickPolicy p;
    p.Decide(Idle(6, 4, 100), true);
    p.RecordTick("orders", *TxidSnapshot::Parse("100:100:"), 100 * 1000000);
    p.EndPass(true);
    // A writer that started after the tick commits; the pass it wakes leaves
    // the queue alone (its consumer has yet to receive the tick) and forgets
    // the commit. Its events are in no tick: the next periodic check, or a
    // consumer that changes, must look (the next idle tick is due at t=108).
    p.NoteCommits({{101, 100500000, {"orders"}}});
    EXPECT_TRUE(p.Scope(false, false, 100500000).queues.empty());
    p.EndPass(false);
    EXPECT_EQ(p.Scope(true, false, 101 * 1000000).queues, std::vector<std::string>{"orders"});
    p.NoteConsumersChanged();
    EXPECT_EQ(p.Scope(false, false, 101 * 1000000).queues, std::vector<std::string>{"orders"});
    // Once looked at, PgQ's counter says the rest (here: one event, ticked).
    EXPECT_EQ(p.Decide(Idle(7, 1, 101, 1), true), TickAction::Force);
    p.RecordTick("orders", *TxidSnapshot::Parse("102:102:"), 101 * 1000000);
    p.EndPass(true);
    EXPECT_TRUE(p.Scope(true, false, 102 * 1000000).queues.empty());
}
