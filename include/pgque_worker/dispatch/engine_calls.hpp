// A consumer's calls into the engine, all of them pgque's API. Receive,
// nack and ack run as the consumer's owner, so that pgque's own grants
// decide what the in-process consumer may do, exactly as for a client;
// dead-lettering a message at once (event_dead, pgque_admin's) runs as the
// workers' role, since only the workers decide it.
#pragma once

#include <string>
#include <vector>

#include "pgque_worker/dispatch/consumer_config.hpp"
#include "pgque_worker/pg/cursor.hpp"
#include "pgque_worker/pg/spi.hpp"

struct SPITupleTable;

namespace pgque::dispatch {

// The consumer's next batch, whole (receive with no limit), as
// `select_list` over the message `m`, for reading in slices. An empty
// cursor when nothing is waiting.
pg::Cursor OpenBatch(pg::Transaction &tx, const ConsumerConfig &config, const std::string &select_list);
// The same as a held cursor named `name`, read by later transactions.
pg::Cursor OpenHeldBatch(pg::Transaction &tx, const ConsumerConfig &config, const char *name,
                         const std::string &select_list);
SPITupleTable *FetchBatch(const ConsumerConfig &config, pg::Cursor &cursor, long count);

// Retry message (its text form; only its msg_id counts, as in pgque's
// contract) after delay (an interval as text), or dead-letter it when its
// retries are spent, with reason.
void Nack(pg::Transaction &tx, const ConsumerConfig &config, const std::string &batch_id,
          const std::string &message, const std::string &delay, const std::string &reason);

// Dead-letters message (its text form) at once, whatever its retries.
void DeadLetter(pg::Transaction &tx, const std::string &batch_id, const std::string &message,
                const std::string &reason);
// The same from the message's fields as text: msg_id, created_at,
// retry_count, type, payload, extra1..4.
void DeadLetterFields(pg::Transaction &tx, const std::string &batch_id, const std::vector<pg::Value> &fields,
                      const std::string &reason);

// The text form of a message that nack() reads: its msg_id.
std::string MessageOfId(const std::string &batch_id, const std::string &msg_id);

void Ack(pg::Transaction &tx, const ConsumerConfig &config, const std::string &batch_id);

// Which of the events with these ids this transaction dead-lettered.
std::vector<std::string> DeadLetteredNow(pg::Transaction &tx, const std::vector<std::string> &event_ids);

}  // namespace pgque::dispatch
