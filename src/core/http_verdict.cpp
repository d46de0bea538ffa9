#include "pgque_worker/core/http_verdict.hpp"

#include <algorithm>

#include "pgque_worker/core/utf8.hpp"
#include "pgque_worker/core/webhook.hpp"

namespace pgque::core {

std::string FailureReason(long status, std::string_view transport_error, std::string_view body)
{
    std::string reason = status ? "HTTP " + std::to_string(status)
                                : "HTTP request failed: " + ValidUtf8(transport_error, kReasonExcerptBytes);
    if (!body.empty())
        reason += ": " + ValidUtf8(body, kReasonExcerptBytes);
    return reason;
}

HttpVerdict JudgeResponse(long status, std::string_view transport_error, std::string_view body,
                          std::optional<double> retry_after_header, double retry_after_seconds,
                          int retry_count)
{
    HttpVerdict v;
    if (status >= 200 && status < 300 && transport_error.empty())
        return v;
    v.reason = FailureReason(status, transport_error, body);
    if (status == 410) {
        v.kind = HttpVerdict::Dead;
        return v;
    }
    v.kind = HttpVerdict::Retry;
    // Retry-After is a floor, not a replacement for the back-off: an endpoint
    // that says "0" must not burn the message's retries at tick speed.
    v.delay_seconds = BackoffSeconds(retry_after_seconds, retry_count);
    if ((status == 429 || status == 503) && retry_after_header)
        v.delay_seconds = std::max(v.delay_seconds, std::clamp(*retry_after_header, 0.0, kMaxRetryDelaySeconds));
    return v;
}

}  // namespace pgque::core
