#!/usr/bin/env python3
"""Turns make bench's raw measurements (in its work directory) into
bench/results/: results.json (every figure), results.md (the tables) and
latency.png (the latency distribution)."""
import json
import os
import subprocess
import sys


def read_lines(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def main(work_dir, out_dir):
    scenarios = read_lines(os.path.join(work_dir, "latency.jsonl"))
    idle = json.load(open(os.path.join(work_dir, "idle.json")))
    dispatch = {d["way"]: d for d in read_lines(os.path.join(work_dir, "dispatch.jsonl"))}
    webhooks = {w["kind"]: w for w in read_lines(os.path.join(work_dir, "webhooks.jsonl"))}
    ceiling = json.load(open(os.path.join(work_dir, "wrk.json")))["receiver_ceiling_per_second"]
    idle["seconds"] = idle["elapsed_ns"] / 1e9
    for who in ("worker", "external100"):
        idle[f"{who}_cpu_percent"] = (idle[f"{who}_cpu_ticks"] / idle["clock_ticks_per_second"]
                                      / idle["seconds"] * 100)
    summary = {
        "latency": [{k: v for k, v in s.items() if k != "samples_ms"} for s in scenarios],
        "idle": idle,
        "dispatch": list(dispatch.values()),
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
    for s in scenarios:
        lines.append(f"| {s['scenario']} | {s['received']}/{s['sent']} | {s['p50_ms']:.2f} | "
                     f"{s['p95_ms']:.2f} | {s['p99_ms']:.2f} | {s['max_ms']:.2f} |")
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
    if dispatch:
        raw = dispatch["raw"]["events_per_second"]
        lines += [
            "",
            "## Dispatch throughput",
            "",
            f"{dispatch['raw']['events']} events in batches of 1000, received 100 at a time, "
            "to a no-op PL/pgSQL handler taking a pgque.message.",
            "",
            "| way | events/s | vs raw drain |",
            "|---|---|---|",
        ]
        names = {"raw": "raw drain (server-side receive/ack loop, no handler)",
                 "worker": "pgque_worker consumer worker",
                 "client": "external consumer (one statement per message, like pgque's Go client)"}
        for way in ("raw", "worker", "client"):
            d = dispatch[way]
            lines.append(f"| {names[way]} | {d['events_per_second']:.0f} | "
                         f"{d['events_per_second'] / raw * 100:.0f}% |")
        lines += ["", f"The worker dispatches {dispatch['worker']['events_per_second'] / dispatch['client']['events_per_second']:.1f}x "
                      "as many events per second as the external consumer."]
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
    for s in scenarios:
        path = os.path.join(out_dir, f".{s['scenario']}.dat")
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
