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
// Only a crash of the worker itself counts as a death of the message in
// flight. An orderly exit (SIGTERM: pause, drop, shutdown) clears the
// journal. When another process crashes, the postmaster stops every process
// with SIGQUIT: the worker's SIGQUIT handler leaves a marker file
// (MarkQuit), and that death blames no message. The journal carries the
// consumer's identity, so a journal left behind by a dropped consumer is
// never read for another that got the same id.
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
    explicit PoisonJournal(std::string path) : path_(std::move(path)), quit_marker_(path_ + ".quit") {}

    // Who the journal belongs to (e.g. a hash of queue, consumer name and
    // creation time): a journal of another identity is ignored.
    void SetIdentity(std::uint64_t identity) { identity_ = identity; }

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
    const std::string &quit_marker() const { return quit_marker_; }

    // A stable identity (FNV-1a) of a consumer: its queue, name and creation
    // time, which no later consumer shares.
    static std::uint64_t IdentityOf(const std::string &queue, const std::string &consumer,
                                    const std::string &created);

    // For a SIGQUIT handler: creates the marker file. Async-signal-safe.
    static void MarkQuit(const char *quit_marker_path);

private:
    bool Load();
    void Save() const;

    std::string path_;
    std::string quit_marker_;
    std::uint64_t identity_ = 0;
    std::int64_t batch_ = 0;  // its first message
    std::optional<std::int64_t> in_flight_;
    std::map<std::int64_t, int> deaths_;
    bool saved_ = false;
};

}  // namespace pgque::core
