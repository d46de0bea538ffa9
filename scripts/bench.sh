#!/usr/bin/env bash
# make bench: a throwaway cluster (tmp/bench), measured side by side in one
# run; results in bench/results/ (JSON, markdown table, PNG plot). The
# machine may be shared: the load average is recorded with every section,
# and ratios measured side by side in one run are what count.
#
#   1. delivery latency (producer commit -> consumer has the event) at
#      BENCH_RATE events/s for BENCH_SECONDS, idle and again under load (two
#      CPU-bound processes competing for the cores), for
#        - worker:       a queue at PgQ's default settings, ticked by pgque_worker
#        - external100:  the same engine ticked by an external loop calling
#                        pgque.ticker() every 100 ms (pgque's default cadence),
#                        on a queue set to tick whenever events wait
#                        (ticker_max_lag = 0), pgque's low-latency setting
#   2. idle CPU with 10 idle queues (each with a consumer): pgque_worker's
#      processes vs the backend of the external 100 ms ticker loop.
#   3. the tick pass with BENCH_MANY_QUEUES (1000) queues, each with a
#      consumer: the database worker's CPU idle, then with BENCH_MANY_RATE
#      (100) events/s into one of them.
#   4. dispatch throughput of a no-op SQL handler (BENCH_EVENTS events, in
#      batches of 1,000 and of 10,000, BENCH_DISPATCH_ROUNDS (5) rounds in
#      alternating order, medians): the whole-batch raw drain (a
#      server-side receive(q, c, <whole batch>) + ack loop, no handler),
#      pgque_worker's consumer worker (default max_messages), and an external
#      consumer calling the handler once per message.
#   5. backlog: BENCH_BACKLOG_EVENTS (1,000,000) events queued while the
#      consumer is paused, then resumed: drain rate, the consumer worker's
#      peak RSS, its RSS after the drain against a warmed-up baseline.
#   6. webhooks: deliveries/s to a local keep-alive receiver (nginx answering
#      204) with the default settings, the commit -> POST received latency at
#      BENCH_WEBHOOK_RATE events/s, and the receiver's own ceiling under wrk.
#   7. producer cost: pgbench select-only and tpcb-like TPS, and pgque.send
#      throughput, with the module preloaded (worker running) and without,
#      BENCH_PGBENCH_ROUNDS (3) alternating rounds of BENCH_PGBENCH_SECONDS (10);
#      then, in one more round of each, the module's own share of the
#      server's CPU: its processes from /proc over one maint_interval (30 s),
#      its frames in other processes from perf's call stacks
#      (bench/module_cost.py).
#
# Quick run: BENCH_SECONDS=10 BENCH_IDLE_SECONDS=10 BENCH_EVENTS=20000
#   BENCH_BACKLOG_EVENTS=100000 BENCH_MANY_QUEUES=200 BENCH_PGBENCH_SECONDS=5
set -euo pipefail
source "$(dirname "$0")/lib.sh"

rate=${BENCH_RATE:-100}
seconds=${BENCH_SECONDS:-30}
idle_seconds=${BENCH_IDLE_SECONDS:-30}
events=${BENCH_EVENTS:-100000}
backlog=${BENCH_BACKLOG_EVENTS:-1000000}
many=${BENCH_MANY_QUEUES:-1000}
many_rate=${BENCH_MANY_RATE:-100}
pgbench_seconds=${BENCH_PGBENCH_SECONDS:-10}
pgbench_rounds=${BENCH_PGBENCH_ROUNDS:-3}
results="$repo/bench/results"
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

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
pgque_worker.databases = 'bench_worker,bench_many'
max_locks_per_transaction = 256
CONF
as_pg pg_ctl -D "$data" -l "$work/server.log" -w start >/dev/null
burners=()
cleanup() {
  [ ${#burners[@]} -gt 0 ] && kill "${burners[@]}" 2>/dev/null
  as_pg pg_ctl -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}
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

echo "== latency: $rate events/s for $seconds s, worker and external 100 ms ticker side by side (load $(loadavg))"
"$repo/build/latency_bench" --conninfo "$conn" --rate "$rate" --seconds "$seconds" \
    --scenario "worker:dbname=bench_worker:lat" \
    --scenario "external100:dbname=bench_ext:lat:100" > "$work/latency.jsonl"
echo "{\"idle\": \"$(loadavg)\"}" > "$work/load.json"

echo "== latency under load: the same with two CPU-bound processes competing for the cores"
burners=()
for _ in 1 2; do bash -c 'while :; do :; done' & burners+=($!); done
"$repo/build/latency_bench" --conninfo "$conn" --rate "$rate" --seconds "$seconds" \
    --scenario "worker:dbname=bench_worker:lat" \
    --scenario "external100:dbname=bench_ext:lat:100" > "$work/latency_loaded.jsonl"
loaded_load=$(loadavg)
kill "${burners[@]}" 2>/dev/null || true
wait "${burners[@]}" 2>/dev/null || true
burners=()

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

echo "== tick pass: $many queues with a consumer each (load $(loadavg))"
sql postgres "CREATE DATABASE bench_many" >/dev/null
sql bench_many "CREATE EXTENSION pgque_pgq CASCADE; CREATE EXTENSION pgque_worker" >/dev/null
for ((from = 1; from <= many; from += 100)); do
  sql bench_many "SELECT count(*) FROM (SELECT pgque.create_queue('q' || i), pgque.subscribe('q' || i, 'c')
                    FROM generate_series($from, least($from + 99, $many)) i) s" >/dev/null
done
many_pid=""
for _ in $(seq 100); do
  many_pid=$(sql postgres "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgque_worker' AND datname = 'bench_many'")
  [ -n "$many_pid" ] && break
  sleep 0.1
done
# Idle means PgQ's idle ticks at their steady pace: its back-off doubles the
# gap from ticker_max_lag / 2 up to ticker_idle_period (60 s), about 95 s
# after the queues were created.
sleep "${BENCH_MANY_SETTLE_SECONDS:-120}"
m0=$(cpu_ticks $many_pid); t0=$(date +%s%N)
sleep "$idle_seconds"
m1=$(cpu_ticks $many_pid); t1=$(date +%s%N)
many_idle_load=$(loadavg)
# One event per transaction into q1 at many_rate/s, from one pgbench client.
echo "SELECT pgque.send('q1', 'bench', 'x');" > "$work/many_send.pgbench"
as_pg pgbench -n -h "$work" -U postgres -c 1 -R "$many_rate" -T $((idle_seconds + 3)) \
  -f "$work/many_send.pgbench" bench_many > "$work/many_pgbench.log" 2>&1 &
many_producer=$!
sleep 3
m2=$(cpu_ticks $many_pid); t2=$(date +%s%N)
sleep "$idle_seconds"
m3=$(cpu_ticks $many_pid); t3=$(date +%s%N)
wait $many_producer
cat > "$work/many.json" <<JSON
{"queues": $many, "rate": $many_rate, "clock_ticks_per_second": $(getconf CLK_TCK),
 "idle_elapsed_ns": $((t1 - t0)), "idle_cpu_ticks": $((m1 - m0)), "idle_load": "$many_idle_load",
 "busy_elapsed_ns": $((t3 - t2)), "busy_cpu_ticks": $((m3 - m2)), "busy_load": "$(loadavg)"}
JSON
sql postgres "DROP DATABASE bench_many WITH (FORCE)" >/dev/null

echo "== dispatch throughput: $events events, no-op SQL handler, batches of 1,000 and 10,000 (load $(loadavg))"
noop="CREATE FUNCTION noop(m pgque.message) RETURNS void LANGUAGE plpgsql AS \$\$ BEGIN END \$\$"
sql bench_worker "$noop" >/dev/null
sql bench_ext "$noop" >/dev/null
: > "$work/dispatch.jsonl"
for batch in 1000 10000; do
  sql bench_worker "SELECT pgque.create_queue('worker_$batch');
                    SELECT pgque.set_queue_config('worker_$batch', 'ticker_max_count', '$batch');
                    SELECT pgque_worker.handle('worker_$batch', 'c', '*', 'noop(pgque.message)');
                    SELECT pgque_worker.pause('worker_$batch', 'c')" >/dev/null
  sql bench_ext "SELECT pgque.create_queue('raw_$batch'), pgque.subscribe('raw_$batch', 'c'),
                 pgque.create_queue('client_$batch'), pgque.subscribe('client_$batch', 'c')" >/dev/null
  "$repo/build/dispatch_bench" --conninfo "$conn" --db-worker bench_worker --db-other bench_ext \
      --events "$events" --batch "$batch" --rounds "${BENCH_DISPATCH_ROUNDS:-5}" >> "$work/dispatch.jsonl"
done
echo "{\"load\": \"$(loadavg)\"}" > "$work/dispatch_load.json"

echo "== backlog: $backlog events queued while the consumer is paused, then resumed"
sql bench_worker "SELECT pgque.create_queue('backlog');
                  SELECT pgque_worker.handle('backlog', 'c', '*', 'noop(pgque.message)')" >/dev/null
consumer_pid() {
  sql bench_worker "SELECT pid FROM pgque_worker.consumers WHERE queue = 'backlog' AND pid IS NOT NULL"
}
processed() { sql bench_worker "SELECT coalesce(processed, 0) FROM pgque_worker.consumers WHERE queue = 'backlog'"; }
# Anonymous RSS: the process's own memory, not the shared buffers it touched.
rss_kb() { awk '/^RssAnon/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# Warm-up: the consumer worker handles a first batch; its RSS then is the baseline.
sql bench_worker "SELECT pgque.send_batch('backlog', 'bench', array_agg(i::text)) FROM generate_series(1, 1000) i" >/dev/null
for _ in $(seq 600); do [ "$(processed)" -ge 1000 ] && break; sleep 0.1; done
sleep 1
baseline_pid=$(consumer_pid)
baseline_rss=$(rss_kb "$baseline_pid")
sql bench_worker "SELECT pgque_worker.pause('backlog', 'c')" >/dev/null
for ((done_ = 0; done_ < backlog; done_ += 10000)); do
  sql bench_worker "SELECT pgque.send_batch('backlog', 'bench', array_agg(i::text))
                      FROM generate_series($done_ + 1, least($done_ + 10000, $backlog)) i" >/dev/null
done
sleep 2   # the last ticks
start_processed=$(processed)
t0=$(date +%s%N)
sql bench_worker "SELECT pgque_worker.resume('backlog', 'c')" >/dev/null
peak_rss=0; pid=""
while [ "$(processed)" -lt $((start_processed + backlog)) ]; do
  [ -z "$pid" ] && pid=$(consumer_pid)
  [ -n "$pid" ] && { r=$(rss_kb "$pid"); [ "$r" -gt "$peak_rss" ] && peak_rss=$r; }
  sleep 0.1
  [ $(( ($(date +%s%N) - t0) / 1000000000 )) -gt 600 ] && { echo "bench: backlog not drained in 10 min" >&2; break; }
done
t1=$(date +%s%N)
sleep 2
after_rss=$(rss_kb "$pid")
cat > "$work/backlog.json" <<JSON
{"events": $backlog, "elapsed_ns": $((t1 - t0)), "baseline_rss_kb": $baseline_rss,
 "peak_rss_kb": $peak_rss, "after_rss_kb": $after_rss, "load": "$(loadavg)"}
JSON

echo "== webhooks: local nginx receiver, wrk for its ceiling"
receiver_port=$(free_port)
start_receiver "$work" "$receiver_port"
trap 'stop_receiver "$work"; cleanup' EXIT
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

echo "== producer cost: pgbench and pgque.send, module preloaded (worker running) and not"
as_pg pgbench -i -q -s 10 -h "$work" -U postgres bench_worker >/dev/null 2>&1
sql bench_worker "SELECT pgque.create_queue('sends'), pgque.subscribe('sends', 'c')" >/dev/null
echo "SELECT pgque.send('sends', 'bench', 'x');" > "$work/send.pgbench"
: > "$work/producer.jsonl"
run_pgbench() {  # preloaded workload args...
  local preloaded=$1 workload=$2 tps
  shift 2
  # synchronous_commit off: the module's cost is CPU in each backend and in
  # the workers; with a WAL flush per transaction the disk's variance
  # (two-fold between rounds here) hides it.
  tps=$(as_pg env PGOPTIONS='-c synchronous_commit=off' \
        pgbench -n -h "$work" -U postgres -c 2 -j 2 -T "$pgbench_seconds" "$@" bench_worker 2>/dev/null \
        | awk '/^tps/ {print $3; exit}')
  echo "{\"preloaded\": $preloaded, \"workload\": \"$workload\", \"tps\": ${tps:-0}, \"load\": \"$(loadavg)\"}" \
    >> "$work/producer.jsonl"
}
restart_with() {  # shared_preload_libraries value
  as_pg pg_ctl -D "$data" -m fast -w stop >/dev/null
  sed -i "s/^shared_preload_libraries = .*/shared_preload_libraries = '$1'/" "$data/postgresql.conf"
  as_pg pg_ctl -D "$data" -l "$work/server.log" -w start >/dev/null
  sleep 2
}
for ((round = 0; round < pgbench_rounds; round++)); do
  for preloaded in true false; do
    if [ $preloaded = true ]; then restart_with pgque_worker; else restart_with ''; fi
    run_pgbench $preloaded select-only -S
    run_pgbench $preloaded tpcb-like
    run_pgbench $preloaded send -f "$work/send.pgbench"
  done
done
restart_with pgque_worker
# The module's own share of the server's CPU in each workload, from perf's
# call stacks of every process (bench/module_cost.py says what counts): one
# set of samples, so the machine's noise moves both sides of the ratio.
# Measured in the steady state: after the database worker's start-up (a
# forced tick of every queue, the first maintenance).
for _ in $(seq 120); do
  [ "$(sql bench_worker "SELECT last_maintenance IS NOT NULL FROM pgque_worker.workers
                          WHERE database = 'bench_worker'")" = t ] && break
  sleep 0.5
done
sleep 5
# The workers' heavier work comes in periods (a full pass over every queue
# each 10 tick_intervals, maintenance each maint_interval: 10 s and 30 s by
# default): their processes are counted from /proc over a window of one
# maint_interval, which holds each period whole wherever it falls; perf's
# few seconds then count only the module's frames in the other processes.
cost_window=30
proc_ticks() {  # postmaster: "pid cpu_ticks is_module title" of each server process
  local p title
  for p in "$1" $(pgrep -P "$1"); do
    title=$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) || continue  # gone meanwhile
    awk -v p="$p" -v title="$title" \
      '{print p, $14 + $15, (index(title, "postgres: pgque_worker") == 1 ? 1 : 0), title}' \
      "/proc/$p/stat" 2>/dev/null || true
  done
}
: > "$work/module_cost.jsonl"
for workload in select-only tpcb-like send; do
  case $workload in
    select-only) args=(-S) ;;
    tpcb-like) args=() ;;
    send) args=(-f "$work/send.pgbench") ;;
  esac
  as_pg env PGOPTIONS='-c synchronous_commit=off' pgbench -n -h "$work" -U postgres -c 2 -j 2 \
    -T "$((cost_window + 4))" "${args[@]}" bench_worker >"$work/cost_$workload.log" 2>&1 &
  pgbench_pid=$!
  sleep 2  # past the connections' start
  postmaster=$(head -1 "$data/postmaster.pid")
  proc_ticks "$postmaster" > "$work/proc_before.txt"
  window_end=$(( $(date +%s) + cost_window ))
  if perf record -q -a -F 499 --call-graph dwarf,16384 -o "$work/perf.data" -- sleep $((pgbench_seconds - 4)) \
       >"$work/perf.log" 2>&1; then
    sleep $(( window_end > $(date +%s) ? window_end - $(date +%s) : 0 ))
    proc_ticks "$postmaster" > "$work/proc_after.txt"
    wait $pgbench_pid || echo "bench: the $workload round's pgbench failed: $(tail -1 "$work/cost_$workload.log")" >&2
    cost_tps=$(awk '/^tps/ {print $3; exit}' "$work/cost_$workload.log")
    perf script -i "$work/perf.data" -F pid,ip,sym,dso 2>/dev/null > "$work/perf.script"
    python3 "$repo/bench/module_cost.py" "$work/perf.script" "$work/proc_before.txt" "$work/proc_after.txt" \
      | sed "s/^{/{\"workload\": \"$workload\", \"tps\": ${cost_tps:-0}, /" >> "$work/module_cost.jsonl"
    rm -f "$work/perf.data" "$work/perf.script"
  else
    wait $pgbench_pid
    echo "{\"workload\": \"$workload\", \"error\": \"perf record failed: $(head -1 "$work/perf.log" | tr -d '"\\')\"}" \
      >> "$work/module_cost.jsonl"
  fi
done
echo "{\"loaded\": \"$loaded_load\"}" > "$work/load_loaded.json"

python3 "$repo/bench/report.py" "$work" "$results"
cat "$results/results.md"
