// A consumer's calls into the engine, all of them pgque's API. Receive,
// nack and ack run as the consumer's owner, so that pgque's own grants
// decide what the in-process consumer may do, exactly as for a client;
// dead-lettering a message at once (event_dead, pgque_admin's) and nacking
// it as read (_nack_read, pgque_admin's) run as the workers' role: only the
// workers decide those, from what they read themselves.
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

// A message as the batch cursor gave it: its text form (one value), or its
// fields as text (nine values: msg_id, created_at, retry_count, type,
// payload, extra1..4).
struct MessageAsRead {
    std::string msg_id;
    std::vector<pg::Value> values;
};
MessageAsRead MessageFromText(const std::string &msg_id, const std::string &text);
MessageAsRead MessageFromFields(std::vector<pg::Value> fields);

// Retries the message after delay (an interval as text), or dead-letters it
// when its retries are spent, with reason. Where the engine has
// pgque._nack_read (pgque_pgq), the message goes as read, as the workers'
// role: no second read of the batch. Elsewhere pgque.nack() reads it again
// by msg_id, as the consumer's owner (pgque's contract).
void Nack(pg::Transaction &tx, const ConsumerConfig &config, const std::string &batch_id,
          const MessageAsRead &message, const std::string &delay, const std::string &reason);

// Dead-letters the message at once, whatever its retries.
void DeadLetter(pg::Transaction &tx, const std::string &batch_id, const MessageAsRead &message,
                const std::string &reason);

void Ack(pg::Transaction &tx, const ConsumerConfig &config, const std::string &batch_id);

// Which of the events with these ids this transaction dead-lettered.
std::vector<std::string> DeadLetteredNow(pg::Transaction &tx, const std::vector<std::string> &event_ids);

}  // namespace pgque::dispatch
