#include "pgque_worker/core/utf8.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace pgque::core {

namespace {
unsigned char Byte(std::string_view text, std::size_t i) { return static_cast<unsigned char>(text[i]); }
}  // namespace

std::size_t Utf8SequenceLength(std::string_view t)
{
    if (t.empty())
        return 0;
    unsigned char b0 = Byte(t, 0);
    if (b0 < 0x80)
        return 1;
    auto cont = [&](std::size_t i) { return i < t.size() && (Byte(t, i) & 0xC0) == 0x80; };
    if (b0 >= 0xC2 && b0 <= 0xDF)
        return cont(1) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (!cont(1) || !cont(2))
            return 0;
        unsigned char b1 = Byte(t, 1);
        if ((b0 == 0xE0 && b1 < 0xA0) || (b0 == 0xED && b1 > 0x9F))  // overlong, surrogate
            return 0;
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3))
            return 0;
        unsigned char b1 = Byte(t, 1);
        if ((b0 == 0xF0 && b1 < 0x90) || (b0 == 0xF4 && b1 > 0x8F))  // overlong, > U+10FFFF
            return 0;
        return 4;
    }
    return 0;
}

std::string ValidUtf8(std::string_view bytes, std::size_t max_bytes)
{
    std::string out;
    out.reserve(std::min(bytes.size(), max_bytes));
    std::size_t i = 0;
    while (i < bytes.size()) {
        std::size_t n = Utf8SequenceLength(bytes.substr(i));
        std::string piece;
        if (n == 0 || bytes[i] == '\0') {
            // ASCII, so that any client encoding can read it, and the byte
            // is still there for whoever debugs the endpoint.
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\x%02X", Byte(bytes, i));
            piece = escaped;
            n = 1;
        } else {
            piece.assign(bytes.substr(i, n));
        }
        if (out.size() + piece.size() > max_bytes)
            break;
        out += piece;
        i += n;
    }
    return out;
}

std::size_t CopyTruncatedUtf8(std::string_view src, char *dst, std::size_t capacity)
{
    if (capacity == 0)
        return 0;
    std::size_t n = src.size();
    if (n >= capacity) {
        n = capacity - 1;
        // Step back over continuation bytes (10xxxxxx) to the start of the
        // character that did not fit, and cut before it.
        while (n > 0 && (static_cast<unsigned char>(src[n]) & 0xC0) == 0x80)
            --n;
    }
    std::memcpy(dst, src.data(), n);
    dst[n] = '\0';
    return n;
}

std::string AsciiEscaped(std::string_view utf8)
{
    std::string out;
    std::size_t i = 0;
    while (i < utf8.size()) {
        std::size_t n = Utf8SequenceLength(utf8.substr(i));
        if (n == 1) {
            out += utf8[i++];
            continue;
        }
        unsigned long cp = 0xFFFD;
        if (n > 1) {
            cp = Byte(utf8, i) & (0xFF >> (n + 1));
            for (std::size_t k = 1; k < n; k++)
                cp = (cp << 6) | (Byte(utf8, i + k) & 0x3F);
        }
        char buf[16];
        std::snprintf(buf, sizeof buf, cp > 0xFFFF ? "\\U%08lX" : "\\u%04lX", cp);
        out += buf;
        i += n ? n : 1;
    }
    return out;
}

}  // namespace pgque::core
