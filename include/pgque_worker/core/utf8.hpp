// Text that comes from outside (HTTP response bodies, libcurl's errors,
// header values) is made valid UTF-8 before it is stored or logged, and
// every cut is on a character boundary. One helper for all of it. No
// PostgreSQL.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pgque::core {

// bytes as valid UTF-8 of at most max_bytes bytes: each byte of an invalid
// sequence (stray continuation bytes, overlong forms, surrogates, Latin-1
// bytes, ...) and each NUL becomes the four ASCII characters \xNN, and the
// text is cut before the first character (or escape) that does not fit.
std::string ValidUtf8(std::string_view bytes, std::size_t max_bytes = std::string::npos);

// Copies src into dst[0..capacity-1] with a terminating NUL, cutting at a
// UTF-8 character boundary when src does not fit. Returns the bytes copied.
std::size_t CopyTruncatedUtf8(std::string_view src, char *dst, std::size_t capacity);

// Valid UTF-8 as ASCII: every non-ASCII character as \uXXXX (\UXXXXXXXX
// beyond the BMP), for databases whose encoding is neither UTF8 nor
// SQL_ASCII.
std::string AsciiEscaped(std::string_view utf8);

// Length of the valid UTF-8 sequence at text[0], or 0 when it is not one.
std::size_t Utf8SequenceLength(std::string_view text);

}  // namespace pgque::core
