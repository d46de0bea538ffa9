// Webhook delivery through pgque_worker to a local keep-alive receiver
// (nginx answering 204 and logging "<unix time> <webhook-id>" per request):
//
//   throughput  N events preloaded while the consumer is paused; events/s
//               from resume() until every one is counted as processed
//   latency     events committed one per transaction at a fixed rate; time
//               from each commit to its POST reaching the receiver
//
//   webhook_bench --conninfo C --events N --rate R --seconds S --receiver-log FILE
#include <libpq-fe.h>

#include "bench_common.hpp"
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using bench::Connect;
using bench::Die;
using bench::Percentile;
using bench::Value;
using Clock = std::chrono::steady_clock;



double WallSeconds()
{
    timeval tv;
    gettimeofday(&tv, nullptr);
    return tv.tv_sec + tv.tv_usec / 1e6;
}

void WaitProcessed(PGconn *conn, const std::string &consumer, long events)
{
    const std::string sql = "SELECT processed >= " + std::to_string(events) +
                            " FROM pgque_worker.consumers WHERE consumer = '" + consumer + "'";
    auto t0 = Clock::now();
    while (Value(conn, sql) != "t") {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (Clock::now() - t0 > std::chrono::minutes(5))
            Die("deliveries did not finish within 5 minutes", nullptr);
    }
}


}  // namespace

int main(int argc, char **argv)
{
    std::string conninfo, receiver_log;
    long events = 30000;
    int rate = 500, seconds = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--conninfo") conninfo = value;
        else if (flag == "--events") events = std::atol(value.c_str());
        else if (flag == "--rate") rate = std::atoi(value.c_str());
        else if (flag == "--seconds") seconds = std::atoi(value.c_str());
        else if (flag == "--receiver-log") receiver_log = value;
    }
    PGconn *conn = PQconnectdb(conninfo.c_str());
    if (PQstatus(conn) != CONNECTION_OK)
        Die("connect", conn);

    // Throughput.
    for (long done = 0; done < events; done += 1000) {
        std::string from = std::to_string(done + 1), to = std::to_string(std::min(done + 1000, events));
        Value(conn, "SELECT pgque.send_batch('hooks', 'bench', array_agg(jsonb_build_object('n', i, 'note', "
                    "'a payload of a typical size')::text)) FROM generate_series($1::int, $2::int) i",
              {from.c_str(), to.c_str()});
    }
    auto t0 = Clock::now();
    Value(conn, "SELECT pgque_worker.resume('hooks', 'throughput')");
    WaitProcessed(conn, "throughput", events);
    double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("{\"kind\": \"throughput\", \"events\": %ld, \"seconds\": %.3f, \"deliveries_per_second\": %.0f}\n",
                events, elapsed, events / elapsed);
    std::fflush(stdout);

    // Latency, on a second queue; the receiver's log starts afresh (it
    // appends, so truncating it under it is safe).
    std::ofstream(receiver_log, std::ios::trunc).close();
    std::map<long, double> committed;  // msg_id -> wall time of commit
    const long total = static_cast<long>(rate) * seconds;
    const auto period = std::chrono::nanoseconds(1000000000LL / rate);
    auto next = Clock::now();
    for (long i = 0; i < total; i++) {
        std::this_thread::sleep_until(next);
        next += period;
        long id = std::atol(Value(conn, "SELECT pgque.send('paced', 'bench', '{\"paced\": true}'::jsonb)").c_str());
        committed[id] = WallSeconds();
    }
    WaitProcessed(conn, "latency", total);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the receiver's log is written

    std::vector<double> ms;
    std::vector<std::tuple<double, double, long>> slowest;  // (latency ms, commit seconds after start, msg_id)
    const double started = committed.empty() ? 0 : committed.begin()->second;
    std::ifstream log(receiver_log);
    std::string line;
    std::map<long, bool> seen;
    while (std::getline(log, line)) {
        std::istringstream fields(line);
        double received;
        std::string webhook_id;
        if (!(fields >> received >> webhook_id))
            continue;
        long msg_id = std::atol(webhook_id.substr(webhook_id.rfind('_') + 1).c_str());
        auto it = committed.find(msg_id);
        if (it == committed.end() || seen[msg_id])
            continue;
        seen[msg_id] = true;
        ms.push_back((received - it->second) * 1000);
        slowest.emplace_back(ms.back(), it->second - started, msg_id);
    }
    std::sort(ms.begin(), ms.end());
    std::sort(slowest.rbegin(), slowest.rend());
    for (size_t i = 0; i < std::min<size_t>(3, slowest.size()); i++)
        std::fprintf(stderr, "slow: %.1f ms, committed at +%.3f s, msg_id %ld\n", std::get<0>(slowest[i]),
                     std::get<1>(slowest[i]), std::get<2>(slowest[i]));
    std::printf("{\"kind\": \"latency\", \"rate\": %d, \"seconds\": %d, \"sent\": %ld, \"matched\": %zu, "
                "\"p50_ms\": %.2f, \"p95_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f}\n",
                rate, seconds, total, ms.size(), Percentile(ms, 50), Percentile(ms, 95), Percentile(ms, 99),
                ms.empty() ? 0.0 : ms.back());
    PQfinish(conn);
    return 0;
}
