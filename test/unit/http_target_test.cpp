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
