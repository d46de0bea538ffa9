// One batch of an HTTP consumer: messages POSTed to their routes' URLs.
//
// The HTTP I/O happens outside any transaction: one transaction receives the
// batch (and commits, leaving the batch open), the requests go out
// concurrently, and a second, short transaction nacks the failures (with
// exponential back-off, dead-lettered after max_retries, the HTTP status or
// transport error and the start of the response as reason), acks and counts.
// A crash in between leaves the batch open: it is delivered again, with the
// same webhook-id per message. At least once.
#pragma once

#include "pgque_worker/dispatch/consumer_config.hpp"
#include "pgque_worker/dispatch/sql_dispatch.hpp"
#include "pgque_worker/http/http_client.hpp"

namespace pgque::dispatch {

// Why an HTTP route of such an owner may not send to url; empty when it may.
std::string HttpTargetError(const std::string &url, bool owner_is_superuser);

BatchOutcome DispatchHttpBatch(const ConsumerConfig &config, http::HttpClient &client,
                               const char *activity);

}  // namespace pgque::dispatch
