// When to tick each queue: the database worker's decision, free of
// PostgreSQL so that it can be tested with made-up observations and clocks.
//
// The goal is an event receivable within milliseconds of its commit, and no
// work at all for queues that have nothing new:
//
//  * A queue has *pending* events when PgQ counts new events since its last
//    tick (new_events > 0), or when a transaction that wrote events committed
//    after having started before the queue's last tick without being visible
//    in that tick's snapshot. (PgQ counts events by sequence value, allocated
//    before commit: a tick taken while a producer was still in flight
//    "covers" its sequence value without containing its event, so
//    new_events alone would leave that event waiting for an idle tick.)
//  * Pending, with a consumer ready for a batch: tick now (Force).
//  * Pending, with every consumer busy (a batch open, or a tick it has not
//    received yet waiting for it): let the next batch grow; only
//    PgQ's own thresholds (ticker_max_count, ticker_max_lag) may tick it
//    (Threshold), until a consumer finishes and the worker is woken again.
//  * Nothing pending: PgQ's thresholds and idle ticks, checked once per
//    tick_interval, and ticker(queue) called only when PgQ would tick.
//
// What a pass looks at (Scope): a pass woken by commits looks only at the
// queues those commits wrote and the queues still pending, leaving out those
// whose consumers are all busy until a consumer starts or finishes a batch; the periodic
// check (every tick_interval) adds the queues whose idle tick PgQ's rule
// makes due by now (predicted from the ticks observed); a full pass (the
// worker's slower timer, after lost announcements, or after a commit whose
// queues are unknown) looks at every queue. So a pass costs what the work
// costs, not what the number of queues is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "pgque_worker/core/txid_snapshot.hpp"

namespace pgque::core {

// A committed transaction that inserted events, as its backend announced it.
struct CommittedWrite {
    std::uint64_t txid = 0;
    std::int64_t started_us = 0;  // its start time, microseconds on the server's clock
    // The queues it wrote; empty: unknown (any queue may have its events).
    std::vector<std::string> queues;
};

// What the worker observed of one queue.
struct QueueObservation {
    std::string name;
    std::int64_t new_events = 0;  // PgQ's ev_new
    bool paused = false;
    bool external_ticker = false;
    // Filled only when NeedsConsumerCounts() asked for them.
    int consumers = 0;
    int busy_consumers = 0;  // consumers with an open batch or a tick not yet received

    // PgQ's tick state and thresholds (get_queue_info), to call ticker()
    // only when PgQ would tick. A negative lag: unknown (always call).
    std::int64_t last_tick_id = 0;
    std::int64_t ticker_lag_us = -1;
    std::int64_t max_count = 0;
    std::int64_t max_lag_us = 0;
    std::int64_t idle_period_us = 0;
    std::int64_t observed_at_us = 0;  // clock reading when observed
};

enum class TickAction {
    None,       // leave the queue alone this pass
    Threshold,  // call ticker(queue): PgQ ticks if its thresholds are reached
    Force,      // force_next_tick(queue), then ticker(queue)
};

// The queues a pass looks at.
struct PassScope {
    bool all = false;                 // every queue
    std::vector<std::string> queues;  // otherwise these (none: no pass needed)
};

class TickPolicy {
public:
    // Commits announced since the previous pass.
    void NoteCommits(const std::vector<CommittedWrite> &commits);
    // Announcements were lost (the ring overflowed): every queue may have
    // events that no tick contains.
    void NoteLostCommits();
    // A consumer started or finished a batch (which one is not known).
    void NoteConsumersChanged();

    // What this pass must look at. periodic_due: tick_interval has passed
    // since the last periodic check; full_due: time to look at every queue.
    PassScope Scope(bool periodic_due, bool full_due, std::int64_t now_us) const;

    // Whether Decide() needs the queue's consumer counts: it is pending
    // (consumers decide between Force and Threshold).
    bool NeedsConsumerCounts(const QueueObservation &queue) const;

    // The action for one queue in this pass.
    TickAction Decide(const QueueObservation &queue, bool periodic_due);

    // queue was ticked with this snapshot; taken_after_us is a clock reading
    // taken after the tick's snapshot.
    void RecordTick(const std::string &queue, const TxidSnapshot &snapshot,
                    std::int64_t taken_after_us);

    // Ends a pass: drops the commits noted for it. A full pass also forgets
    // the queues it did not observe (dropped queues).
    void EndPass(bool full);

private:
    struct QueueMemory {
        std::optional<TxidSnapshot> last_tick_snapshot;
        std::int64_t last_tick_after_us = 0;
        // Pending events that no tick has taken yet; a queue first seen by
        // this worker may have some.
        bool pending = true;
        // A commit to it that its last tick does not contain and that no
        // pass has looked at since (its pass left it alone: every consumer
        // busy). PgQ's counter says whether it has events; the next periodic
        // check, or a consumer that changes, looks.
        bool written_unobserved = false;
        bool observed_this_pass = false;
        // PgQ's last tick as observed, and the gap before it (for PgQ's
        // idle back-off); negative: unknown.
        std::int64_t seen_tick_id = -1;
        std::int64_t seen_tick_at_us = 0;
        std::int64_t previous_tick_gap_us = -1;
        // When PgQ would next tick it idle (its thresholds as last observed);
        // 0: at once (unknown).
        std::int64_t idle_tick_due_us = 0;
        std::int64_t max_lag_us = 0, idle_period_us = 0;  // as last observed; 0: unknown
        // Every consumer was busy when last seen, or the queue was ticked
        // since (each consumer then has a tick it has not received): until
        // a consumer changes, a commit to it needs no pass, only PgQ's
        // thresholds at the periodic check.
        bool all_busy = false;
    };

    bool CommitMayBeMissing(const std::string &queue, const QueueMemory &memory) const;
    bool IsPending(const QueueObservation &queue, const QueueMemory *memory) const;
    static bool PgqWouldTick(const QueueObservation &queue, const QueueMemory &memory);
    static std::int64_t IdleTickDue(const QueueMemory &memory, std::int64_t tick_at_us, std::int64_t gap_us);

    std::unordered_map<std::string, QueueMemory> queues_;
    std::vector<CommittedWrite> commits_;
    bool lost_ = false;
};

}  // namespace pgque::core
