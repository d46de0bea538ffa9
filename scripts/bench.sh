#!/usr/bin/env bash
# make bench: a throwaway cluster (tmp/bench), measured side by side in one
# run; results in bench/results/ (JSON, markdown table, PNG plot).
#
#   1. delivery latency (producer commit -> consumer has the event) at
#      BENCH_RATE events/s for BENCH_SECONDS, for
#        - worker:       a queue at PgQ's default settings, ticked by pgque_worker
#        - external100:  the same engine ticked by an external loop calling
#                        pgque.ticker() every 100 ms (pgque's default cadence),
#                        on a queue set to tick whenever events wait
#                        (ticker_max_lag = 0), pgque's low-latency setting
#   2. idle CPU with 10 idle queues (each with a consumer): pgque_worker's
#      processes vs the backend of the external 100 ms ticker loop.
#   3. dispatch throughput of a no-op SQL handler (BENCH_EVENTS events in
#      batches of 1000, pages of 100): the raw receive/ack drain limit,
#      pgque_worker's consumer worker, and an external consumer like pgque's
#      Go client (one statement per message).
#   4. webhooks: deliveries/s to a local keep-alive receiver (nginx answering
#      204) with the default settings, the commit -> POST received latency at
#      BENCH_WEBHOOK_RATE events/s, and the receiver's own ceiling under wrk.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

rate=${BENCH_RATE:-100}
seconds=${BENCH_SECONDS:-30}
idle_seconds=${BENCH_IDLE_SECONDS:-30}
events=${BENCH_EVENTS:-100000}
results="$repo/bench/results"

build_and_install
mkdir -p "$repo/build" "$results"
for tool in latency_bench dispatch_bench webhook_bench; do
  g++ -std=c++17 -O2 -Wall -Wextra -Werror -I"$("$PG_CONFIG" --includedir)" \
      "$repo/bench/$tool.cpp" -lpq -pthread -o "$repo/build/$tool"
done

work=$(make_workdir bench)
data="$work/data"
as_pg initdb -D "$data" -A trust --no-sync -U postgres >/dev/null
cat >> "$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'pgque_worker'
pgque_worker.databases = 'bench_worker'
CONF
as_pg pg_ctl -D "$data" -l "$work/server.log" -w start >/dev/null
cleanup() { as_pg pg_ctl -D "$data" -m fast -w stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

conn="host=$work user=postgres"
sql() { psql "$conn dbname=$1" -X -q -v ON_ERROR_STOP=1 -At -c "$2"; }
sql postgres "CREATE DATABASE bench_worker" >/dev/null
sql postgres "CREATE DATABASE bench_ext" >/dev/null
sql bench_worker "CREATE EXTENSION pgque_pgq CASCADE; CREATE EXTENSION pgque_worker;
                  SELECT pgque.create_queue('lat'), pgque.subscribe('lat', 'bench')" >/dev/null
sql bench_ext "CREATE EXTENSION pgque_pgq CASCADE;
               SELECT pgque.create_queue('lat'), pgque.subscribe('lat', 'bench'),
                      pgque.set_queue_config('lat', 'ticker_max_lag', '0')" >/dev/null
for _ in $(seq 100); do
  [ "$(sql bench_worker "SELECT state FROM pgque_worker.workers WHERE database = 'bench_worker'")" = running ] && break
  sleep 0.1
done

echo "== latency: $rate events/s for $seconds s, worker and external 100 ms ticker side by side"
"$repo/build/latency_bench" --conninfo "$conn" --rate "$rate" --seconds "$seconds" \
    --scenario "worker:dbname=bench_worker:lat" \
    --scenario "external100:dbname=bench_ext:lat:100" > "$work/latency.jsonl"

echo "== idle CPU: 10 idle queues, $idle_seconds s"
for i in $(seq 1 10); do
  sql bench_worker "SELECT pgque.create_queue('idle_$i'), pgque.subscribe('idle_$i', 'c')" >/dev/null
  sql bench_ext "SELECT pgque.create_queue('idle_$i'), pgque.subscribe('idle_$i', 'c')" >/dev/null
done
# One statement (COMMIT inside DO is refused in a multi-statement string).
psql "$conn dbname=bench_ext application_name=external_ticker" -X -q \
  -c "DO \$\$ BEGIN LOOP PERFORM pgque.ticker(); COMMIT; PERFORM pg_sleep(0.1); END LOOP; END \$\$" \
  >"$work/external_ticker.log" 2>&1 &
ticker_psql=$!
sleep 3   # let both settle: PgQ's idle ticks back off
if ! kill -0 $ticker_psql 2>/dev/null; then
  echo "bench: the external ticker loop failed:" >&2; cat "$work/external_ticker.log" >&2; exit 1
fi
worker_pids=$(sql postgres "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type LIKE 'pgque_worker%'")
ticker_pid=$(sql postgres "SELECT pid FROM pg_stat_activity WHERE application_name = 'external_ticker'")
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
w0=$(cpu_ticks $worker_pids); e0=$(cpu_ticks $ticker_pid); t0=$(date +%s%N)
sleep "$idle_seconds"
w1=$(cpu_ticks $worker_pids); e1=$(cpu_ticks $ticker_pid); t1=$(date +%s%N)
kill $ticker_psql 2>/dev/null || true
# Raw counts; report.py turns them into percentages of one core.
cat > "$work/idle.json" <<JSON
{"idle_queues": 10, "elapsed_ns": $((t1 - t0)), "clock_ticks_per_second": $(getconf CLK_TCK),
 "worker_cpu_ticks": $((w1 - w0)), "external100_cpu_ticks": $((e1 - e0)),
 "worker_processes": $(echo $worker_pids | wc -w)}
JSON

echo "== dispatch throughput: $events events, no-op SQL handler"
noop="CREATE FUNCTION noop(m pgque.message) RETURNS void LANGUAGE plpgsql AS \$\$ BEGIN END \$\$"
sql bench_worker "$noop; SELECT pgque.create_queue('worker');
                  SELECT pgque_worker.handle('worker', 'c', '*', 'noop(pgque.message)');
                  SELECT pgque_worker.pause('worker', 'c')" >/dev/null
sql bench_ext "$noop; SELECT pgque.create_queue('raw'), pgque.subscribe('raw', 'c'),
               pgque.create_queue('client'), pgque.subscribe('client', 'c')" >/dev/null
"$repo/build/dispatch_bench" --conninfo "$conn" --db-worker bench_worker --db-other bench_ext \
    --events "$events" --page 100 > "$work/dispatch.jsonl"

echo "== webhooks: local nginx receiver, wrk for its ceiling"
receiver_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx;
    log_format webhook '\$msec \$http_webhook_id';
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$receiver_port;
        location / {
            access_log $work/nginx/webhooks.log webhook;
            return 204;
        }
    }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx"
stop_nginx() { [ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true; }
trap 'stop_nginx; cleanup' EXIT
body=$(python3 -c 'import json; print(json.dumps({"queue": "hooks", "consumer": "throughput", "msg_id": 123456, "batch_id": 789, "type": "bench", "payload": {"n": 1, "note": "a payload of a typical size"}, "retry_count": None, "created_at": "2026-11-24T21:00:00.000000+00:00", "extra1": None, "extra2": None, "extra3": None, "extra4": None}))')
printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["webhook-id"] = "msg_wrk_1"\n' \
    "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$body")" > "$work/post.lua"
wrk -t1 -c32 -d5s -s "$work/post.lua" "http://127.0.0.1:$receiver_port/" > "$work/wrk.txt"
echo "{\"receiver_ceiling_per_second\": $(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")}" > "$work/wrk.json"

sql bench_worker "SELECT pgque.create_queue('hooks'), pgque.create_queue('paced');
                  SELECT pgque_worker.handle_http('hooks', 'throughput', '*', 'http://127.0.0.1:$receiver_port/');
                  SELECT pgque_worker.pause('hooks', 'throughput');
                  SELECT pgque_worker.handle_http('paced', 'latency', '*', 'http://127.0.0.1:$receiver_port/')" >/dev/null
"$repo/build/webhook_bench" --conninfo "$conn dbname=bench_worker" --events "${BENCH_WEBHOOK_EVENTS:-30000}" \
    --rate "${BENCH_WEBHOOK_RATE:-500}" --seconds "${BENCH_WEBHOOK_SECONDS:-10}" \
    --receiver-log "$work/nginx/webhooks.log" > "$work/webhooks.jsonl"

python3 "$repo/bench/report.py" "$work" "$results"
cat "$results/results.md"
