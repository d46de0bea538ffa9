#include "pgque_worker/core/txid_snapshot.hpp"

#include <algorithm>
#include <charconv>

namespace pgque::core {

namespace {

bool ParseNumber(std::string_view text, std::uint64_t &out)
{
    if (text.empty())
        return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<TxidSnapshot> TxidSnapshot::Parse(std::string_view text)
{
    const auto first = text.find(':');
    if (first == std::string_view::npos)
        return std::nullopt;
    const auto second = text.find(':', first + 1);
    if (second == std::string_view::npos)
        return std::nullopt;

    TxidSnapshot s;
    if (!ParseNumber(text.substr(0, first), s.xmin) ||
        !ParseNumber(text.substr(first + 1, second - first - 1), s.xmax) || s.xmin > s.xmax)
        return std::nullopt;

    std::string_view rest = text.substr(second + 1);
    while (!rest.empty()) {
        const auto comma = rest.find(',');
        std::uint64_t txid = 0;
        if (!ParseNumber(rest.substr(0, comma), txid) || txid < s.xmin || txid >= s.xmax)
            return std::nullopt;
        s.xip.push_back(txid);
        if (comma == std::string_view::npos)
            break;
        rest = rest.substr(comma + 1);
        if (rest.empty())
            return std::nullopt;  // trailing comma
    }
    std::sort(s.xip.begin(), s.xip.end());
    return s;
}

bool TxidSnapshot::Sees(std::uint64_t txid) const
{
    if (txid < xmin)
        return true;
    if (txid >= xmax)
        return false;
    return !std::binary_search(xip.begin(), xip.end(), txid);
}

}  // namespace pgque::core
