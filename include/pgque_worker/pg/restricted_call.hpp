// Code of another role, called from a worker's session the way PostgreSQL
// runs index expressions during VACUUM and REFRESH MATERIALIZED VIEW: as the
// owner's user id, with SECURITY_RESTRICTED_OPERATION (no temp objects,
// LISTEN, PREPARE, cursors WITH HOLD, SET ROLE), inside a GUC nest level that
// is unwound afterwards, under a fixed search_path. Nothing the handler does
// to the session survives the call: GUCs (SET or set_config(..., false)) are
// unwound, session-level advisory locks are released.
//
// PostgreSQL code: call these inside pg::Call.
#pragma once

#include "pgque_worker/pg/postgres.hpp"

namespace pgque::pg {

// What a handler runs with unless its function sets its own (CREATE
// FUNCTION ... SET search_path): PostgreSQL's default.
inline constexpr const char *kHandlerSearchPath = "\"$user\", public";

// A route's handler, looked up and checked once per batch. Plain data in the
// batch's memory context, so that functions keep their per-call caches.
struct PreparedHandler {
    bool ready;
    FmgrInfo flinfo;
};

// Checks (once) that handler and owner still exist and owner may execute
// handler, then prepares the call in context. ERROR otherwise.
void PrepareHandler(PreparedHandler &h, Oid handler, Oid owner, MemoryContext context);

// Calls the prepared handler with one argument as owner, restricted as
// described above, under statement_timeout = timeout_ms when positive.
void CallRestricted(PreparedHandler &h, Oid owner, long timeout_ms, Datum arg, bool arg_isnull);

}  // namespace pgque::pg
