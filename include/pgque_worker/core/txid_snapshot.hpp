// A PostgreSQL snapshot in pg_snapshot's text form ("xmin:xmax:xip,xip,..."),
// with 64-bit (epoch-extended) transaction ids.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace pgque::core {

struct TxidSnapshot {
    std::uint64_t xmin = 0;
    std::uint64_t xmax = 0;
    std::vector<std::uint64_t> xip;  // in progress when the snapshot was taken, sorted

    static std::optional<TxidSnapshot> Parse(std::string_view text);

    // Whether the effects of committed transaction txid are visible in this
    // snapshot (it finished before the snapshot was taken).
    bool Sees(std::uint64_t txid) const;
};

}  // namespace pgque::core
