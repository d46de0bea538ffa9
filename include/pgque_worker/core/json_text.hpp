// JSON as text, without building a tree: a payload is checked in one pass
// with an explicit, bounded stack (no recursion on untrusted input, so no
// depth can overflow the C stack) and then embedded byte for byte, so that
// numbers, key order and precision reach the receiver exactly as stored. No
// PostgreSQL.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pgque::core {

enum class JsonCheck {
    Valid,    // one JSON value (RFC 8259), valid UTF-8, nested at most max_depth deep
    Invalid,  // not JSON: it goes as a JSON string
    TooDeep,  // JSON nested deeper than max_depth: refused
};

JsonCheck CheckJson(std::string_view text, std::size_t max_depth);

// Appends text as a JSON string literal: quotes, backslashes and control
// characters escaped, invalid UTF-8 as U+FFFD.
void AppendJsonString(std::string &out, std::string_view text);

}  // namespace pgque::core
