// Standard Webhooks (https://www.standardwebhooks.com): the message body,
// the headers and their signature, and the retry back-off. No PostgreSQL.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pgque::core {

std::string Base64Encode(std::string_view bytes);
std::optional<std::string> Base64Decode(std::string_view text);

// The signing key of a secret given as the spec gives it, "whsec_" + base64;
// nullopt for anything else.
std::optional<std::string> ParseWebhookSecret(std::string_view secret);

// "v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>"
std::string SignWebhook(std::string_view key, std::string_view id, std::int64_t timestamp,
                        std::string_view body);

// webhook-id: the same for a message on every retry, unique per queue,
// consumer and message, and made of header-safe characters whatever the
// queue and consumer names are.
std::string WebhookId(std::string_view queue, std::string_view consumer, std::int64_t msg_id);

// The fields of a message, as receive() returns them in text form.
struct WebhookMessage {
    std::string queue;
    std::string consumer;
    std::int64_t msg_id = 0;
    std::int64_t batch_id = 0;
    std::optional<std::string> type;
    std::optional<std::string> payload;
    std::optional<int> retry_count;
    std::string created_at;  // ISO 8601
    std::optional<std::string> extra[4];
};

// Deepest JSON payload sent as JSON. Deeper ones are refused (the check is
// iterative, so this bounds only what receivers must parse).
inline constexpr std::size_t kMaxPayloadDepth = 10000;

// A payload that can never be sent as it is: dead-lettered at once.
class UnsendablePayload : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The POST body: a JSON object; the payload embedded exactly as stored when
// it is valid JSON (numbers, key order and precision untouched), as a JSON
// string otherwise. Throws UnsendablePayload for JSON nested deeper than
// kMaxPayloadDepth.
std::string WebhookBody(const WebhookMessage &message);

// Seconds before the next attempt: retry_after * 2^retry_count, at most an hour.
double BackoffSeconds(double retry_after_seconds, int retry_count);

}  // namespace pgque::core
