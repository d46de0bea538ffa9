// Periodic work and restart back-off, on an injected clock (microseconds),
// so that the database worker and the launcher can be tested without one.
#pragma once

#include <algorithm>
#include <cstdint>

namespace pgque::core {

// Something to do every interval_us: due at start, then interval_us after
// each Done().
class IntervalTimer {
public:
    explicit IntervalTimer(std::int64_t interval_us = 0) : interval_us_(interval_us) {}

    void SetInterval(std::int64_t interval_us) { interval_us_ = interval_us; }
    bool Due(std::int64_t now_us) const { return !started_ || now_us >= next_us_; }
    void Done(std::int64_t now_us)
    {
        started_ = true;
        next_us_ = now_us + interval_us_;
    }
    // Microseconds until due (0 when due).
    std::int64_t Remaining(std::int64_t now_us) const
    {
        return Due(now_us) ? 0 : next_us_ - now_us;
    }

private:
    std::int64_t interval_us_;
    std::int64_t next_us_ = 0;
    bool started_ = false;
};

// Delay before restarting a worker that failed `failures` times in a row:
// 1 s, 2 s, 4 s, ... capped at max_us. A worker that ran for a while resets
// the count (the caller decides what "a while" is).
inline std::int64_t RestartDelayUs(int failures, std::int64_t base_us = 1000000,
                                   std::int64_t max_us = 60000000)
{
    if (failures <= 0)
        return 0;
    std::int64_t delay = base_us;
    for (int i = 1; i < failures && delay < max_us; ++i)
        delay *= 2;
    return std::min(delay, max_us);
}

}  // namespace pgque::core
