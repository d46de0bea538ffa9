// Per-consumer counters in shared memory, the way pg_stat_statements keeps
// its counters: a fixed-size shared hash keyed by (database oid, consumer
// id), sized by pgque_worker.max_tracked_consumers, saved to
// $PGDATA/pg_stat/pgque_worker_counters.stat at a clean shutdown and loaded
// (then removed) at server start. A crash loses them. No table is written
// per batch.
//
// Everything here is plain data: no C++ objects in shared memory.
#pragma once

#include <cstdint>
#include <vector>

#include "pgque_worker/pg/postgres.hpp"

extern "C" {
#include "utils/timestamp.h"
}

namespace pgque::stats {

// HTTP outcomes of delivery attempts.
enum HttpClass { kHttp2xx, kHttp3xx, kHttp4xx, kHttp5xx, kHttpTransportError, kHttpClasses };
// kHttp2xx.. for a status (0: no response: a transport error).
HttpClass HttpClassOf(long status);

constexpr int kLastErrorSize = 256;

// What one batch adds (or, summed, what a consumer has done since the
// counters began).
struct ConsumerCounts {
    std::int64_t batches = 0;
    std::int64_t messages = 0;       // received
    std::int64_t processed = 0;      // handled successfully (delivered)
    std::int64_t failed = 0;         // nacked or dead-lettered
    std::int64_t retried = 0;        // of the failed, nacked for a retry
    std::int64_t dead_lettered = 0;  // of the failed, dead-lettered
    std::int64_t unhandled = 0;      // no route: acked without a handler
    std::int64_t batch_us = 0;       // wall time of the batches, receive to commit
    std::int64_t handler_us = 0;     // of which in handlers (SQL calls, HTTP requests)
    std::int64_t http[kHttpClasses] = {};
};

// The counters of one consumer as shown by pgque_worker._consumer_counters().
struct ConsumerCounterRow {
    int consumer_id;
    Oid owner;
    ConsumerCounts counts;
    TimestampTz since;  // when this entry began counting
    TimestampTz last_batch_at;
    TimestampTz last_error_at;
    char last_error[kLastErrorSize];
};

// Shared-memory hooks; called from _PG_init in the postmaster.
void InstallConsumerCounters();

// Adds a batch of consumer_id of this database (owned by owner) to its
// counters; last_error (may be empty) replaces the stored one when given.
// identity tells consumers apart that reuse an id (the extension dropped
// and created again): an entry of another identity starts again from zero.
// Creates the entry, evicting the least recently active one when the hash
// is full. A no-op when the module was not preloaded.
void AddBatch(int consumer_id, std::uint64_t identity, Oid owner, const ConsumerCounts &counts,
              const char *last_error);

// Entries evicted since server start (a full hash).
std::int64_t Evictions();

// The entries of this database, copied under the hash's lock.
std::vector<ConsumerCounterRow> Snapshot();

}  // namespace pgque::stats
