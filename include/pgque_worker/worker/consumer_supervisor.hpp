// Inside a database worker: keeps one consumer worker running for every
// enabled consumer of the database that has a route, within
// pgque_worker.max_consumer_workers, and wakes them when their queue ticks.
#pragma once

#include <string>
#include <vector>

#include "pgque_worker/pg/spi.hpp"

namespace pgque::worker {

class ConsumerSupervisor {
public:
    // Starts, stops and restarts consumer workers to match the configuration
    // (read in tx); with config_changed, running ones are told to read their
    // configuration again.
    void Reconcile(pg::Transaction &tx, bool config_changed);
    // Wakes the consumer workers of these queues (they have a new batch).
    void WakeQueues(const std::vector<std::string> &queues);
    // Stops every consumer worker of this database (the database worker exits).
    void StopAll();

private:
    bool warned_limit_ = false;
};

}  // namespace pgque::worker
