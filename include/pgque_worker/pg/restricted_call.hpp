// Code of another role, called from a worker's session the way PostgreSQL
// runs index expressions during VACUUM and REFRESH MATERIALIZED VIEW: as the
// owner's user id, with SECURITY_RESTRICTED_OPERATION (no temp objects,
// LISTEN, PREPARE, cursors WITH HOLD, SET ROLE), inside a GUC nest level that
// is unwound afterwards, under a fixed search_path. Handlers of one owner are
// called in a run (EnterRestricted, CallHandler..., LeaveRestricted): the
// worker enters and leaves once per run of consecutive messages of one owner
// in a slice, because unwinding the GUCs costs as much as a no-op handler.
// Nothing a handler does to the session survives its run: GUCs (SET or
// set_config(..., false)) are unwound and session-level advisory locks are
// released (on an error, by the caller: ReleaseHandlerLocks).
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

// The session as it was before EnterRestricted.
struct RestrictedRun {
    Oid saved_user;
    int saved_context;
    int nest_level;
};

// Becomes owner, restricted as described above. On an error before
// LeaveRestricted, the (sub)transaction's abort restores all of it.
void EnterRestricted(RestrictedRun &run, Oid owner);
// Calls the prepared handler with one argument, under statement_timeout =
// timeout_ms when positive. Between EnterRestricted and LeaveRestricted.
void CallHandler(PreparedHandler &h, long timeout_ms, Datum arg, bool arg_isnull);
// Releases the run's session-level advisory locks, unwinds its GUCs and
// becomes the worker again.
void LeaveRestricted(const RestrictedRun &run);
// Session-level advisory locks outlive a subtransaction's abort; the
// workers take none of their own, so every one is a handler's.
void ReleaseHandlerLocks();

}  // namespace pgque::pg
