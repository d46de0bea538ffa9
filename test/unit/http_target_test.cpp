#include <gtest/gtest.h>

#include "pgque_worker/core/http_target.hpp"

using namespace pgque::core;

TEST(HttpTarget, AcceptsHttpAndHttpsUrls)
{
    std::string error;
    auto u = ParseHttpUrl("https://Hooks.Example.com:8443/path?q=1", &error);
    ASSERT_TRUE(u) << error;
    EXPECT_EQ(u->scheme, "https");
    EXPECT_EQ(u->host, "hooks.example.com");
    EXPECT_EQ(ParseHttpUrl("http://127.0.0.1:8080", &error)->host, "127.0.0.1");
    EXPECT_EQ(ParseHttpUrl("http://[::1]:80/x", &error)->host, "::1");
}

TEST(HttpTarget, RefusesWhatIsNotAnHttpUrl)
{
    std::string error;
    for (const char *bad : {"ftp://example.com/", "file:///etc/passwd", "example.com/x", "http://",
                            "http:///path", "http://user:pw@example.com/", "http://exa mple.com/",
                            "http://example.com:99999/", "http://example.com:/", "http://[::1/",
                            "gopher://x/", "javascript:alert(1)"}) {
        EXPECT_FALSE(ParseHttpUrl(bad, &error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
}

TEST(HttpTarget, AllowListMatchesExactHostsAndSubdomains)
{
    EXPECT_TRUE(HostAllowed("127.0.0.1, *.example.com", "127.0.0.1"));
    EXPECT_TRUE(HostAllowed("127.0.0.1, *.example.com", "hooks.EXAMPLE.com"));
    EXPECT_FALSE(HostAllowed("127.0.0.1, *.example.com", "example.com"));
    EXPECT_FALSE(HostAllowed("127.0.0.1, *.example.com", "evilexample.com"));
    EXPECT_FALSE(HostAllowed("127.0.0.1, *.example.com", "10.0.0.1"));
    EXPECT_TRUE(HostAllowed("*", "anything"));
    EXPECT_FALSE(HostAllowed("", "localhost"));
}

// The host checked against the allow-list must be the one libcurl connects
// to: a zone id made "[::1%25x.allowed.test]" match "*.allowed.test" while
// curl connected to ::1 (security review, H4).
TEST(HttpTarget, RefusesHostsAParserCouldReadAnotherWay)
{
    std::string error;
    for (const char *bad : {"http://[::1%25x.allowed.test]:18765/zone", "http://[fe80::1%eth0]/",
                            "http://127.0.0.1%2f.allowed.test/", "http://x.allowed.test%00.evil/",
                            "http://evil.test\\.allowed.test/", "http://x.allowed.test%2e/"}) {
        EXPECT_FALSE(ParseHttpUrl(bad, &error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
    EXPECT_TRUE(ParseHttpUrl("http://my_host-1.allowed.test/", &error)) << error;
    EXPECT_TRUE(ParseHttpUrl("http://[2001:db8::1]:8080/", &error)) << error;
}
