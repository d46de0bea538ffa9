#include "pgque_worker/core/slice_budget.hpp"

#include <algorithm>

namespace pgque::core {

SliceBudget::SliceBudget(long max_messages, std::size_t max_bytes)
    : max_messages_(std::max(1L, max_messages)), max_bytes_(std::max<std::size_t>(1, max_bytes))
{
}

long SliceBudget::NextFetch() const
{
    if (Full())
        return 0;
    long rows_left = max_messages_ - messages_;
    std::size_t row = std::max(largest_row_, kAssumedRowBytes);
    std::size_t bytes_left = max_bytes_ - bytes_;
    long by_bytes = static_cast<long>(std::min<std::size_t>(bytes_left / row, static_cast<std::size_t>(rows_left)));
    return std::clamp(std::min(by_bytes, next_chunk_), 1L, rows_left);
}

void SliceBudget::Fetched(long rows)
{
    // Rows as small as assumed so far: the next fetch may take twice as many.
    if (largest_row_ <= kAssumedRowBytes)
        next_chunk_ = std::min(next_chunk_ * 2, kMaxChunk);
    else
        next_chunk_ = 1;
    (void) rows;
}

void SliceBudget::Add(std::size_t row_bytes)
{
    messages_++;
    bytes_ += row_bytes;
    largest_row_ = std::max(largest_row_, row_bytes);
}

bool SliceBudget::Full() const { return messages_ >= max_messages_ || bytes_ >= max_bytes_; }

void SliceBudget::NextSlice()
{
    messages_ = 0;
    bytes_ = 0;
}

}  // namespace pgque::core
