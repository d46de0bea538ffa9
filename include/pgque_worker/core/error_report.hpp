// An error on its way out of C++ into PostgreSQL's ereport().
//
// The text is copied into fixed buffers so that raising it needs no memory
// allocation (the raise happens after every C++ scope has closed, and an
// out-of-memory longjmp there must not find half-built objects). Truncation
// never cuts a UTF-8 sequence in half: ereport() would reject the result as
// invalid in the server encoding.
#pragma once

#include <cstddef>
#include <string_view>

#include "pgque_worker/core/utf8.hpp"

namespace pgque::core {

struct ErrorReport {
    static constexpr std::size_t kMessageCapacity = 1024;
    static constexpr std::size_t kDetailCapacity = 1024;

    int sqlstate = 0;  // PostgreSQL's packed SQLSTATE; 0 means "internal error"
    char message[kMessageCapacity] = {};
    char detail[kDetailCapacity] = {};
    char hint[kDetailCapacity] = {};

    void Set(int code, std::string_view msg, std::string_view det = {}, std::string_view hnt = {});
    bool HasDetail() const { return detail[0] != '\0'; }
    bool HasHint() const { return hint[0] != '\0'; }
};

}  // namespace pgque::core
