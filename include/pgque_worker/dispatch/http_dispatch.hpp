// One batch of an HTTP consumer: messages POSTed to their routes' URLs.
//
// The HTTP I/O happens outside any transaction. The batch is read whole
// through a held cursor (its rows kept at commit, spilling to disk past
// work_mem) and sent in slices of at most max_messages messages and
// pgque_worker.max_batch_bytes: one short transaction per slice records what
// became of the previous slice (nacks with back-off or Retry-After, dead
// letters for 410 Gone and unsendable payloads) and reads the next; the
// requests of a slice go out concurrently; the last transaction acks and
// counts. A crash in between leaves the batch open: it is delivered again,
// with the same webhook-id per message. At least once.
//
// A batch during which the worker died before is replayed one request at a
// time, each marked in the journal first (see sql_dispatch.hpp).
#pragma once

#include "pgque_worker/core/poison_journal.hpp"
#include "pgque_worker/dispatch/batch_outcome.hpp"
#include "pgque_worker/dispatch/consumer_config.hpp"
#include "pgque_worker/http/http_client.hpp"

namespace pgque::dispatch {

// Why an HTTP route of such an owner may not send to url; empty when it may.
std::string HttpTargetError(const std::string &url, bool owner_is_superuser);

BatchOutcome DispatchHttpBatch(const ConsumerConfig &config, http::HttpClient &client, const char *activity,
                               core::PoisonJournal &journal);

}  // namespace pgque::dispatch
