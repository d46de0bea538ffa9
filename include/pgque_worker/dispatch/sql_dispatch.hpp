// One batch of a consumer, dispatched to its SQL handlers, in the caller's
// transaction: receive, call each message's handler, nack the failures,
// ack. The caller commits: handler effects and the ack commit together.
//
// Fast path: every handler of the batch runs in one subtransaction. If one
// fails, that subtransaction is rolled back and the batch runs again with a
// subtransaction per message, so a failure costs only its own message
// (nacked with the error text) and successful handlers pay no subtransaction.
#pragma once

#include <string>
#include <vector>

#include "pgque_worker/dispatch/consumer_config.hpp"
#include "pgque_worker/pg/spi.hpp"

namespace pgque::dispatch {

struct BatchOutcome {
    long messages = 0;      // received in this batch (0: nothing was waiting)
    long processed = 0;     // handled successfully
    long failed = 0;        // handler failed: nacked
    long dead_lettered = 0; // of the failed, moved to the dead-letter queue
    long unhandled = 0;     // no route: acked without a handler
    std::vector<std::string> unhandled_types;
    std::string last_error;
};

BatchOutcome DispatchSqlBatch(pg::Transaction &tx, const ConsumerConfig &config);

// Adds a batch's outcome to pgque_worker.consumer_stats, in the transaction
// that acks it (so the counters are exact).
void RecordBatchStats(pg::Transaction &tx, const ConsumerConfig &config, const BatchOutcome &out);

}  // namespace pgque::dispatch
