#include "pgque_worker/dispatch/http_dispatch.hpp"

#include <ctime>
#include <map>
#include <set>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/core/http_verdict.hpp"
#include "pgque_worker/core/route_table.hpp"
#include "pgque_worker/core/slice_budget.hpp"
#include "pgque_worker/core/utf8.hpp"
#include "pgque_worker/core/webhook.hpp"
#include "pgque_worker/dispatch/delivery_history.hpp"
#include "pgque_worker/dispatch/engine_calls.hpp"
#include "pgque_worker/dispatch/sql_dispatch.hpp"
#include "pgque_worker/pg/cursor.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/pg/session.hpp"
#include "pgque_worker/pg/spi.hpp"

extern "C" {
#include "pgstat.h"
}

namespace pgque::dispatch {

namespace {

constexpr const char *kCursorName = "pgque_worker_http_batch";
constexpr const char *kSelectList =
    "(m).msg_id, (m).batch_id, (m).type, (m).payload, (m).retry_count,"
    " pg_catalog.to_json((m).created_at) #>> '{}', (m).extra1, (m).extra2, (m).extra3, (m).extra4";
enum Column { kMsgId, kBatchId, kType, kPayload, kRetryCount, kCreatedAt, kExtra1 };

// What became of one message of a slice.
struct Outcome {
    enum Kind { Unhandled, Delivered, Retry, Dead } kind = Unhandled;
    double delay_seconds = 0;
    std::string reason;
};

class HttpBatch {
public:
    HttpBatch(const ConsumerConfig &config, http::HttpClient &client, core::PoisonJournal &journal, BatchOutcome &out)
        : config_(config), client_(client), journal_(journal), out_(out), routes_(config.EventTypes())
    {
    }

    // Reads the next slice in tx, first recording what became of the
    // previous one; false (after the ack) when the batch is done.
    bool NextSlice(pg::Transaction &tx, core::SliceBudget &budget);
    // Sends the slice, outside any transaction.
    void Deliver();

private:
    void Record(pg::Transaction &tx);
    std::vector<pg::Value> Fields(const pg::Row &row) const;

    const ConsumerConfig &config_;
    http::HttpClient &client_;
    core::PoisonJournal &journal_;
    BatchOutcome &out_;
    core::RouteTable routes_;
    std::set<std::string> unhandled_types_;
    std::string batch_id_;
    bool replay_ = false;
    std::vector<pg::Row> slice_;
    std::vector<Outcome> outcomes_;
    std::vector<DeliveryAttempt> attempts_;  // of the slice, for the webhook history
};

std::vector<pg::Value> HttpBatch::Fields(const pg::Row &row) const
{
    return {row[kMsgId], row[kCreatedAt], row[kRetryCount], row[kType], row[kPayload],
            row[kExtra1], row[kExtra1 + 1], row[kExtra1 + 2], row[kExtra1 + 3]};
}

// Nacks and dead letters of the slice just sent, each in a subtransaction:
// after a crash between this commit and the ack, the batch comes again and
// an engine may refuse a second nack of the same event; that must not stop
// the rest.
void HttpBatch::Record(pg::Transaction &tx)
{
    std::map<std::string, std::string> nacked;  // msg_id -> reason
    for (size_t i = 0; i < slice_.size(); i++) {
        const Outcome &o = outcomes_[i];
        const std::string msg_id = slice_[i][kMsgId].value_or("0");
        if (o.kind == Outcome::Delivered) {
            out_.processed++;
            continue;
        }
        if (o.kind == Outcome::Unhandled)
            continue;
        out_.failed++;
        out_.last_error = o.reason;
        std::optional<pg::Error> error = tx.Subtransaction([&] {
            if (o.kind == Outcome::Dead)
                DeadLetter(tx, batch_id_, MessageFromFields(Fields(slice_[i])), o.reason);
            else
                Nack(tx, config_, batch_id_, MessageFromFields(Fields(slice_[i])),
                     std::to_string(o.delay_seconds) + " seconds", o.reason);
        });
        if (error) {
            out_.last_error = "could not record the outcome of message " + msg_id + ": " + error->what();
        } else if (o.kind == Outcome::Dead) {
            out_.dead_lettered++;
            out_.dead_letters.push_back("message " + msg_id + ": " + o.reason);
        } else {
            nacked[msg_id] = o.reason;
        }
    }
    NoteSpentRetries(tx, out_, nacked);
    if (std::optional<std::string> error = RecordDeliveries(tx, config_.id, attempts_))
        out_.history_error = *error;
    slice_.clear();
    outcomes_.clear();
    attempts_.clear();
}

bool HttpBatch::NextSlice(pg::Transaction &tx, core::SliceBudget &budget)
{
    Record(tx);
    pg::Cursor cursor = batch_id_.empty() ? OpenHeldBatch(tx, config_, kCursorName, kSelectList)
                                          : pg::Cursor::Find(kCursorName);
    if (!cursor.Valid())
        throw pg::Error(ERRCODE_INVALID_CURSOR_NAME, "the batch's cursor is gone");
    budget.NextSlice();
    while (!budget.Full()) {
        const long want = budget.NextFetch();
        SPITupleTable *table = FetchBatch(config_, cursor, want);
        std::vector<pg::Row> rows = pg::RowsAsText(table);
        pg::FreeRows(table);
        for (pg::Row &row : rows) {
            std::size_t bytes = 0;
            for (const pg::Value &v : row)
                bytes += v ? v->size() : 0;
            budget.Add(bytes);
            out_.bytes += bytes;
            slice_.push_back(std::move(row));
        }
        budget.Fetched(static_cast<long>(rows.size()));
        if (static_cast<long>(rows.size()) < want)
            break;
    }
    if (slice_.empty()) {
        if (!batch_id_.empty())
            Ack(tx, config_, batch_id_);
        cursor.Close();
        return false;
    }
    out_.messages += static_cast<long>(slice_.size());
    if (batch_id_.empty()) {
        batch_id_ = slice_[0][kBatchId].value_or("0");
        replay_ = journal_.BeginBatch(std::stoll(slice_[0][kMsgId].value_or("0")));
        out_.replayed = replay_;
    }
    return true;
}

void HttpBatch::Deliver()
{
    outcomes_.assign(slice_.size(), Outcome{});
    attempts_.clear();
    std::vector<http::Request> requests;
    std::vector<size_t> message_of;  // slice index of each request
    std::vector<size_t> attempt_of;  // attempts_ index of each request
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    const std::int64_t now_us = pg::NowUs();
    for (size_t i = 0; i < slice_.size(); i++) {
        pg::Row &row = slice_[i];
        Outcome &o = outcomes_[i];
        int route_index = routes_.RouteFor(row[kType]);
        if (route_index == core::RouteTable::kNoRoute) {
            out_.unhandled++;
            NoteUnhandled(out_, unhandled_types_, row[kType]);
            continue;
        }
        const Route &route = config_.routes[route_index];
        const int retry_count = row[kRetryCount] ? std::stoi(*row[kRetryCount]) : 0;
        const std::int64_t msg_id = std::stoll(row[kMsgId].value_or("0"));
        const std::string id = core::WebhookId(config_.queue, config_.consumer, msg_id);
        DeliveryAttempt &attempt = attempts_.emplace_back();
        attempt.event_type = route.event_type;
        attempt.owner = route.owner;
        attempt.msg_id = std::to_string(msg_id);
        attempt.attempt = retry_count + 1;
        attempt.webhook_id = id;
        attempt.at_us = now_us;
        auto not_sent = [&](Outcome outcome) {
            o = std::move(outcome);
            attempts_.back().error = o.reason;
        };
        // The allow-list may have changed since the route was declared.
        if (std::string refusal = HttpTargetError(route.url, route.owner_is_superuser); !refusal.empty()) {
            not_sent({Outcome::Retry, core::BackoffSeconds(config_.retry_after_seconds, retry_count),
                      "not sent: " + refusal});
            continue;
        }
        core::WebhookMessage m;
        m.queue = config_.queue;
        m.consumer = config_.consumer;
        m.msg_id = msg_id;
        m.batch_id = std::stoll(row[kBatchId].value_or("0"));
        m.type = row[kType];
        m.payload = row[kPayload];
        if (row[kRetryCount])
            m.retry_count = retry_count;
        m.created_at = row[kCreatedAt].value_or("");
        for (int k = 0; k < 4; k++)
            m.extra[k] = row[kExtra1 + k];

        http::Request request;
        try {
            request.body = core::WebhookBody(m);
        } catch (const core::UnsendablePayload &e) {
            not_sent({Outcome::Dead, 0, std::string("not sent: ") + e.what()});
            continue;
        }
        m.payload.reset();
        row[kPayload].reset();  // the body holds it now; a dead letter needs no payload of a sent message
        request.url = route.url;
        request.timeout_ms = std::min<long>(route.timeout_ms > 0 ? route.timeout_ms : config::HttpTimeoutMs(),
                                            config::HttpTimeoutMs());
        request.headers = route.headers;
        request.headers.push_back("Content-Type: application/json");
        request.headers.push_back("webhook-id: " + id);
        request.headers.push_back("webhook-timestamp: " + std::to_string(now));
        if (route.secret) {
            std::optional<std::string> key = core::ParseWebhookSecret(*route.secret);
            if (!key) {  // never sent unsigned
                not_sent({Outcome::Retry, core::BackoffSeconds(config_.retry_after_seconds, retry_count),
                          "not sent: the route's signing secret is not a valid whsec_ secret"});
                continue;
            }
            request.headers.push_back("webhook-signature: " + core::SignWebhook(*key, id, now, request.body));
        }
        requests.push_back(std::move(request));
        message_of.push_back(i);
        attempt_of.push_back(attempts_.size() - 1);
    }

    const std::string delivering = "pgque_worker: consumer \"" + config_.consumer + "\" of queue \"" +
                                   config_.queue + "\": delivering " + std::to_string(requests.size()) +
                                   " HTTP requests";
    pg::Call([&] { pgstat_report_activity(STATE_RUNNING, delivering.c_str()); });
    auto interrupts = [] { pg::Call([] { CHECK_FOR_INTERRUPTS(); }); };  // SIGTERM: exit; the batch comes again
    auto judge = [&](size_t k, const http::Response &r) {
        const pg::Row &row = slice_[message_of[k]];
        out_.http[stats::HttpClassOf(r.error.empty() ? r.status : 0)]++;
        DeliveryAttempt &attempt = attempts_[attempt_of[k]];
        if (r.error.empty())
            attempt.status = r.status;
        else
            attempt.error = r.error;
        attempt.response = r.body_excerpt;
        attempt.duration_seconds = r.duration_seconds;
        core::HttpVerdict v = core::JudgeResponse(r.status, r.error, r.body_excerpt, r.retry_after_seconds,
                                                  config_.retry_after_seconds,
                                                  row[kRetryCount] ? std::stoi(*row[kRetryCount]) : 0);
        Outcome &o = outcomes_[message_of[k]];
        o.kind = v.kind == core::HttpVerdict::Delivered ? Outcome::Delivered
                 : v.kind == core::HttpVerdict::Dead    ? Outcome::Dead
                                                        : Outcome::Retry;
        o.delay_seconds = v.delay_seconds;
        o.reason = pg::ForDatabase(v.reason);
    };
    if (!replay_) {
        const std::int64_t started_us = pg::NowUs();
        std::vector<http::Response> responses = client_.PostAll(requests, interrupts);
        out_.handler_us += pg::NowUs() - started_us;
        for (size_t k = 0; k < responses.size(); k++)
            judge(k, responses[k]);
        return;
    }
    // A replay after a death: one request at a time, each marked first.
    const int limit = config::PoisonCrashLimit();
    for (size_t k = 0; k < requests.size(); k++) {
        const std::int64_t id = std::stoll(slice_[message_of[k]][kMsgId].value_or("0"));
        journal_.MarkInFlight(id);
        if (int deaths = journal_.DeathsOf(id); deaths >= limit) {
            outcomes_[message_of[k]] = {Outcome::Dead, 0, CrashReason(deaths)};
            attempts_[attempt_of[k]].error = "not sent: " + CrashReason(deaths);
            continue;
        }
        const std::int64_t started_us = pg::NowUs();
        std::vector<http::Response> responses = client_.PostAll({requests[k]}, interrupts);
        out_.handler_us += pg::NowUs() - started_us;
        judge(k, responses.at(0));
    }
}

}  // namespace

BatchOutcome DispatchHttpBatch(const ConsumerConfig &config, http::HttpClient &client, const char *activity,
                               core::PoisonJournal &journal)
{
    BatchOutcome out;
    HttpBatch batch(config, client, journal, out);
    core::SliceBudget budget(config.max_messages, config::MaxBatchBytes());
    for (;;) {
        pg::Transaction tx(activity);
        bool more = batch.NextSlice(tx, budget);
        tx.Commit();  // the batch stays open until the ack
        if (!more)
            return out;
        batch.Deliver();
    }
}

}  // namespace pgque::dispatch
