#include <gtest/gtest.h>

#include "pgque_worker/core/utf8.hpp"

using pgque::core::AsciiEscaped;
using pgque::core::CopyTruncatedUtf8;
using pgque::core::ValidUtf8;

TEST(Utf8, InvalidBytesBecomeAsciiEscapes)
{
    EXPECT_EQ(ValidUtf8("plain"), "plain");
    EXPECT_EQ(ValidUtf8("caf\xe9"), "caf\\xE9");                    // Latin-1
    EXPECT_EQ(ValidUtf8("\xc0\xaf"), "\\xC0\\xAF");                // overlong '/'
    EXPECT_EQ(ValidUtf8("\xed\xa0\x80"), "\\xED\\xA0\\x80");       // surrogate
    EXPECT_EQ(ValidUtf8("\xf4\x90\x80\x80"), "\\xF4\\x90\\x80\\x80");  // > U+10FFFF
    EXPECT_EQ(ValidUtf8(std::string("a\0b", 3)), "a\\x00b");        // no NUL in text
    EXPECT_EQ(ValidUtf8("\xe2\x82"), "\\xE2\\x82");                // cut sequence
    EXPECT_EQ(ValidUtf8("\xf0\x9f\x98\x80 ok \xc3\xa9"), "\xf0\x9f\x98\x80 ok \xc3\xa9");
}

TEST(Utf8, CutsOnCharacterBoundaries)
{
    std::string body = std::string(199, 'x') + "\xc3\xa9";  // 201 bytes: 199 x and an e-acute
    EXPECT_EQ(ValidUtf8(body, 200), std::string(199, 'x'));
    EXPECT_EQ(ValidUtf8(body, 201), body);
    EXPECT_EQ(ValidUtf8("\xe9\xe9\xe9", 9), "\\xE9\\xE9");  // an escape is 4 bytes, never cut
    char dst[5];
    EXPECT_EQ(CopyTruncatedUtf8("ab\xc3\xa9z", dst, sizeof dst), 4u);
    EXPECT_EQ(CopyTruncatedUtf8("abc\xc3\xa9", dst, sizeof dst), 3u);
    EXPECT_STREQ(dst, "abc");
}

TEST(Utf8, AsciiEscapingForOtherEncodings)
{
    EXPECT_EQ(AsciiEscaped("caf\xc3\xa9 \xf0\x9f\x98\x80"), "caf\\u00E9 \\U0001F600");
    EXPECT_EQ(AsciiEscaped("plain"), "plain");
}
