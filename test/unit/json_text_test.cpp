#include <gtest/gtest.h>

#include "pgque_worker/core/json_text.hpp"

using pgque::core::AppendJsonString;
using pgque::core::CheckJson;
using pgque::core::JsonCheck;

TEST(JsonText, AcceptsJson)
{
    for (const char *text : {"0", "-1.5e-3", "\"\"", "true", " null ", "[]", "{}", "[1, [2, {\"a\": [null]}]]",
                             "{\"a\":1,\"b\":{\"c\":\"\\u00e9\\n\"}}", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"",
                             "123456789012345678901234567890", "1e400"})
        EXPECT_EQ(CheckJson(text, 100), JsonCheck::Valid) << text;
}

TEST(JsonText, RejectsWhatIsNotJson)
{
    for (const char *text : {"", " ", "01", "1.", "-", "+1", ".5", "1e", "[1,]", "{\"a\":1,}", "[1 2]", "{1:2}",
                             "{\"a\" 1}", "[}", "{]", "[", "]", "\"unterminated", "\"bad \\x escape\"",
                             "\"\\u12\"", "tru", "nulls", "1 2", "[1]x", "\"tab\tinside\"",
                             "\"caf\xe9\"", "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "NaN", "Infinity"})
        EXPECT_EQ(CheckJson(text, 100), JsonCheck::Invalid) << text;
}

TEST(JsonText, DepthIsBoundedAndNeverRecursive)
{
    auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
    EXPECT_EQ(CheckJson(nested(10), 10), JsonCheck::Valid);
    EXPECT_EQ(CheckJson(nested(11), 10), JsonCheck::TooDeep);
    EXPECT_EQ(CheckJson(nested(1000000), 1000000), JsonCheck::Valid);  // no stack to overflow
    std::string objects;
    for (int i = 0; i < 100000; i++)
        objects += "{\"k\":";
    objects += "1" + std::string(100000, '}');
    EXPECT_EQ(CheckJson(objects, 1000), JsonCheck::TooDeep);
    EXPECT_EQ(CheckJson(objects, 100000), JsonCheck::Valid);
}

TEST(JsonText, StringsAreEscapedAndMadeValid)
{
    std::string out;
    AppendJsonString(out, std::string("a\"b\\c\n\x01\0d", 9));
    EXPECT_EQ(out, "\"a\\\"b\\\\c\\u000a\\u0001\\u0000d\"");
    out.clear();
    AppendJsonString(out, "ok \xc3\xa9 bad \xe9 \xff");
    EXPECT_EQ(out, "\"ok \xc3\xa9 bad \xef\xbf\xbd \xef\xbf\xbd\"");
    EXPECT_EQ(CheckJson(out, 1), JsonCheck::Valid);
}
