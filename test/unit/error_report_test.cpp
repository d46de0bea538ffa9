#include <gtest/gtest.h>

#include <string>

#include "pgque_worker/core/error_report.hpp"

using pgque::core::CopyTruncatedUtf8;
using pgque::core::ErrorReport;

TEST(CopyTruncatedUtf8, CopiesWhatFits)
{
    char buf[16];
    EXPECT_EQ(CopyTruncatedUtf8("hello", buf, sizeof buf), 5u);
    EXPECT_STREQ(buf, "hello");
}

TEST(CopyTruncatedUtf8, TruncatesAsciiAndTerminates)
{
    char buf[4];
    EXPECT_EQ(CopyTruncatedUtf8("abcdef", buf, sizeof buf), 3u);
    EXPECT_STREQ(buf, "abc");
}

TEST(CopyTruncatedUtf8, NeverSplitsAMultibyteCharacter)
{
    // "aé€" is 1 + 2 + 3 bytes; a 5-byte buffer holds 4 bytes of text, which
    // would end in the middle of the euro sign.
    char buf[5];
    EXPECT_EQ(CopyTruncatedUtf8("a\xC3\xA9\xE2\x82\xAC", buf, sizeof buf), 3u);
    EXPECT_STREQ(buf, "a\xC3\xA9");
}

TEST(CopyTruncatedUtf8, ZeroCapacityWritesNothing)
{
    char buf[1] = {'x'};
    EXPECT_EQ(CopyTruncatedUtf8("abc", buf, 0), 0u);
    EXPECT_EQ(buf[0], 'x');
}

TEST(ErrorReport, KeepsCodeMessageDetailAndHint)
{
    ErrorReport r;
    r.Set(42, "boom", "the detail", "the hint");
    EXPECT_EQ(r.sqlstate, 42);
    EXPECT_STREQ(r.message, "boom");
    EXPECT_TRUE(r.HasDetail());
    EXPECT_STREQ(r.hint, "the hint");
}

TEST(ErrorReport, OverlongMessageIsCutToCapacity)
{
    ErrorReport r;
    r.Set(1, std::string(5000, 'x'));
    EXPECT_EQ(std::string(r.message).size(), ErrorReport::kMessageCapacity - 1);
    EXPECT_FALSE(r.HasDetail());
    EXPECT_FALSE(r.HasHint());
}
