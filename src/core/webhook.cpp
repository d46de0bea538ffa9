#include "pgque_worker/core/webhook.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cmath>

#include "pgque_worker/core/json_text.hpp"

namespace pgque::core {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Base64Value(char c)
{
    const char *p = std::find(kAlphabet, kAlphabet + 64, c);
    return p == kAlphabet + 64 ? -1 : static_cast<int>(p - kAlphabet);
}

}  // namespace

std::string Base64Encode(std::string_view bytes)
{
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (size_t i = 0; i < bytes.size(); i += 3) {
        unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
        if (i + 1 < bytes.size())
            v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        if (i + 2 < bytes.size())
            v |= static_cast<unsigned char>(bytes[i + 2]);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
        out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
    }
    return out;
}

std::optional<std::string> Base64Decode(std::string_view text)
{
    if (text.size() % 4 != 0)
        return std::nullopt;
    std::string out;
    for (size_t i = 0; i < text.size(); i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            char c = text[i + k];
            bool padding_allowed = i + 4 == text.size() && k >= 2;
            if (c == '=' && padding_allowed && (k == 3 || text[i + 3] == '=')) {
                v[k] = -2;
                continue;
            }
            v[k] = Base64Value(c);
            if (v[k] < 0)
                return std::nullopt;
        }
        unsigned bits = (v[0] << 18) | (v[1] << 12) | ((v[2] < 0 ? 0 : v[2]) << 6) | (v[3] < 0 ? 0 : v[3]);
        out += static_cast<char>((bits >> 16) & 0xFF);
        if (v[2] >= 0)
            out += static_cast<char>((bits >> 8) & 0xFF);
        if (v[3] >= 0)
            out += static_cast<char>(bits & 0xFF);
    }
    return out;
}

std::optional<std::string> ParseWebhookSecret(std::string_view secret)
{
    constexpr std::string_view prefix = "whsec_";
    if (secret.substr(0, prefix.size()) != prefix)
        return std::nullopt;
    std::optional<std::string> key = Base64Decode(secret.substr(prefix.size()));
    if (!key || key->empty())
        return std::nullopt;
    return key;
}

std::string SignWebhook(std::string_view key, std::string_view id, std::int64_t timestamp,
                        std::string_view body)
{
    std::string content = std::string(id) + "." + std::to_string(timestamp) + "." + std::string(body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char *>(content.data()), content.size(), mac, &mac_length);
    return "v1," + Base64Encode(std::string_view(reinterpret_cast<const char *>(mac), mac_length));
}

std::string WebhookId(std::string_view queue, std::string_view consumer, std::int64_t msg_id)
{
    std::string key = std::string(queue) + '\0' + std::string(consumer);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(key.data(), key.size(), digest, &length, EVP_sha256(), nullptr);
    static const char hex[] = "0123456789abcdef";
    std::string id = "msg_";
    for (int i = 0; i < 8; i++) {
        id += hex[digest[i] >> 4];
        id += hex[digest[i] & 15];
    }
    return id + "_" + std::to_string(msg_id);
}

std::string WebhookBody(const WebhookMessage &m)
{
    std::string body;
    body.reserve(256 + (m.payload ? m.payload->size() : 0));
    auto text_or_null = [&](const std::optional<std::string> &v) {
        if (v)
            AppendJsonString(body, *v);
        else
            body += "null";
    };
    body += "{\"queue\":";
    AppendJsonString(body, m.queue);
    body += ",\"consumer\":";
    AppendJsonString(body, m.consumer);
    body += ",\"msg_id\":" + std::to_string(m.msg_id);
    body += ",\"batch_id\":" + std::to_string(m.batch_id);
    body += ",\"type\":";
    text_or_null(m.type);
    body += ",\"payload\":";
    if (!m.payload) {
        body += "null";
    } else {
        switch (CheckJson(*m.payload, kMaxPayloadDepth)) {
        case JsonCheck::Valid:
            body += *m.payload;  // as stored, byte for byte
            break;
        case JsonCheck::Invalid:
            AppendJsonString(body, *m.payload);
            break;
        case JsonCheck::TooDeep:
            throw UnsendablePayload("the payload is JSON nested deeper than " +
                                    std::to_string(kMaxPayloadDepth) + " levels");
        }
    }
    body += ",\"retry_count\":" + (m.retry_count ? std::to_string(*m.retry_count) : std::string("null"));
    body += ",\"created_at\":";
    AppendJsonString(body, m.created_at);
    for (int i = 0; i < 4; i++) {
        body += ",\"extra" + std::to_string(i + 1) + "\":";
        text_or_null(m.extra[i]);
    }
    body += "}";
    return body;
}

double BackoffSeconds(double retry_after_seconds, int retry_count)
{
    constexpr double kMax = 3600;
    if (retry_after_seconds <= 0)
        return 0;
    int exponent = std::clamp(retry_count, 0, 30);
    return std::min(kMax, retry_after_seconds * std::pow(2.0, exponent));
}

}  // namespace pgque::core
