#!/usr/bin/env python3
"""Turns make bench's raw measurements (in its work directory) into
bench/results/: results.json (every figure), results.md (the tables) and
latency.png (the latency distribution)."""
import json
import os
import subprocess
import sys


MODULE_COST_NOTE = ("the CPU time of the launcher and the database and consumer workers over one "
                    "maint_interval (30 s, from /proc: their periodic full passes and maintenance whole), "
                    "plus the perf samples of backends and PostgreSQL's own processes with a pgque_worker.so "
                    "frame on the stack, except what the ExecutorStart and ProcessUtility hooks hand on to "
                    "PostgreSQL's standard_ExecutorStart and standard_ProcessUtility")


def read_lines(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def read_json(work_dir, name, default=None):
    path = os.path.join(work_dir, name)
    return json.load(open(path)) if os.path.exists(path) else default


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else 0.0


def main(work_dir, out_dir):
    scenarios = read_lines(os.path.join(work_dir, "latency.jsonl"))
    loaded_path = os.path.join(work_dir, "latency_loaded.jsonl")
    loaded = read_lines(loaded_path) if os.path.exists(loaded_path) else []
    many = read_json(work_dir, "many.json")
    backlog = read_json(work_dir, "backlog.json")
    producer_path = os.path.join(work_dir, "producer.jsonl")
    producer = read_lines(producer_path) if os.path.exists(producer_path) else []
    loads = {**read_json(work_dir, "load.json", {}), **read_json(work_dir, "load_loaded.json", {}),
             "dispatch": read_json(work_dir, "dispatch_load.json", {}).get("load")}
    idle = json.load(open(os.path.join(work_dir, "idle.json")))
    dispatch_rows = read_lines(os.path.join(work_dir, "dispatch.jsonl"))
    batches = sorted({d["batch"] for d in dispatch_rows})
    dispatch = {}  # (way, batch) -> median events/s over its rounds, and the median ratio to raw
    for way, batch in {(d["way"], d["batch"]) for d in dispatch_rows}:
        rounds = {d.get("round", 1): d["events_per_second"] for d in dispatch_rows
                  if d["way"] == way and d["batch"] == batch}
        raw = {d.get("round", 1): d["events_per_second"] for d in dispatch_rows
               if d["way"] == "raw" and d["batch"] == batch}
        # Each round's ratio pairs measurements taken side by side; the
        # client runs one round only, against the raw median.
        ratios = [rounds[r] / raw[r] for r in rounds if r in raw] if way != "client" else \
            [rounds[r] / median(list(raw.values())) for r in rounds]
        dispatch[(way, batch)] = {"events_per_second": median(list(rounds.values())),
                                  "ratio_to_raw": median(ratios), "rounds": len(rounds),
                                  "runs": [rounds[r] for r in sorted(rounds)]}
    webhooks = {w["kind"]: w for w in read_lines(os.path.join(work_dir, "webhooks.jsonl"))}
    ceiling = json.load(open(os.path.join(work_dir, "wrk.json")))["receiver_ceiling_per_second"]
    idle["seconds"] = idle["elapsed_ns"] / 1e9
    for who in ("worker", "external100"):
        idle[f"{who}_cpu_percent"] = (idle[f"{who}_cpu_ticks"] / idle["clock_ticks_per_second"]
                                      / idle["seconds"] * 100)
    if many:
        for phase in ("idle", "busy"):
            many[f"{phase}_cpu_percent"] = (many[f"{phase}_cpu_ticks"] / many["clock_ticks_per_second"]
                                            / (many[f"{phase}_elapsed_ns"] / 1e9) * 100)
    if backlog:
        backlog["events_per_second"] = backlog["events"] / (backlog["elapsed_ns"] / 1e9)
    module_cost_path = os.path.join(work_dir, "module_cost.jsonl")
    module_cost = {m["workload"]: m for m in read_lines(module_cost_path)} if os.path.exists(module_cost_path) else {}
    producer_summary = {}
    for workload in ("select-only", "tpcb-like", "send"):
        with_ = [p["tps"] for p in producer if p["workload"] == workload and p["preloaded"]]
        without = [p["tps"] for p in producer if p["workload"] == workload and not p["preloaded"]]
        if with_ and without:
            producer_summary[workload] = {"tps_preloaded": median(with_), "tps_not_loaded": median(without),
                                          "runs_preloaded": with_, "runs_not_loaded": without}
            producer_summary[workload]["cost_percent"] = (
                (1 - median(with_) / median(without)) * 100 if median(without) else 0.0)
    summary = {
        "load_average": loads,
        "latency": [{k: v for k, v in s.items() if k != "samples_ms"} for s in scenarios],
        "latency_under_load": [{k: v for k, v in s.items() if k != "samples_ms"} for s in loaded],
        "idle": idle,
        "many_queues": many,
        "backlog": backlog,
        "producer_cost": producer_summary,
        "module_cpu_share": module_cost,
        "dispatch": dispatch_rows,
        "webhooks": list(webhooks.values()),
        "webhook_receiver_ceiling_per_second": ceiling,
    }
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(summary, f, indent=2)

    by_name = {s["scenario"]: s for s in scenarios}
    lines = [
        "# make bench",
        "",
        "## Delivery latency",
        "",
        f"{scenarios[0]['rate']} events/s for {scenarios[0]['seconds']} s per scenario, both at once; "
        "latency = producer commit to event in a consumer's hands (LISTEN + receive).",
        "",
        "| scenario | received | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for label, rows in (("idle", scenarios), ("under load", loaded)):
        for s in rows:
            lines.append(f"| {s['scenario']} ({label}) | {s['received']}/{s['sent']} | {s['p50_ms']:.2f} | "
                         f"{s['p95_ms']:.2f} | {s['p99_ms']:.2f} | {s['max_ms']:.2f} |")
    lines += ["", f"Load average: {loads.get('idle', '?')} before the idle run; {loads.get('loaded', '?')} "
                  "during the run under load (two CPU-bound processes added; the machine is shared)."]
    if "worker" in by_name and "external100" in by_name and by_name["worker"]["p50_ms"] > 0:
        ratio = by_name["external100"]["p50_ms"] / by_name["worker"]["p50_ms"]
        lines += ["", f"Median delivery: the worker is {ratio:.1f}x faster than a 100 ms external ticker."]
    lines += [
        "",
        f"Idle, {idle['idle_queues']} queues with a consumer each, {idle['seconds']:.0f} s: "
        f"pgque_worker processes ({idle['worker_processes']}) used "
        f"{idle['worker_cpu_percent']:.2f}% of one core; the backend of an external loop calling "
        f"pgque.ticker() every 100 ms used {idle['external100_cpu_percent']:.2f}%.",
        "",
        "worker: queue at PgQ's default settings (ticker_max_count 500, ticker_max_lag 3 s). "
        "external100: ticker() every 100 ms on a queue with ticker_max_lag = 0.",
    ]
    if many:
        lines += [
            "",
            "## Tick pass with many queues",
            "",
            f"{many['queues']} queues, each with a consumer; the database worker's CPU (% of one core), idle once PgQ's idle back-off has settled (120 s after creating them).",
            "",
            "| phase | CPU % | load average |",
            "|---|---|---|",
            f"| idle | {many['idle_cpu_percent']:.2f} | {many['idle_load']} |",
            f"| {many['rate']} events/s into one queue | {many['busy_cpu_percent']:.2f} | {many['busy_load']} |",
        ]
    if dispatch:
        lines += [
            "",
            "## Dispatch throughput",
            "",
            f"{dispatch_rows[0]['events']} events per way and round, to a no-op PL/pgSQL handler taking a "
            "pgque.message; raw and worker in alternating order, medians of "
            f"{max(d['rounds'] for d in dispatch.values())} rounds (the ratio: the median of each round's "
            "worker / raw), the external consumer in one round. "
            "Reference: the engine's whole-batch drain (a server-side loop of receive(q, c, <whole batch>) "
            "+ ack, no handler). The worker reads each batch whole and calls the handler in slices of "
            "max_messages (default 100), timed from its first committed batch to its last (starting a "
            "background worker is a fixed cost, not dispatch); the external consumer receives whole "
            "batches and calls the "
            f"handler once per message. Load average: {loads.get('dispatch', '?')}.",
            "",
            "| way | " + " | ".join(f"batches of {b}: events/s (vs raw)" for b in batches) + " |",
            "|---|" + "---|" * len(batches),
        ]
        names = {"raw": "raw whole-batch drain (no handler)",
                 "worker": "pgque_worker consumer worker",
                 "client": "external consumer (one statement per message)"}
        for way in ("raw", "worker", "client"):
            cells = []
            for b in batches:
                d = dispatch.get((way, b))
                cells.append(f"{d['events_per_second']:.0f} ({d['ratio_to_raw'] * 100:.0f}%)" if d else "-")
            lines.append(f"| {names[way]} | " + " | ".join(cells) + " |")
        lines += ["", "Rounds, events/s: " + "; ".join(
            f"{way} {b}: " + ", ".join(f"{v:.0f}" for v in dispatch[(way, b)]["runs"])
            for b in batches for way in ("raw", "worker") if (way, b) in dispatch)]
    if backlog:
        lines += [
            "",
            "## Backlog",
            "",
            f"{backlog['events']} events queued while the consumer was paused (batches of 10,000), then resumed: "
            f"drained at {backlog['events_per_second']:.0f} events/s. The consumer worker's anonymous RSS: "
            f"{backlog['baseline_rss_kb'] / 1024:.1f} MB after a warm-up batch (baseline), "
            f"peak {backlog['peak_rss_kb'] / 1024:.1f} MB while draining, "
            f"{backlog['after_rss_kb'] / 1024:.1f} MB after. Load average: {backlog['load']}.",
        ]
    if producer_summary:
        lines += [
            "",
            "## Producer cost",
            "",
            "pgbench (2 clients, synchronous_commit off so that the disk's variance does not hide CPU costs) "
            "in a database the worker serves, with pgque_worker preloaded (worker running) "
            "and without it; medians of alternating rounds.",
            "",
            "| workload | TPS preloaded | TPS not loaded | cost |",
            "|---|---|---|---|",
        ]
        for workload, p in producer_summary.items():
            lines.append(f"| {workload} | {p['tps_preloaded']:.0f} | {p['tps_not_loaded']:.0f} | "
                         f"{p['cost_percent']:.1f}% |")
    if module_cost:
        lines += [
            "",
            "The module's own share of the server's CPU, with it preloaded, from perf's call stacks "
            f"({MODULE_COST_NOTE}): one set of samples per workload, so the shared machine's noise, "
            "which moves the TPS above by up to 20% between rounds, moves both sides of this ratio.",
            "",
            "| workload (TPS) | server samples | the module's processes (perf) | its processes over 30 s "
            "| module frames in other processes | module's share | where, in other processes |",
            "|---|---|---|---|---|---|---|",
        ]
        for workload, m in module_cost.items():
            if "error" in m:
                lines.append(f"| {workload} | {m['error']} | | | | | |")
                continue
            top = ", ".join(f"{name.split('::')[-1]} {count}" for name, count in m["backend_top"])
            processes = ", ".join(f"{title} {count}" for title, count in m.get("module_processes", []))
            window = m.get("window_module_percent")
            window_text = (f"{window:.2f}% ({m['window_module_ticks']} of {m['window_server_ticks']} ticks)"
                           if window is not None else "-")
            lines.append(f"| {workload} ({m.get('tps', 0):.0f}) | {m['server_samples']} | {m['module_process_samples']} ({processes}) | "
                         f"{window_text} | {m['backend_module_samples']} | **{m['cost_percent']:.2f}%** | {top} |")
    if webhooks:
        t, l = webhooks["throughput"], webhooks["latency"]
        lines += [
            "",
            "## Webhooks",
            "",
            f"POSTs to a local keep-alive receiver (nginx answering 204) with the default settings "
            f"(pgque_worker.http_max_connections 32, max_messages 100); the receiver's own ceiling "
            f"measured with wrk (1 thread, 32 connections, the same body size) in the same run.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| deliveries/s through pgque_worker ({t['events']} events) | {t['deliveries_per_second']:.0f} |",
            f"| receiver ceiling under wrk, requests/s | {ceiling:.0f} |",
            f"| commit -> POST received at {l['rate']} events/s: p50 / p99 / max ms | "
            f"{l['p50_ms']:.1f} / {l['p99_ms']:.1f} / {l['max_ms']:.1f} ({l['matched']}/{l['sent']} matched) |",
        ]
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")

    # Distribution plot: CDF of latency, log scale.
    plot_data = []
    for s in scenarios + [dict(x, scenario=x["scenario"] + " (under load)") for x in loaded]:
        path = os.path.join(out_dir, f".{s['scenario'].replace(' ', '_')}.dat")
        n = len(s["samples_ms"])
        with open(path, "w") as f:
            for i, v in enumerate(s["samples_ms"]):
                f.write(f"{max(v, 0.01)} {(i + 1) / n}\n")
        plot_data.append((s["scenario"], path))
    script = "\n".join([
        "set terminal pngcairo size 900,500",
        f"set output '{os.path.join(out_dir, 'latency.png')}'",
        "set title 'Delivery latency (commit -> consumer), cumulative'",
        "set xlabel 'latency (ms, log scale)'",
        "set ylabel 'fraction of events'",
        "set logscale x",
        "set grid",
        "set key bottom right",
        "plot " + ", ".join(f"'{p}' using 1:2 with lines lw 2 title '{name}'" for name, p in plot_data),
    ])
    subprocess.run(["gnuplot"], input=script.encode(), check=True)
    for _, p in plot_data:
        os.remove(p)


if __name__ == "__main__":
    main(*sys.argv[1:3])
