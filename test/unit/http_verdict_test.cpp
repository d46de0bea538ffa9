#include <gtest/gtest.h>

#include "pgque_worker/core/http_verdict.hpp"

using pgque::core::FailureReason;
using pgque::core::HttpVerdict;
using pgque::core::JudgeResponse;

TEST(HttpVerdict, SuccessAndPlainFailures)
{
    EXPECT_EQ(JudgeResponse(204, "", "", std::nullopt, 60, 0).kind, HttpVerdict::Delivered);
    HttpVerdict v = JudgeResponse(500, "", "boom", std::nullopt, 60, 2);
    EXPECT_EQ(v.kind, HttpVerdict::Retry);
    EXPECT_DOUBLE_EQ(v.delay_seconds, 240);
    EXPECT_EQ(v.reason, "HTTP 500: boom");
    v = JudgeResponse(0, "Connection refused", "", std::nullopt, 1, 0);
    EXPECT_EQ(v.reason, "HTTP request failed: Connection refused");
    EXPECT_DOUBLE_EQ(v.delay_seconds, 1);
}

TEST(HttpVerdict, GoneIsDeadAtOnce)
{
    HttpVerdict v = JudgeResponse(410, "", "endpoint removed", std::nullopt, 60, 0);
    EXPECT_EQ(v.kind, HttpVerdict::Dead);
    EXPECT_EQ(v.reason, "HTTP 410: endpoint removed");
}

TEST(HttpVerdict, RetryAfterIsAFloorOn429And503Only)
{
    EXPECT_DOUBLE_EQ(JudgeResponse(429, "", "", 2.0, 0, 0).delay_seconds, 2);
    EXPECT_DOUBLE_EQ(JudgeResponse(503, "", "", 7.0, 1, 5).delay_seconds, 32);         // back-off is later
    EXPECT_DOUBLE_EQ(JudgeResponse(503, "", "", 86400.0, 60, 0).delay_seconds, 3600);  // the cap
    EXPECT_DOUBLE_EQ(JudgeResponse(429, "", "", 0.0, 60, 1).delay_seconds, 120);       // "0" burns nothing
    EXPECT_DOUBLE_EQ(JudgeResponse(500, "", "", 200.0, 60, 0).delay_seconds, 60);      // ignored
    EXPECT_DOUBLE_EQ(JudgeResponse(429, "", "", std::nullopt, 60, 1).delay_seconds, 120);
}

TEST(HttpVerdict, ReasonsAreValidUtf8CutOnCharacters)
{
    std::string body = std::string(199, 'x') + "\xc3\xa9";
    EXPECT_EQ(FailureReason(500, "", body), "HTTP 500: " + std::string(199, 'x'));
    EXPECT_EQ(FailureReason(500, "", "caf\xe9"), "HTTP 500: caf\\xE9");
    EXPECT_EQ(FailureReason(0, "bad \xff", ""), "HTTP request failed: bad \\xFF");
}
