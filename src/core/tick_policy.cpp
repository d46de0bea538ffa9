#include "pgque_worker/core/tick_policy.hpp"

#include <algorithm>
#include <set>

namespace pgque::core {

void TickPolicy::NoteCommits(const std::vector<CommittedWrite> &commits)
{
    commits_.insert(commits_.end(), commits.begin(), commits.end());
    // A commit a queue's last tick may not contain leaves it pending,
    // whether or not this pass looks at the queue; one that began after the
    // tick leaves it to be looked at (PgQ's counter has its events), if not
    // by this pass, by the next that may tick it.
    for (const CommittedWrite &c : commits)
        for (const std::string &name : c.queues) {
            auto it = queues_.find(name);
            if (it == queues_.end())
                continue;
            if (CommitMayBeMissing(name, it->second))
                it->second.pending = true;
            else if (c.started_us >= it->second.last_tick_after_us)
                it->second.written_unobserved = true;  // after the tick: PgQ's counter has its events
        }
}

void TickPolicy::NoteConsumersChanged()
{
    for (auto &entry : queues_)
        entry.second.all_busy = false;
}

void TickPolicy::NoteLostCommits()
{
    lost_ = true;
    for (auto &entry : queues_)
        entry.second.pending = true;
}

PassScope TickPolicy::Scope(bool periodic_due, bool full_due, std::int64_t now_us) const
{
    PassScope scope;
    // A worker that has not seen any queue yet knows of none to look at.
    scope.all = full_due || lost_ || queues_.empty();
    std::set<std::string> names;
    for (const CommittedWrite &c : commits_) {
        if (c.queues.empty())
            scope.all = true;
        for (const std::string &name : c.queues) {
            auto it = queues_.find(name);
            if (it == queues_.end() || periodic_due || !it->second.all_busy)
                names.insert(name);
        }
    }
    if (scope.all)
        return scope;
    for (const auto &entry : queues_) {
        const QueueMemory &m = entry.second;
        if (((m.pending || m.written_unobserved) && (periodic_due || !m.all_busy)) ||
            (periodic_due && m.idle_tick_due_us <= now_us))
            names.insert(entry.first);
    }
    scope.queues.assign(names.begin(), names.end());
    return scope;
}

bool TickPolicy::CommitMayBeMissing(const std::string &queue, const QueueMemory &memory) const
{
    for (const CommittedWrite &c : commits_) {
        if (!c.queues.empty() && std::find(c.queues.begin(), c.queues.end(), queue) == c.queues.end())
            continue;
        if (!memory.last_tick_snapshot)
            return true;
        // A writer that started after the tick allocated its sequence values
        // after the tick too, so new_events counts its events.
        if (c.started_us < memory.last_tick_after_us && !memory.last_tick_snapshot->Sees(c.txid))
            return true;
    }
    return false;
}

bool TickPolicy::IsPending(const QueueObservation &queue, const QueueMemory *memory) const
{
    if (!memory)
        return true;  // first seen: may have events no tick took
    return memory->pending || queue.new_events > 0 || CommitMayBeMissing(queue.name, *memory);
}

bool TickPolicy::NeedsConsumerCounts(const QueueObservation &queue) const
{
    if (queue.paused || queue.external_ticker)
        return false;
    auto it = queues_.find(queue.name);
    return IsPending(queue, it == queues_.end() ? nullptr : &it->second);
}

// PgQ's ticker(queue) decision (pgq.ticker): with new events, tick at
// ticker_max_count events or ticker_max_lag; without, back off (each idle
// tick at least twice the gap before it, from ticker_max_lag / 2) up to
// ticker_idle_period. Unknown: call it and let PgQ decide.
bool TickPolicy::PgqWouldTick(const QueueObservation &queue, const QueueMemory &memory)
{
    if (queue.ticker_lag_us < 0)
        return true;
    std::int64_t lag = queue.ticker_lag_us;
    if (queue.new_events > 0)
        return queue.new_events >= queue.max_count || lag >= queue.max_lag_us;
    if (lag < queue.max_lag_us / 2)
        return false;
    return memory.previous_tick_gap_us < 0 || lag >= 2 * memory.previous_tick_gap_us ||
           lag >= queue.idle_period_us;
}

// PgQ's idle back-off (see PgqWouldTick): the next idle tick is due
// ticker_max_lag / 2 after the last one (at tick_at_us), and not before twice
// the gap before it (negative: unknown), up to ticker_idle_period.
std::int64_t TickPolicy::IdleTickDue(const QueueMemory &memory, std::int64_t tick_at_us, std::int64_t gap_us)
{
    std::int64_t wait = memory.max_lag_us / 2;
    if (gap_us >= 0)
        wait = std::max(wait, std::min(2 * gap_us, memory.idle_period_us));
    return tick_at_us + wait;
}

TickAction TickPolicy::Decide(const QueueObservation &queue, bool periodic_due)
{
    auto found = queues_.find(queue.name);
    bool first_seen = found == queues_.end();
    QueueMemory &memory = first_seen ? queues_[queue.name] : found->second;
    memory.observed_this_pass = true;
    memory.written_unobserved = false;

    // Follow PgQ's ticks (ours and anyone's) for its idle back-off.
    if (queue.ticker_lag_us >= 0 && queue.last_tick_id != memory.seen_tick_id) {
        std::int64_t tick_at = queue.observed_at_us - queue.ticker_lag_us;
        memory.previous_tick_gap_us =
            memory.seen_tick_id >= 0 && queue.last_tick_id == memory.seen_tick_id + 1
                ? tick_at - memory.seen_tick_at_us
                : -1;
        memory.seen_tick_id = queue.last_tick_id;
        memory.seen_tick_at_us = tick_at;
    }
    memory.max_lag_us = queue.max_lag_us;
    memory.idle_period_us = queue.idle_period_us;
    memory.idle_tick_due_us =
        queue.ticker_lag_us < 0 ? 0 : IdleTickDue(memory, memory.seen_tick_at_us, memory.previous_tick_gap_us);

    if (queue.paused || queue.external_ticker)
        return TickAction::None;

    memory.pending = IsPending(queue, first_seen ? nullptr : &memory);
    memory.all_busy = memory.pending && queue.consumers > 0 && queue.busy_consumers >= queue.consumers;

    if (memory.pending && queue.consumers > queue.busy_consumers)
        return TickAction::Force;
    if (memory.pending && queue.consumers > 0)  // all busy: the batch may grow
        return PgqWouldTick(queue, memory) ? TickAction::Threshold : TickAction::None;
    if (!periodic_due)
        return TickAction::None;
    return PgqWouldTick(queue, memory) ? TickAction::Threshold : TickAction::None;
}

void TickPolicy::RecordTick(const std::string &queue, const TxidSnapshot &snapshot,
                            std::int64_t taken_after_us)
{
    QueueMemory &memory = queues_[queue];
    memory.last_tick_snapshot = snapshot;
    memory.last_tick_after_us = taken_after_us;
    memory.pending = false;
    memory.all_busy = true;
    // Its next idle tick, by the same rule, with this tick as the last: the
    // periodic check need not look at the queue again only to see this tick.
    if (memory.max_lag_us > 0)
        memory.idle_tick_due_us = IdleTickDue(
            memory, taken_after_us, memory.seen_tick_id >= 0 ? taken_after_us - memory.seen_tick_at_us : -1);
}

void TickPolicy::EndPass(bool full)
{
    commits_.clear();
    if (full)
        lost_ = false;
    for (auto it = queues_.begin(); it != queues_.end();) {
        if (full && !it->second.observed_this_pass) {
            it = queues_.erase(it);
        } else {
            it->second.observed_this_pass = false;
            ++it;
        }
    }
}

}  // namespace pgque::core
