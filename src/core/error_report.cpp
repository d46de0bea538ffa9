#include "pgque_worker/core/error_report.hpp"

#include <cstring>

namespace pgque::core {

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

void ErrorReport::Set(int code, std::string_view msg, std::string_view det, std::string_view hnt)
{
    sqlstate = code;
    CopyTruncatedUtf8(msg, message, sizeof message);
    CopyTruncatedUtf8(det, detail, sizeof detail);
    CopyTruncatedUtf8(hnt, hint, sizeof hint);
}

}  // namespace pgque::core
