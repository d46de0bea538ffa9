// One batch of a consumer, dispatched to its SQL handlers, in the caller's
// transaction: receive the whole batch through a cursor, handle it in slices
// (at most max_messages messages and pgque_worker.max_batch_bytes each, in a
// memory context reset after each), nack the failures, ack. The caller
// commits: handler effects and the ack commit together.
//
// Fast path: every handler of a slice runs in one subtransaction. If one
// fails, that subtransaction is rolled back and the slice runs again with a
// subtransaction per message, so a failure costs only its own message
// (nacked with the error text) and successful handlers pay no subtransaction.
//
// A batch during which the worker died before (the journal says so) is
// replayed one message at a time, each marked in the journal first; a
// message that was in flight during pgque_worker.poison_crash_limit deaths
// is dead-lettered instead of handled.
#pragma once

#include "pgque_worker/core/poison_journal.hpp"
#include "pgque_worker/dispatch/batch_outcome.hpp"
#include "pgque_worker/dispatch/consumer_config.hpp"
#include "pgque_worker/pg/spi.hpp"

namespace pgque::dispatch {

BatchOutcome DispatchSqlBatch(pg::Transaction &tx, const ConsumerConfig &config, core::PoisonJournal &journal);

// The reason a message that crashed the worker is dead-lettered with.
std::string CrashReason(int deaths);

}  // namespace pgque::dispatch
