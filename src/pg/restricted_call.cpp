#include "pgque_worker/pg/restricted_call.hpp"

#include <algorithm>
#include <climits>

extern "C" {
#include "catalog/pg_proc.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
}

namespace pgque::pg {

void PrepareHandler(PreparedHandler &h, Oid handler, Oid owner, MemoryContext context)
{
    if (h.ready)
        return;
    if (!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(handler)))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
                        errmsg("handler function %u no longer exists", handler)));
    if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner)))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("the role that declared the route (%u) no longer exists", owner)));
    if (pg_proc_aclcheck(handler, owner, ACL_EXECUTE) != ACLCHECK_OK)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("role %s may not execute handler %s",
                               GetUserNameFromId(owner, false), format_procedure(handler))));
    fmgr_info_cxt(handler, &h.flinfo, context);
    h.ready = true;
}

void EnterRestricted(RestrictedRun &run, Oid owner)
{
    GetUserIdAndSecContext(&run.saved_user, &run.saved_context);
    SetUserIdAndSecContext(owner, run.saved_context | SECURITY_LOCAL_USERID_CHANGE |
                                      SECURITY_RESTRICTED_OPERATION);
    run.nest_level = NewGUCNestLevel();
    (void) set_config_option("search_path", kHandlerSearchPath, PGC_USERSET, PGC_S_SESSION,
                             GUC_ACTION_SAVE, true, 0, false);
}

void CallHandler(PreparedHandler &h, long timeout_ms, Datum arg, bool arg_isnull)
{
    LOCAL_FCINFO(fcinfo, 1);
    InitFunctionCallInfoData(*fcinfo, &h.flinfo, 1, InvalidOid, nullptr, nullptr);
    fcinfo->args[0].value = arg;
    fcinfo->args[0].isnull = arg_isnull;
    if (timeout_ms <= 0) {
        (void) FunctionCallInvoke(fcinfo);
        return;
    }
    // statement_timeout is an int of milliseconds; an error's abort does not
    // disarm it, hence the PG_FINALLY.
    enable_timeout_after(STATEMENT_TIMEOUT, static_cast<int>(std::min<long>(timeout_ms, INT_MAX)));
    PG_TRY();
    {
        (void) FunctionCallInvoke(fcinfo);
    }
    PG_FINALLY();
    {
        disable_timeout(STATEMENT_TIMEOUT, false);
    }
    PG_END_TRY();
}

void LeaveRestricted(const RestrictedRun &run)
{
    ReleaseHandlerLocks();
    AtEOXact_GUC(false, run.nest_level);
    SetUserIdAndSecContext(run.saved_user, run.saved_context);
}

void ReleaseHandlerLocks() { LockReleaseSession(USER_LOCKMETHOD); }

}  // namespace pgque::pg
