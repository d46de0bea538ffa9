// How much of a batch a consumer worker holds in memory at once. A batch is
// read whole, through a cursor, and handled in slices: at most max_messages
// messages and, once max_bytes is reached, no more (a single message larger
// than max_bytes still goes, alone). Rows cannot be weighed before they are
// fetched, so fetches start at one row and double (up to kMaxChunk) while
// rows stay small, and are sized from the largest message seen so far: a
// slice overshoots max_bytes by at most one fetch of messages larger than
// any before them, i.e. at most kMaxChunk of them, and in practice by far
// less (a batch of 1 small and 40 20 MB messages: one fetch of 2). No
// PostgreSQL.
#pragma once

#include <cstddef>

namespace pgque::core {

class SliceBudget {
public:
    // Messages are assumed at least this large when sizing a fetch, so that
    // a first few small messages do not invite a huge fetch.
    static constexpr std::size_t kAssumedRowBytes = 256 * 1024;
    static constexpr long kMaxChunk = 32;

    SliceBudget(long max_messages, std::size_t max_bytes);

    // How many rows to fetch next for the current slice (>= 1 unless Full()).
    long NextFetch() const;
    void Add(std::size_t row_bytes);
    // A fetch (of rows rows) is done: sizes the next one.
    void Fetched(long rows);
    bool Full() const;
    long Messages() const { return messages_; }
    std::size_t Bytes() const { return bytes_; }
    // A new slice; what was learnt about row sizes is kept.
    void NextSlice();

private:
    long max_messages_;
    std::size_t max_bytes_;
    long messages_ = 0;
    std::size_t bytes_ = 0;
    std::size_t largest_row_ = 0;
    long next_chunk_ = 1;
};

}  // namespace pgque::core
