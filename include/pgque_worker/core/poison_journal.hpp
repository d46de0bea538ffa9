// A consumer's record of the batch in flight, in a small file under the
// data directory: it survives a crash of the consumer worker and the crash
// recovery that follows (which wipes shared memory). No PostgreSQL.
//
// A batch is marked before it is handled and forgotten once its outcome is
// committed. Finding the mark of the batch in hand means the worker died
// during it: the batch is then replayed one message at a time, each message
// marked before it is handled, and a message that was the one in flight
// during `limit` deaths is dead-lettered instead of handled again. The first
// death only tells which batch to replay, so an innocent message is never
// blamed for a crash it merely shared a batch with.
//
// Writes are atomic (a new file renamed over the old) but not fsync'ed: a
// process crash keeps the page cache; an operating-system crash may lose the
// mark, and the batch is then simply handled again.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace pgque::core {

class PoisonJournal {
public:
    explicit PoisonJournal(std::string path) : path_(std::move(path)) {}

    // A batch's first rows are in hand: true when this batch was interrupted
    // before (replay it one message at a time). A batch is known by its first
    // message: one that a crash rolled back comes again with the same
    // messages, but on PgQ under a new batch id.
    bool BeginBatch(std::int64_t first_msg_id);
    // Replay: msg_id is about to be handled.
    void MarkInFlight(std::int64_t msg_id);
    // Deaths of the worker while msg_id was the message in flight.
    int DeathsOf(std::int64_t msg_id) const;
    // The batch's outcome is committed, or the process survived whatever
    // interrupted it: nothing to replay.
    void Clear();

    const std::string &path() const { return path_; }

private:
    bool Load();
    void Save() const;

    std::string path_;
    std::int64_t batch_ = 0;  // its first message
    std::optional<std::int64_t> in_flight_;
    std::map<std::int64_t, int> deaths_;
    bool saved_ = false;
};

}  // namespace pgque::core
