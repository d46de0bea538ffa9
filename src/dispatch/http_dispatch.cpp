#include "pgque_worker/dispatch/http_dispatch.hpp"

#include <ctime>
#include <set>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/core/route_table.hpp"
#include "pgque_worker/core/webhook.hpp"
#include "pgque_worker/dispatch/engine_calls.hpp"
#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/postgres.hpp"
#include "pgque_worker/pg/spi.hpp"

extern "C" {
#include "pgstat.h"
}

namespace pgque::dispatch {

namespace {

std::string Reason(const http::Response &r)
{
    std::string reason = r.status ? "HTTP " + std::to_string(r.status) : "HTTP request failed: " + r.error;
    if (!r.body_excerpt.empty())
        reason += ": " + r.body_excerpt.substr(0, 200);
    return reason;
}

}  // namespace

BatchOutcome DispatchHttpBatch(const ConsumerConfig &config, http::HttpClient &client,
                               const char *activity)
{
    BatchOutcome out;
    std::vector<pg::Row> rows;
    {
        pg::Transaction tx(activity);
        rows = ReceiveBatchRows(
            tx, config,
            "(m).msg_id, (m).batch_id, (m).type, (m).payload, (m).retry_count,"
            " pg_catalog.to_json((m).created_at) #>> '{}', (m).extra1, (m).extra2, (m).extra3,"
            " (m).extra4, m::pg_catalog.text");
        tx.Commit();  // the batch stays open until the ack below
    }
    out.messages = static_cast<long>(rows.size());
    if (rows.empty())
        return out;

    std::vector<std::string> event_types;
    for (const Route &r : config.routes)
        event_types.push_back(r.event_type);
    core::RouteTable table(event_types);

    std::vector<http::Request> requests;
    std::vector<size_t> request_of;  // message index of each request
    std::vector<std::string> refused(rows.size());
    std::set<std::string> unhandled;
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    for (size_t i = 0; i < rows.size(); i++) {
        const pg::Row &row = rows[i];
        int route_index = table.RouteFor(row[2]);
        if (route_index == core::RouteTable::kNoRoute) {
            out.unhandled++;
            unhandled.insert(row[2].value_or("(null)"));
            continue;
        }
        const Route &route = config.routes[route_index];
        // The allow-list may have changed since the route was declared.
        std::string refusal = HttpTargetError(route.url, route.owner_is_superuser);
        if (!refusal.empty()) {
            refused[i] = "not sent: " + refusal;
            continue;
        }
        core::WebhookMessage m;
        m.queue = config.queue;
        m.consumer = config.consumer;
        m.msg_id = std::stoll(row[0].value_or("0"));
        m.batch_id = std::stoll(row[1].value_or("0"));
        m.type = row[2];
        m.payload = row[3];
        if (row[4])
            m.retry_count = std::stoi(*row[4]);
        m.created_at = row[5].value_or("");
        for (int k = 0; k < 4; k++)
            m.extra[k] = row[6 + k];

        http::Request request;
        request.url = route.url;
        request.body = core::WebhookBody(m);
        request.timeout_ms = std::min<long>(route.timeout_ms > 0 ? route.timeout_ms : config::HttpTimeoutMs(),
                                            config::HttpTimeoutMs());
        const std::string id = core::WebhookId(config.queue, config.consumer, m.msg_id);
        request.headers = route.headers;
        request.headers.push_back("Content-Type: application/json");
        request.headers.push_back("webhook-id: " + id);
        request.headers.push_back("webhook-timestamp: " + std::to_string(now));
        if (route.secret)
            if (std::optional<std::string> key = core::ParseWebhookSecret(*route.secret))
                request.headers.push_back("webhook-signature: " + core::SignWebhook(*key, id, now, request.body));
        requests.push_back(std::move(request));
        request_of.push_back(i);
    }
    out.unhandled_types.assign(unhandled.begin(), unhandled.end());

    const std::string delivering = "pgque_worker: consumer \"" + config.consumer + "\" of queue \"" +
                                   config.queue + "\": delivering " + std::to_string(requests.size()) +
                                   " HTTP requests";
    pg::Call([&] { pgstat_report_activity(STATE_RUNNING, delivering.c_str()); });
    std::vector<http::Response> responses = client.PostAll(requests, [] {
        pg::Call([] { CHECK_FOR_INTERRUPTS(); });  // SIGTERM: exit; the batch is delivered again
    });
    for (size_t k = 0; k < responses.size(); k++)
        if (!responses[k].ok)
            refused[request_of[k]] = Reason(responses[k]);

    pg::Transaction tx(activity);
    std::vector<std::string> failed_ids;
    for (size_t i = 0; i < rows.size(); i++) {
        if (table.RouteFor(rows[i][2]) == core::RouteTable::kNoRoute)
            continue;
        if (refused[i].empty()) {
            out.processed++;
            continue;
        }
        out.failed++;
        out.last_error = refused[i];
        failed_ids.push_back(rows[i][0].value_or("0"));
        // retry_after * 2^retry_count, at most an hour.
        double delay = core::BackoffSeconds(config.retry_after_seconds, rows[i][4] ? std::stoi(*rows[i][4]) : 0);
        Nack(tx, config, rows[i][1].value_or(""), rows[i][10].value_or(""),
             std::to_string(delay) + " seconds", refused[i]);
    }
    out.dead_lettered = CountDeadLettered(tx, failed_ids);
    Ack(tx, config, rows[0][1].value_or(""));
    RecordBatchStats(tx, config, out);
    tx.Commit();
    return out;
}

}  // namespace pgque::dispatch
