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
//  * Nothing pending: PgQ's thresholds and idle ticks, once per tick_interval.
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
};

// What the worker observed of one queue at the start of a pass.
struct QueueObservation {
    std::string name;
    std::int64_t new_events = 0;  // PgQ's ev_new
    bool paused = false;
    bool external_ticker = false;
    int consumers = 0;
    int busy_consumers = 0;  // consumers with an open batch or a tick not yet received
};

enum class TickAction {
    None,       // leave the queue alone this pass
    Threshold,  // call ticker(queue): PgQ ticks if its thresholds are reached
    Force,      // force_next_tick(queue), then ticker(queue)
};

class TickPolicy {
public:
    // Commits announced since the previous pass.
    void NoteCommits(const std::vector<CommittedWrite> &commits);
    // Announcements were lost (the ring overflowed): every queue may have
    // events that no tick contains.
    void NoteLostCommits();

    // The action for one queue in this pass. periodic_due: tick_interval has
    // passed since the last periodic check.
    TickAction Decide(const QueueObservation &queue, bool periodic_due);

    // queue was ticked with this snapshot; taken_after_us is a clock reading
    // taken after the tick's snapshot.
    void RecordTick(const std::string &queue, const TxidSnapshot &snapshot,
                    std::int64_t taken_after_us);

    // Ends a pass: drops the commits noted for it and forgets queues that
    // were not observed (dropped queues).
    void EndPass();

private:
    struct QueueMemory {
        std::optional<TxidSnapshot> last_tick_snapshot;
        std::int64_t last_tick_after_us = 0;
        // Pending events that no tick has taken yet; a queue first seen by
        // this worker may have some.
        bool pending = true;
        bool observed_this_pass = false;
    };

    bool CommitMayBeMissing(const QueueMemory &memory) const;

    std::unordered_map<std::string, QueueMemory> queues_;
    std::vector<CommittedWrite> commits_;
};

}  // namespace pgque::core
