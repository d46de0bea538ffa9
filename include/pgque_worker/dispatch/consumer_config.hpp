// A consumer as declared in pgque_worker.consumer and pgque_worker.route.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pgque_worker/pg/spi.hpp"

namespace pgque::dispatch {

struct Route {
    std::string event_type;
    std::string kind;          // "sql" or "http"
    unsigned int owner = 0;    // role that declared it
    bool owner_is_superuser = false;
    long timeout_ms = 0;       // sql: 0 for no statement timeout
    unsigned int handler = 0;  // sql: pg_proc oid
    std::string url;           // http
    std::vector<std::string> headers;  // http: "Name: value"
    std::optional<std::string> secret; // http: "whsec_..."
};

struct ConsumerConfig {
    int id = 0;
    std::string queue;
    std::string consumer;
    unsigned int owner = 0;  // receives, nacks and acks as this role
    std::string created;     // when it was declared (with queue and name: its identity)
    int max_messages = 100;
    std::string retry_after = "60 seconds";
    double retry_after_seconds = 60;
    long poll_ms = 30000;
    bool enabled = true;
    std::optional<std::string> stop_reason;  // why it must not run (paused, no handlers, ...)
    std::vector<Route> routes;  // all of one kind
    bool engine_nacks_as_read = false;  // the engine has pgque._nack_read (pgque_pgq)

    bool IsHttp() const { return !routes.empty() && routes[0].kind == "http"; }
    // The event types of its routes, in route order (for a RouteTable).
    std::vector<std::string> EventTypes() const
    {
        std::vector<std::string> types;
        for (const Route &r : routes)
            types.push_back(r.event_type);
        return types;
    }
};

// The configuration tables are writable (so lockable) by every role, under
// row-level security: the workers wait at most a second for a lock on them,
// and try again later, so that nobody can stall ticking with a LOCK TABLE.
void LimitLockWait(pg::Transaction &tx);

// The consumer with this id, or nullopt when it no longer exists. An error
// when a route's credentials exist but this session cannot read them (a
// signed route is never sent unsigned).
std::optional<ConsumerConfig> LoadConsumerConfig(pg::Transaction &tx, int id);

}  // namespace pgque::dispatch
