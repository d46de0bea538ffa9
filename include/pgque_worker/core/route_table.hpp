// Which route a message goes to: the route of its exact event type, else the
// catch-all '*', else none (the message is unhandled: counted and acked).
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace pgque::core {

class RouteTable {
public:
    static constexpr int kNoRoute = -1;

    explicit RouteTable(const std::vector<std::string> &event_types);

    // Index into the event_types given at construction. A NULL type (pgque
    // allows it) has no route of its own: it goes to '*'.
    int RouteFor(const std::optional<std::string> &type) const;

private:
    std::unordered_map<std::string, int> exact_;
    int catch_all_ = kNoRoute;
};

}  // namespace pgque::core
