// What a webhook attempt's response means for its message (Standard
// Webhooks, Svix and Stripe semantics), and the reason stored with it. No
// PostgreSQL, no libcurl.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgque::core {

struct HttpVerdict {
    enum Kind { Delivered, Retry, Dead } kind = Delivered;
    double delay_seconds = 0;  // Retry: when to try again
    std::string reason;        // Retry, Dead: stored with the message
};

inline constexpr double kMaxRetryDelaySeconds = 3600;
inline constexpr std::size_t kReasonExcerptBytes = 200;

// 2xx: delivered. 410 Gone: dead at once. Anything else, a timeout or a
// transport error: retried after retry_after * 2^retry_count (at most an
// hour), or, for 429 and 503 with a Retry-After, after that if it is later
// (at most an hour).
HttpVerdict JudgeResponse(long status, std::string_view transport_error, std::string_view body,
                          std::optional<double> retry_after_header, double retry_after_seconds,
                          int retry_count);

// "HTTP 500: <start of the body>" or "HTTP request failed: <error>": valid
// UTF-8, cut on a character boundary, whatever bytes came back.
std::string FailureReason(long status, std::string_view transport_error, std::string_view body);

}  // namespace pgque::core
