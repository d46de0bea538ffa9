// pg::Error: a PostgreSQL ERROR carried through C++ as an exception.
#pragma once

#include <stdexcept>
#include <string>

namespace pgque::pg {

class Error : public std::runtime_error {
public:
    Error(int sqlstate, std::string message, std::string detail = {}, std::string hint = {})
        : std::runtime_error(std::move(message)),
          sqlstate_(sqlstate), detail_(std::move(detail)), hint_(std::move(hint)) {}

    int sqlstate() const { return sqlstate_; }
    const std::string &detail() const { return detail_; }
    const std::string &hint() const { return hint_; }

private:
    int sqlstate_;
    std::string detail_;
    std::string hint_;
};

}  // namespace pgque::pg
