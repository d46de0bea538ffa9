// What became of a batch, and the bookkeeping both dispatchers share: the
// consumer's counters in shared memory (src/stats).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pgque_worker/dispatch/consumer_config.hpp"
#include "pgque_worker/pg/spi.hpp"
#include "pgque_worker/stats/consumer_counters.hpp"

namespace pgque::dispatch {

struct BatchOutcome {
    long messages = 0;      // received in this batch (0: nothing was waiting)
    long processed = 0;     // handled successfully
    long failed = 0;        // not handled: nacked, or dead-lettered at once
    long dead_lettered = 0; // of the failed, moved to the dead-letter queue
    long unhandled = 0;     // no route: acked without a handler
    bool replayed = false;  // the batch was replayed one message at a time after a death
    std::size_t bytes = 0;  // of its messages, as read
    std::int64_t handler_us = 0;  // in SQL handler calls, or waiting for HTTP responses
    std::int64_t http[stats::kHttpClasses] = {};  // delivery attempts by response class
    std::vector<std::string> unhandled_types;
    std::vector<std::string> dead_letters;  // "message <id>: <reason>", one per message
    std::string last_error;
    std::string history_error;  // why the webhook history missed attempts of the batch (logged, not fatal)
};

// Notes a message type without a route (at most 64 bytes of it, at most
// kMaxNotedTypes types a batch): seen is the batch's set.
void NoteUnhandled(BatchOutcome &out, std::set<std::string> &seen, const std::optional<std::string> &type);

// After nacks of these messages (msg_id -> reason): counts and notes the
// ones whose retries were spent, which nack() dead-lettered. One query.
void NoteSpentRetries(pg::Transaction &tx, BatchOutcome &out, const std::map<std::string, std::string> &nacked);

// Adds a batch's outcome, which took batch_us from receive to commit, to the
// consumer's counters in shared memory. Call after the commit that acked it:
// a batch that rolls back counts nothing. No table write.
void CountBatch(const ConsumerConfig &config, const BatchOutcome &out, std::int64_t batch_us);

}  // namespace pgque::dispatch
