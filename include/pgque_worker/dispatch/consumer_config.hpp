// A consumer as declared in pgque_worker.consumer and pgque_worker.route.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pgque_worker/pg/spi.hpp"

namespace pgque::dispatch {

struct SqlRoute {
    std::string event_type;
    unsigned int handler = 0;  // pg_proc oid
    unsigned int owner = 0;    // role the handler runs as
    long timeout_ms = 0;       // 0: no statement timeout
};

struct ConsumerConfig {
    int id = 0;
    std::string queue;
    std::string consumer;
    int max_messages = 100;
    std::string retry_after = "60 seconds";
    long poll_ms = 30000;
    bool enabled = true;
    std::vector<SqlRoute> routes;
};

// The consumer with this id, or nullopt when it no longer exists.
std::optional<ConsumerConfig> LoadConsumerConfig(pg::Transaction &tx, int id);

}  // namespace pgque::dispatch
