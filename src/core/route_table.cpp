#include "pgque_worker/core/route_table.hpp"

namespace pgque::core {

RouteTable::RouteTable(const std::vector<std::string> &event_types)
{
    for (int i = 0; i < static_cast<int>(event_types.size()); i++) {
        if (event_types[i] == "*")
            catch_all_ = i;
        else
            exact_.emplace(event_types[i], i);
    }
}

int RouteTable::RouteFor(const std::optional<std::string> &type) const
{
    if (type) {
        auto it = exact_.find(*type);
        if (it != exact_.end())
            return it->second;
    }
    return catch_all_;
}

}  // namespace pgque::core
