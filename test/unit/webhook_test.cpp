#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "pgque_worker/core/json_text.hpp"
#include <vector>

#include "pgque_worker/core/webhook.hpp"

using namespace pgque::core;

TEST(Webhook, SignatureMatchesTheStandardWebhooksTestVector)
{
    auto key = ParseWebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    ASSERT_TRUE(key);
    EXPECT_EQ(SignWebhook(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
              "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(Webhook, SecretMustBeWhsecAndBase64)
{
    EXPECT_FALSE(ParseWebhookSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    EXPECT_FALSE(ParseWebhookSecret("whsec_not base64!"));
    EXPECT_FALSE(ParseWebhookSecret("whsec_"));
    EXPECT_FALSE(ParseWebhookSecret("whsec_abc"));
    EXPECT_EQ(*ParseWebhookSecret("whsec_aGVsbG8="), "hello");
}

TEST(Webhook, Base64RoundTrips)
{
    for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x10", 3)})
        EXPECT_EQ(*Base64Decode(Base64Encode(s)), s);
    EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
    EXPECT_FALSE(Base64Decode("Zm9=YmFy"));
    EXPECT_FALSE(Base64Decode("Zm9"));
}

TEST(Webhook, IdIsStablePerMessageAndHeaderSafe)
{
    std::string a = WebhookId("orders", "billing", 42);
    EXPECT_EQ(a, WebhookId("orders", "billing", 42));
    EXPECT_NE(a, WebhookId("orders", "billing", 43));
    EXPECT_NE(a, WebhookId("orders", "shipping", 42));
    EXPECT_NE(WebhookId("a", "bc", 1), WebhookId("ab", "c", 1));
    std::string odd = WebhookId("x\r\nInjected: yes", "\"; DROP", 7);
    EXPECT_EQ(odd.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"), std::string::npos) << odd;
}

TEST(Webhook, BodyEmbedsJsonPayloadsAndQuotesOthers)
{
    WebhookMessage m;
    m.queue = "orders";
    m.consumer = "billing";
    m.msg_id = 5;
    m.batch_id = 9;
    m.type = "order.created";
    m.payload = R"({"id": 1, "tags": ["a"]})";
    m.created_at = "2026-11-24T21:00:00.123456+00:00";
    auto body = nlohmann::json::parse(WebhookBody(m));
    EXPECT_EQ(body["payload"]["id"], 1);
    EXPECT_EQ(body["payload"]["tags"][0], "a");
    EXPECT_EQ(body["msg_id"], 5);
    EXPECT_TRUE(body["retry_count"].is_null());
    EXPECT_TRUE(body["extra4"].is_null());
    EXPECT_EQ(body["created_at"], "2026-11-24T21:00:00.123456+00:00");

    m.payload = "not {json";
    m.retry_count = 2;
    body = nlohmann::json::parse(WebhookBody(m));
    EXPECT_EQ(body["payload"], "not {json");
    EXPECT_EQ(body["retry_count"], 2);
}

TEST(Webhook, BodyCarriesThePayloadByteForByte)
{
    WebhookMessage m;
    m.queue = "q";
    m.consumer = "c";
    for (std::string payload : {R"({"id":123456789012345678901234567890,"amount":19.9900000000000000001})",
                                R"({"b": 1, "a": [1e400, -0.0, 1E+2]})", R"(  "x"  )", "null"}) {
        m.payload = payload;
        std::string body = WebhookBody(m);
        EXPECT_NE(body.find("\"payload\":" + payload + ","), std::string::npos) << body;
        // (1e400 is JSON, though nlohmann cannot hold it in a double.)
        EXPECT_EQ(pgque::core::CheckJson(body, 10), pgque::core::JsonCheck::Valid) << body;
    }
}

TEST(Webhook, DeepPayloadsAreRefusedWithoutRecursion)
{
    WebhookMessage m;
    for (std::size_t depth : {std::size_t(100000), std::size_t(1000000)}) {
        m.payload = std::string(depth, '[') + std::string(depth, ']');
        EXPECT_THROW(WebhookBody(m), pgque::core::UnsendablePayload);
    }
    m.payload = std::string(1000, '[') + std::string(1000, ']');
    EXPECT_NE(WebhookBody(m).find(*m.payload), std::string::npos);
    m.payload = std::string(100, '[');  // unbalanced: not JSON, sent as a string
    EXPECT_NE(WebhookBody(m).find("\"payload\":\"[[["), std::string::npos);
}

TEST(Webhook, HostileTextFieldsStayValidJson)
{
    WebhookMessage m;
    m.queue = "q\"\\\n";
    m.consumer = "caf\xe9";  // Latin-1, not UTF-8
    m.type = std::string("a\0b", 3);
    m.payload = "\xff\xfe not json";
    auto body = nlohmann::json::parse(WebhookBody(m));
    EXPECT_EQ(body["queue"], "q\"\\\n");
    EXPECT_EQ(body["consumer"], "caf\xEF\xBF\xBD");
    EXPECT_EQ(body["type"], std::string("a\0b", 3));
    EXPECT_EQ(body["payload"], "\xEF\xBF\xBD\xEF\xBF\xBD not json");
}

TEST(Webhook, BackoffDoublesPerRetryUpToAnHour)
{
    EXPECT_EQ(BackoffSeconds(60, 0), 60);
    EXPECT_EQ(BackoffSeconds(60, 1), 120);
    EXPECT_EQ(BackoffSeconds(60, 3), 480);
    EXPECT_EQ(BackoffSeconds(60, 6), 3600);
    EXPECT_EQ(BackoffSeconds(60, 1000), 3600);
    EXPECT_EQ(BackoffSeconds(0, 5), 0);
    EXPECT_EQ(BackoffSeconds(0.5, 2), 2);
}
