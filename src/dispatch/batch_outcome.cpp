#include "pgque_worker/dispatch/batch_outcome.hpp"

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

void RecordBatchStats(pg::Transaction &tx, const ConsumerConfig &config, const BatchOutcome &out)
{
    tx.Query(
        "INSERT INTO pgque_worker.consumer_stats AS s"
        "  (consumer_id, processed, failed, retried, dead_lettered, unhandled, batches,"
        "   last_batch_at, last_error, last_error_at)"
        " VALUES ($1::int, $2::bigint, $3::bigint, $4::bigint, $5::bigint, $6::bigint, 1,"
        "         pg_catalog.now(), $7, CASE WHEN $7 IS NULL THEN NULL ELSE pg_catalog.now() END)"
        " ON CONFLICT (consumer_id) DO UPDATE SET"
        "   processed = s.processed + excluded.processed, failed = s.failed + excluded.failed,"
        "   retried = s.retried + excluded.retried,"
        "   dead_lettered = s.dead_lettered + excluded.dead_lettered,"
        "   unhandled = s.unhandled + excluded.unhandled, batches = s.batches + 1,"
        "   last_batch_at = excluded.last_batch_at,"
        "   last_error = coalesce(excluded.last_error, s.last_error),"
        "   last_error_at = coalesce(excluded.last_error_at, s.last_error_at)",
        {std::to_string(config.id), std::to_string(out.processed), std::to_string(out.failed),
         std::to_string(out.failed - out.dead_lettered), std::to_string(out.dead_lettered),
         std::to_string(out.unhandled), out.last_error.empty() ? pg::Value() : pg::Value(out.last_error)});
}

}  // namespace pgque::dispatch
