#include "pgque_worker/dispatch/batch_outcome.hpp"

#include "pgque_worker/core/poison_journal.hpp"
#include "pgque_worker/core/utf8.hpp"
#include "pgque_worker/dispatch/engine_calls.hpp"

namespace pgque::dispatch {

void NoteUnhandled(BatchOutcome &out, std::set<std::string> &seen, const std::optional<std::string> &type)
{
    constexpr std::size_t kMaxNotedTypes = 200, kTypeBytes = 64;
    if (seen.size() >= kMaxNotedTypes)
        return;
    std::string shown = type ? core::ValidUtf8(*type, kTypeBytes) : "(null)";
    if (type && shown.size() < type->size())
        shown += "...";
    if (seen.insert(shown).second)
        out.unhandled_types.push_back(shown);
}

void NoteSpentRetries(pg::Transaction &tx, BatchOutcome &out, const std::map<std::string, std::string> &nacked)
{
    std::vector<std::string> ids;
    for (const auto &[id, reason] : nacked)
        ids.push_back(id);
    for (const std::string &id : DeadLetteredNow(tx, ids)) {
        out.dead_lettered++;
        out.dead_letters.push_back("message " + id + " after its last retry: " + nacked.at(id));
    }
}

void CountBatch(const ConsumerConfig &config, const BatchOutcome &out, std::int64_t batch_us)
{
    stats::ConsumerCounts counts;
    counts.batches = 1;
    counts.messages = out.messages;
    counts.processed = out.processed;
    counts.failed = out.failed;
    counts.retried = out.failed - out.dead_lettered;
    counts.dead_lettered = out.dead_lettered;
    counts.unhandled = out.unhandled;
    counts.batch_us = batch_us;
    counts.handler_us = out.handler_us;
    for (int i = 0; i < stats::kHttpClasses; i++)
        counts.http[i] = out.http[i];
    stats::AddBatch(config.id, core::PoisonJournal::IdentityOf(config.queue, config.consumer, config.created),
                    config.owner, counts, out.last_error.c_str());
}

}  // namespace pgque::dispatch
