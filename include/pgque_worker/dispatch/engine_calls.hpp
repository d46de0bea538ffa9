// A consumer's calls into the engine (pgque's API: receive, nack, ack), made
// as the consumer's owner so that pgque's own grants decide what the
// in-process consumer may do, exactly as they decide for a client.
#pragma once

#include <string>
#include <vector>

#include "pgque_worker/dispatch/consumer_config.hpp"
#include "pgque_worker/pg/spi.hpp"

struct SPITupleTable;

namespace pgque::dispatch {

// The next batch of the consumer, as `select_list` over the message `m`
// (e.g. "m, (m).type"); valid until the transaction ends.
SPITupleTable *ReceiveBatch(pg::Transaction &tx, const ConsumerConfig &config,
                            const std::string &select_list);
// The same, copied out as text.
std::vector<pg::Row> ReceiveBatchRows(pg::Transaction &tx, const ConsumerConfig &config,
                                      const std::string &select_list);

// Retry message (its text form) after delay (an interval as text), or
// dead-letter it when its retries are spent, with reason.
void Nack(pg::Transaction &tx, const ConsumerConfig &config, const std::string &batch_id,
          const std::string &message, const std::string &delay, const std::string &reason);

void Ack(pg::Transaction &tx, const ConsumerConfig &config, const std::string &batch_id);

// How many of the events with these ids this transaction dead-lettered.
long CountDeadLettered(pg::Transaction &tx, const std::vector<std::string> &event_ids);

}  // namespace pgque::dispatch
