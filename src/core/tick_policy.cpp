#include "pgque_worker/core/tick_policy.hpp"

namespace pgque::core {

void TickPolicy::NoteCommits(const std::vector<CommittedWrite> &commits)
{
    commits_.insert(commits_.end(), commits.begin(), commits.end());
}

void TickPolicy::NoteLostCommits()
{
    for (auto &entry : queues_)
        entry.second.pending = true;
}

bool TickPolicy::CommitMayBeMissing(const QueueMemory &memory) const
{
    if (!memory.last_tick_snapshot)
        return !commits_.empty();
    for (const CommittedWrite &c : commits_) {
        // A writer that started after the tick allocated its sequence values
        // after the tick too, so new_events counts its events.
        if (c.started_us < memory.last_tick_after_us && !memory.last_tick_snapshot->Sees(c.txid))
            return true;
    }
    return false;
}

TickAction TickPolicy::Decide(const QueueObservation &queue, bool periodic_due)
{
    QueueMemory &memory = queues_[queue.name];
    memory.observed_this_pass = true;
    if (queue.paused || queue.external_ticker)
        return TickAction::None;

    if (queue.new_events > 0 || CommitMayBeMissing(memory))
        memory.pending = true;

    if (memory.pending && queue.consumers > queue.busy_consumers)
        return TickAction::Force;
    if (memory.pending && queue.consumers > 0)
        return TickAction::Threshold;  // all busy: the batch may grow
    return periodic_due ? TickAction::Threshold : TickAction::None;
}

void TickPolicy::RecordTick(const std::string &queue, const TxidSnapshot &snapshot,
                            std::int64_t taken_after_us)
{
    QueueMemory &memory = queues_[queue];
    memory.last_tick_snapshot = snapshot;
    memory.last_tick_after_us = taken_after_us;
    memory.pending = false;
}

void TickPolicy::EndPass()
{
    commits_.clear();
    for (auto it = queues_.begin(); it != queues_.end();) {
        if (!it->second.observed_this_pass) {
            it = queues_.erase(it);
        } else {
            it->second.observed_this_pass = false;
            ++it;
        }
    }
}

}  // namespace pgque::core
