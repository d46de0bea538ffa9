// pgque_worker._http_target_error(url, owner): why an HTTP route of owner
// may not send to url, or NULL. Used by the route trigger at declaration;
// the consumer worker checks the same at delivery (the allow-list may change).
#include <string>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/core/http_target.hpp"
#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"

extern "C" {
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(pgque_worker_http_target_error);
}

namespace pgque::dispatch {

std::string HttpTargetError(const std::string &url, bool owner_is_superuser)
{
    std::string error;
    std::optional<core::HttpUrl> parsed = core::ParseHttpUrl(url, &error);
    if (!parsed)
        return error;
    if (!owner_is_superuser && !core::HostAllowed(config::HttpAllowedHosts(), parsed->host))
        return "host \"" + parsed->host + "\" is not in pgque_worker.http_allowed_hosts";
    return "";
}

}  // namespace pgque::dispatch

extern "C" Datum pgque_worker_http_target_error(PG_FUNCTION_ARGS)
{
    using namespace pgque;
    const char *url = nullptr;
    bool superuser = false;
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        PG_RETURN_TEXT_P(cstring_to_text("the URL and its owner must not be NULL"));
    pg::Call([&] {
        url = text_to_cstring(PG_GETARG_TEXT_PP(0));
        superuser = superuser_arg(PG_GETARG_OID(1));
    });
    const char *reason = pg::Entry([&]() -> const char * {
        static std::string error;
        error = dispatch::HttpTargetError(url, superuser);
        return error.empty() ? nullptr : error.c_str();
    });
    if (!reason)
        PG_RETURN_NULL();
    PG_RETURN_TEXT_P(cstring_to_text(reason));
}
