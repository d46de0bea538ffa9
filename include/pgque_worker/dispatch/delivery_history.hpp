// Per-delivery webhook history: every HTTP attempt of a slice goes into
// pgque_worker.delivery in one multi-row INSERT, in a subtransaction of the
// transaction that records the slice's outcome: a failure here is logged
// and changes nothing else (a delivered message stays delivered). Three
// tables in turn, emptied by TRUNCATE: see docs/webhooks.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pgque_worker/pg/spi.hpp"

namespace pgque::dispatch {

struct DeliveryAttempt {
    std::string event_type;  // the route
    unsigned int owner = 0;  // the route's owner: the only role that may read it
    std::string msg_id;
    int attempt = 1;         // 1 for the first delivery
    std::string webhook_id;
    std::optional<long> status;        // HTTP status; none without a response
    std::optional<std::string> error;  // transport error, or why it was not sent
    std::string response;              // start of the response body (raw bytes)
    double duration_seconds = 0;
    std::int64_t at_us = 0;            // when it was sent (PostgreSQL TimestampTz)
};

// Appends attempts of consumer_id to the history (nothing when
// pgque_worker.webhook_history is 0, or attempts is empty). Returns the
// error that kept them out, or nullopt.
std::optional<std::string> RecordDeliveries(pg::Transaction &tx, int consumer_id,
                                            const std::vector<DeliveryAttempt> &attempts);

}  // namespace pgque::dispatch
