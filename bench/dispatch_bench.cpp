// Dispatch throughput (events/s) of a no-op handler, three ways, each over
// a queue preloaded with the same events in the same batches:
//
//   raw      the limit: a server-side loop of receive/ack with no handler,
//            committing each page (no dispatch at all)
//   worker   pgque_worker's consumer worker calling the handler (time from
//            resume() until every event is counted as processed)
//   client   an external consumer like pgque's Go client: receive over a
//            connection, then one statement per message calling the same
//            handler, then ack
//
//   dispatch_bench --conninfo C --db-worker A --db-other B --events N --page 100
//
// Prints one JSON object per way.
#include <libpq-fe.h>

#include "bench_common.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

using bench::Connect;
using bench::Die;
using bench::Value;
using Clock = std::chrono::steady_clock;




// Sends `events` events to queue in transactions of 1000, each ticked into a
// batch of its own (by hand where the worker does not tick).
void Preload(PGconn *conn, const std::string &queue, long events, bool tick_by_hand)
{
    for (long done = 0; done < events; done += 1000) {
        std::string from = std::to_string(done + 1), to = std::to_string(std::min(done + 1000, events));
        Value(conn, "SELECT pgque.send_batch($1, 'bench', array_agg(i::text)) FROM generate_series($2::int, $3::int) i",
              {queue.c_str(), from.c_str(), to.c_str()});
        if (tick_by_hand) {
            Value(conn, "SELECT pgque.force_next_tick($1)", {queue.c_str()});
            Value(conn, "SELECT pgque.ticker($1)", {queue.c_str()});
        }
    }
}

void Report(const char *way, long events, double seconds)
{
    std::printf("{\"way\": \"%s\", \"events\": %ld, \"seconds\": %.3f, \"events_per_second\": %.0f}\n", way,
                events, seconds, events / seconds);
    std::fflush(stdout);
}

double RawDrain(PGconn *conn, const std::string &page)
{
    auto t0 = Clock::now();
    Value(conn, "DO $$ DECLARE b bigint; n int; BEGIN LOOP "
                "SELECT max(batch_id), count(*) INTO b, n FROM pgque.receive('raw', 'c', " + page + "); "
                "EXIT WHEN n = 0; PERFORM pgque.ack(b); COMMIT; END LOOP; END $$");
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Client(PGconn *conn, const std::string &page)
{
    auto t0 = Clock::now();
    for (;;) {
        PGresult *r = PQexecParams(conn, ("SELECT batch_id, m::text FROM pgque.receive('client', 'c', " + page + ") m").c_str(),
                                   0, nullptr, nullptr, nullptr, nullptr, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            Die("receive", conn);
        int n = PQntuples(r);
        if (n == 0) {
            PQclear(r);
            break;
        }
        std::string batch = PQgetvalue(r, 0, 0);
        for (int i = 0; i < n; i++)
            Value(conn, "SELECT noop($1::pgque.message)", {PQgetvalue(r, i, 1)});
        PQclear(r);
        Value(conn, "SELECT pgque.ack($1)", {batch.c_str()});
    }
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Worker(PGconn *conn, long events)
{
    auto t0 = Clock::now();
    Value(conn, "SELECT pgque_worker.resume('worker', 'c')");
    const std::string want = std::to_string(events);
    while (Value(conn, "SELECT processed >= " + want + " FROM pgque_worker.consumers WHERE consumer = 'c'") != "t") {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (Clock::now() - t0 > std::chrono::minutes(5))
            Die("the worker did not finish within 5 minutes", nullptr);
    }
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char **argv)
{
    std::string conninfo, db_worker, db_other, page = "100";
    long events = 100000;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--conninfo") conninfo = value;
        else if (flag == "--db-worker") db_worker = value;
        else if (flag == "--db-other") db_other = value;
        else if (flag == "--events") events = std::atol(value.c_str());
        else if (flag == "--page") page = value;
    }
    PGconn *worker_db = Connect(conninfo + " dbname=" + db_worker);
    PGconn *other_db = Connect(conninfo + " dbname=" + db_other);

    // The worker's consumer is paused while its queue fills.
    Preload(worker_db, "worker", events, false);
    Preload(other_db, "raw", events, true);
    Preload(other_db, "client", events, true);

    Report("raw", events, RawDrain(other_db, page));
    Report("worker", events, Worker(worker_db, events));
    Report("client", events, Client(other_db, page));
    PQfinish(worker_db);
    PQfinish(other_db);
    return 0;
}
