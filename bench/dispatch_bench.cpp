// Dispatch throughput (events/s) of a no-op handler, three ways, each over
// a queue preloaded with the same events in batches of --batch events:
//
//   raw      the reference: a server-side loop of receive(q, c, <whole
//            batch>) + ack with no handler, committing each batch (the
//            engine's whole-batch drain rate; no dispatch at all)
//   worker   pgque_worker's consumer worker calling the handler (time from
//            its process running after resume() until every event is
//            counted as processed)
//   client   an external consumer like pgque's clients: receive a whole
//            batch over a connection, then one statement per message
//            calling the same handler, then ack
//
//   dispatch_bench --conninfo C --db-worker A --db-other B --events N --batch 1000 --rounds 5
//
// raw and worker run --rounds times each, side by side in alternating order;
// client once.
//
// Queues (created by bench.sh): worker_<batch> in A (consumer c, paused,
// ticker_max_count = batch), raw_<batch> and client_<batch> in B.
// Prints one JSON object per way and round.
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

// Sends `events` events to queue, one transaction per batch. The
// worker's queue is ticked by the worker (ticker_max_count = batch); the
// others by hand, one tick per transaction.
void Preload(PGconn *conn, const std::string &queue, long events, long batch, bool tick_by_hand)
{
    for (long done = 0; done < events; done += batch) {
        std::string from = std::to_string(done + 1), to = std::to_string(std::min(done + batch, events));
        Value(conn, "SELECT pgque.send_batch($1, 'bench', array_agg(i::text)) FROM generate_series($2::int, $3::int) i",
              {queue.c_str(), from.c_str(), to.c_str()});
        if (tick_by_hand) {
            Value(conn, "SELECT pgque.force_next_tick($1)", {queue.c_str()});
            Value(conn, "SELECT pgque.ticker($1)", {queue.c_str()});
        }
    }
}

// How many events a way handled, in how long.
struct Drain {
    long events;
    double seconds;
};

void Report(const char *way, long round, long batch, const Drain &drain)
{
    std::printf("{\"way\": \"%s\", \"round\": %ld, \"batch\": %ld, \"events\": %ld, \"seconds\": %.3f, "
                "\"events_per_second\": %.0f}\n",
                way, round, batch, drain.events, drain.seconds, drain.events / drain.seconds);
    std::fflush(stdout);
}

Drain RawDrain(PGconn *conn, const std::string &queue, long events)
{
    auto t0 = Clock::now();
    Value(conn, "DO $$ DECLARE b bigint; n int; BEGIN LOOP "
                "SELECT max(batch_id), count(*) INTO b, n FROM pgque.receive('" + queue + "', 'c', 2147483647); "
                "EXIT WHEN n = 0; PERFORM pgque.ack(b); COMMIT; END LOOP; END $$");
    return Drain{events, std::chrono::duration<double>(Clock::now() - t0).count()};
}

Drain Client(PGconn *conn, const std::string &queue, long events)
{
    auto t0 = Clock::now();
    for (;;) {
        PGresult *r = bench::Exec(conn, "SELECT batch_id, m::text FROM pgque.receive($1, 'c', 2147483647) m",
                                  {queue.c_str()});
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
    return Drain{events, std::chrono::duration<double>(Clock::now() - t0).count()};
}

std::string Processed(PGconn *conn, const std::string &queue)
{
    return Value(conn, "SELECT coalesce(max(processed), 0) FROM pgque_worker.consumers WHERE queue = $1 AND consumer = 'c'",
                 {queue.c_str()});
}

// From the first slice the worker commits to the last: starting a background
// worker (fork, connection, catalog caches) is a fixed cost, not dispatch,
// and the raw drain runs in a connection that is already warm.
Drain Worker(PGconn *conn, const std::string &queue, long events)
{
    const long base = std::atol(Processed(conn, queue).c_str());
    const long want = base + events;
    auto start = Clock::now();
    Value(conn, "SELECT pgque_worker.resume($1, 'c')", {queue.c_str()});
    long first = base;
    while ((first = std::atol(Processed(conn, queue).c_str())) == base) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (Clock::now() - start > std::chrono::minutes(1))
            Die("the consumer worker handled nothing within a minute", nullptr);
    }
    auto t0 = Clock::now();
    long last = first;
    while ((last = std::atol(Processed(conn, queue).c_str())) < want) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (Clock::now() - t0 > std::chrono::minutes(5))
            Die("the worker did not finish within 5 minutes", nullptr);
    }
    Drain drain{last - first, std::chrono::duration<double>(Clock::now() - t0).count()};
    // Paused again, its process gone, for the next round's preload.
    Value(conn, "SELECT pgque_worker.pause($1, 'c')", {queue.c_str()});
    while (Value(conn, "SELECT pid IS NULL FROM pgque_worker.consumers WHERE queue = $1 AND consumer = 'c'",
                 {queue.c_str()}) != "t") {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (Clock::now() - start > std::chrono::minutes(7))
            Die("the consumer worker did not stop within a minute", nullptr);
    }
    return drain;
}

}  // namespace

int main(int argc, char **argv)
{
    std::string conninfo, db_worker, db_other;
    long events = 100000, batch = 1000, rounds = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--conninfo") conninfo = value;
        else if (flag == "--db-worker") db_worker = value;
        else if (flag == "--db-other") db_other = value;
        else if (flag == "--events") events = std::atol(value.c_str());
        else if (flag == "--batch") batch = std::atol(value.c_str());
        else if (flag == "--rounds") rounds = std::atol(value.c_str());
    }
    PGconn *worker_db = Connect(conninfo + " dbname=" + db_worker);
    PGconn *other_db = Connect(conninfo + " dbname=" + db_other);
    const std::string suffix = "_" + std::to_string(batch);

    // Rounds of raw and worker side by side, in alternating order: a drain of
    // 100,000 events takes a fraction of a second, which a shared machine's
    // noise can move by 10%; the report takes the median of each round's
    // ratio.
    for (long round = 1; round <= rounds; round++) {
        // The worker's consumer is paused while its queue fills.
        Preload(worker_db, "worker" + suffix, events, batch, false);
        Preload(other_db, "raw" + suffix, events, batch, true);
        if (round % 2) {
            Report("raw", round, batch, RawDrain(other_db, "raw" + suffix, events));
            Report("worker", round, batch, Worker(worker_db, "worker" + suffix, events));
        } else {
            Report("worker", round, batch, Worker(worker_db, "worker" + suffix, events));
            Report("raw", round, batch, RawDrain(other_db, "raw" + suffix, events));
        }
    }
    // The second reference is 20 times slower: one round.
    Preload(other_db, "client" + suffix, events, batch, true);
    Report("client", 1, batch, Client(other_db, "client" + suffix, events));
    PQfinish(worker_db);
    PQfinish(other_db);
    return 0;
}
