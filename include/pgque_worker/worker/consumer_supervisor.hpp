// Inside a database worker: keeps one consumer worker running for every
// enabled consumer of the database that has a route, within
// pgque_worker.max_consumer_workers, and wakes them when their queue ticks.
// It owns its database's consumer slots (slot_table.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/pg/spi.hpp"

extern "C" {
#include "postmaster/bgworker.h"
}

namespace pgque::worker {

class ConsumerSupervisor {
public:
    // Starts, stops and restarts consumer workers to match the configuration
    // (read in tx); with config_changed, running ones are told to read their
    // configuration again.
    void Reconcile(pg::Transaction &tx, bool config_changed);
    // Wakes the consumer workers of these queues (they have a new batch).
    void WakeQueues(const std::vector<std::string> &queues);
    // Stops every consumer worker of this database and frees their slots
    // (the database is no longer served by this process).
    void ReleaseAll();

private:
    struct Started {
        BackgroundWorkerHandle *handle;
        std::uint32_t generation;
    };
    struct Wanted {
        std::string queue;
        std::string consumer;
    };
    void CheckHandles(std::int64_t now);
    void NoteState(int consumer_id, const Wanted &who, const std::string &state);

    std::map<int, Started> started_;       // slot index -> the process we asked for
    std::map<int, std::string> shown_;     // consumer id -> state last logged
};

}  // namespace pgque::worker
