// End-to-end delivery latency: producer commit -> event received by a
// consumer, for several scenarios run side by side in one process.
//
// Each scenario has a producer that commits one event at a fixed rate (the
// payload is its sequence number; the commit time is when send() returns),
// and a consumer that works like pgque's clients: LISTEN on pgque_<queue>,
// and on each notification (or a 1 s fallback poll) receive/ack until the
// queue is empty. Notifications libpq read while receive ran are taken
// before waiting (waiting then would lose that wake-up for up to 1 s). A scenario may also have an external ticker: a loop that
// calls pgque.ticker() every N ms, the way pg_cron drives upstream pgque.
//
//   latency_bench --conninfo 'host=/tmp/x' --rate 100 --seconds 30
//       --scenario worker:dbname=a:q --scenario external100:dbname=b:q:100
//
// Prints one JSON object per scenario: latencies in milliseconds.
#include <libpq-fe.h>

#include "bench_common.hpp"
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using bench::Connect;
using bench::Die;
using bench::Exec;
using bench::Percentile;
using bench::Value;
using Clock = std::chrono::steady_clock;

struct Scenario {
    std::string name;
    std::string conninfo;
    std::string queue;
    int ticker_ms = 0;  // 0: the worker ticks
    std::vector<Clock::time_point> committed;
    std::vector<Clock::time_point> received;
    std::vector<int> seen;
    std::mutex mutex;
    std::atomic<long> produced{0};
};




void Produce(Scenario &s, int rate, int seconds)
{
    PGconn *conn = Connect(s.conninfo);
    const long total = static_cast<long>(rate) * seconds;
    const auto period = std::chrono::nanoseconds(1000000000LL / rate);
    auto next = Clock::now();
    for (long i = 0; i < total; i++) {
        std::this_thread::sleep_until(next);
        next += period;
        std::string payload = std::to_string(i);
        PQclear(Exec(conn, "SELECT pgque.send($1, 'bench', $2)", {s.queue.c_str(), payload.c_str()}));
        auto now = Clock::now();
        std::lock_guard<std::mutex> lock(s.mutex);
        s.committed[i] = now;
        s.produced = i + 1;
    }
    PQfinish(conn);
}

void Consume(Scenario &s, long total, Clock::time_point deadline)
{
    PGconn *conn = Connect(s.conninfo);
    std::string channel = "pgque_" + s.queue;
    char *quoted = PQescapeIdentifier(conn, channel.c_str(), channel.size());
    PQclear(Exec(conn, ("LISTEN " + std::string(quoted)).c_str()));
    PQfreemem(quoted);

    long received = 0;
    while (received < total && Clock::now() < deadline) {
        // Drain what is there, then wait for the next tick's notification.
        for (;;) {
            PGresult *r = Exec(conn, "SELECT batch_id, payload FROM pgque.receive($1, 'bench', 10000)",
                               {s.queue.c_str()});
            auto now = Clock::now();
            int rows = PQntuples(r);
            if (rows == 0) {
                PQclear(r);
                break;
            }
            {
                std::lock_guard<std::mutex> lock(s.mutex);
                for (int i = 0; i < rows; i++) {
                    long seq = std::atol(PQgetvalue(r, i, 1));
                    if (seq >= 0 && seq < total && !s.seen[seq]) {
                        s.seen[seq] = 1;
                        s.received[seq] = now;
                        received++;
                    }
                }
            }
            std::string batch = PQgetvalue(r, 0, 0);
            PQclear(r);
            PQclear(Exec(conn, "SELECT pgque.ack($1)", {batch.c_str()}));
        }
        // A notification that came while receive ran is already in libpq's
        // queue, not on the socket: take those first, and wait only when
        // none is pending.
        PQconsumeInput(conn);
        bool pending = false;
        while (PGnotify *n = PQnotifies(conn)) {
            pending = true;
            PQfreemem(n);
        }
        if (pending)
            continue;
        pollfd pfd = {PQsocket(conn), POLLIN, 0};
        (void) poll(&pfd, 1, 1000);
        PQconsumeInput(conn);
        while (PGnotify *n = PQnotifies(conn))
            PQfreemem(n);
    }
    PQfinish(conn);
}

void Tick(Scenario &s, std::atomic<bool> &stop)
{
    PGconn *conn = Connect(s.conninfo);
    auto next = Clock::now();
    while (!stop) {
        next += std::chrono::milliseconds(s.ticker_ms);
        std::this_thread::sleep_until(next);
        PQclear(Exec(conn, "SELECT pgque.ticker()"));
    }
    PQfinish(conn);
}


}  // namespace

int main(int argc, char **argv)
{
    int rate = 100;
    int seconds = 30;
    std::string base;
    std::vector<Scenario *> scenarios;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i];
        std::string value = argv[i + 1];
        if (flag == "--rate") {
            rate = std::atoi(value.c_str());
        } else if (flag == "--seconds") {
            seconds = std::atoi(value.c_str());
        } else if (flag == "--conninfo") {
            base = value;
        } else if (flag == "--scenario") {  // name:dbname=DB:queue[:ticker_ms]
            auto *s = new Scenario;
            size_t a = value.find(':'), b = value.find(':', a + 1), c = value.find(':', b + 1);
            s->name = value.substr(0, a);
            s->conninfo = base + " " + value.substr(a + 1, b - a - 1);
            s->queue = value.substr(b + 1, c == std::string::npos ? std::string::npos : c - b - 1);
            if (c != std::string::npos)
                s->ticker_ms = std::atoi(value.substr(c + 1).c_str());
            scenarios.push_back(s);
        }
    }
    if (scenarios.empty() || rate <= 0 || seconds <= 0) {
        std::fprintf(stderr, "usage: latency_bench --conninfo C [--rate N] [--seconds N] --scenario ...\n");
        return 2;
    }

    const long total = static_cast<long>(rate) * seconds;
    const auto deadline = Clock::now() + std::chrono::seconds(seconds + 20);
    std::atomic<bool> stop_tickers{false};
    std::vector<std::thread> threads;
    for (Scenario *s : scenarios) {
        s->committed.resize(total);
        s->received.resize(total);
        s->seen.assign(total, 0);
        threads.emplace_back(Consume, std::ref(*s), total, deadline);
        if (s->ticker_ms > 0)
            threads.emplace_back(Tick, std::ref(*s), std::ref(stop_tickers));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // consumers listening
    std::vector<std::thread> producers;
    for (Scenario *s : scenarios)
        producers.emplace_back(Produce, std::ref(*s), rate, seconds);
    for (auto &t : producers)
        t.join();
    // Consumers end when they have everything (or at the deadline); the
    // tickers keep going until then.
    for (size_t i = 0, t = 0; i < scenarios.size(); i++) {
        threads[t].join();  // the consumer
        t += scenarios[i]->ticker_ms > 0 ? 2 : 1;
    }
    stop_tickers = true;
    for (size_t i = 0, t = 0; i < scenarios.size(); i++) {
        if (scenarios[i]->ticker_ms > 0)
            threads[t + 1].join();
        t += scenarios[i]->ticker_ms > 0 ? 2 : 1;
    }

    for (Scenario *s : scenarios) {
        std::vector<double> ms;
        long lost = 0;
        for (long i = 0; i < total; i++) {
            if (!s->seen[i]) {
                lost++;
                continue;
            }
            ms.push_back(std::chrono::duration<double, std::milli>(s->received[i] - s->committed[i]).count());
        }
        std::sort(ms.begin(), ms.end());
        std::printf("{\"scenario\": \"%s\", \"rate\": %d, \"seconds\": %d, \"sent\": %ld, \"received\": %zu, "
                    "\"missing\": %ld, \"p50_ms\": %.3f, \"p95_ms\": %.3f, \"p99_ms\": %.3f, "
                    "\"max_ms\": %.3f, \"samples_ms\": [",
                    s->name.c_str(), rate, seconds, total, ms.size(), lost, Percentile(ms, 50),
                    Percentile(ms, 95), Percentile(ms, 99), ms.empty() ? 0.0 : ms.back());
        for (size_t i = 0; i < ms.size(); i++)
            std::printf("%s%.3f", i ? "," : "", ms[i]);
        std::printf("]}\n");
    }
    return 0;
}
