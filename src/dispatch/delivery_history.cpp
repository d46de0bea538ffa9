#include "pgque_worker/dispatch/delivery_history.hpp"

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/core/utf8.hpp"
#include "pgque_worker/pg/session.hpp"

namespace pgque::dispatch {

namespace {

constexpr std::size_t kResponseBytes = 256;  // of the body, kept in the history
constexpr std::size_t kErrorBytes = 256;

// A SQL array literal of the values ("{...}"), each quoted; NULL for nullopt.
std::string ArrayLiteral(const std::vector<pg::Value> &values)
{
    std::string out = "{";
    for (size_t i = 0; i < values.size(); i++) {
        if (i)
            out += ',';
        if (!values[i]) {
            out += "NULL";
            continue;
        }
        out += '"';
        for (char c : *values[i]) {
            if (c == '"' || c == '\\')
                out += '\\';
            out += c;
        }
        out += '"';
    }
    return out + "}";
}

}  // namespace

std::optional<std::string> RecordDeliveries(pg::Transaction &tx, int consumer_id,
                                            const std::vector<DeliveryAttempt> &attempts)
{
    const int block = config::WebhookHistory();
    if (block <= 0 || attempts.empty())
        return std::nullopt;
    std::vector<pg::Value> types, owners, msg_ids, tries, ids, statuses, errors, responses, durations, ats;
    for (const DeliveryAttempt &a : attempts) {
        types.push_back(pg::ForDatabase(a.event_type));
        owners.push_back(std::to_string(a.owner));
        msg_ids.push_back(a.msg_id);
        tries.push_back(std::to_string(a.attempt));
        ids.push_back(a.webhook_id);
        statuses.push_back(a.status ? pg::Value(std::to_string(*a.status)) : std::nullopt);
        errors.push_back(a.error ? pg::Value(pg::ForDatabase(core::ValidUtf8(*a.error, kErrorBytes))) : std::nullopt);
        responses.push_back(pg::ForDatabase(core::ValidUtf8(a.response, kResponseBytes)));
        durations.push_back(std::to_string(a.duration_seconds));
        ats.push_back(std::to_string(a.at_us));
    }
    std::optional<pg::Error> error = tx.Subtransaction([&] {
        tx.Query("SELECT pgque_worker._record_deliveries($1::int, $2::int, $3::pg_catalog.text[],"
                 " $4::pg_catalog.oid[], $5::bigint[], $6::int[], $7::pg_catalog.text[], $8::int[],"
                 " $9::pg_catalog.text[], $10::pg_catalog.text[], $11::pg_catalog.float8[], $12::bigint[])",
                 {std::to_string(block), std::to_string(consumer_id), ArrayLiteral(types), ArrayLiteral(owners),
                  ArrayLiteral(msg_ids), ArrayLiteral(tries), ArrayLiteral(ids), ArrayLiteral(statuses),
                  ArrayLiteral(errors), ArrayLiteral(responses), ArrayLiteral(durations), ArrayLiteral(ats)});
    });
    if (error)
        return std::string(error->what());
    return std::nullopt;
}

}  // namespace pgque::dispatch
