#include "pgque_worker/core/error_report.hpp"

#include "pgque_worker/core/utf8.hpp"

namespace pgque::core {

void ErrorReport::Set(int code, std::string_view msg, std::string_view det, std::string_view hnt)
{
    sqlstate = code;
    CopyTruncatedUtf8(msg, message, sizeof message);
    CopyTruncatedUtf8(det, detail, sizeof detail);
    CopyTruncatedUtf8(hnt, hint, sizeof hint);
}

}  // namespace pgque::core
