#!/usr/bin/env python3
"""make soak's report: soak_report.py CSV WORKDIR RESULTS_DIR RATE MINUTES

Reads the samples (t_s,kind,name,value) and the end-of-run counts that
scripts/soak.sh left in WORKDIR (sent.csv, handled.csv, dead.csv,
webhooks.log), writes RESULTS_DIR/soak.md, soak.json and soak.png, prints
soak.md, and exits 1 when exactly-once (SQL) or at-least-once (HTTP) fails.
"""
import collections
import csv
import json
import os
import subprocess
import sys

csv_path, work, out_dir, rate, minutes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
series = collections.defaultdict(list)  # (kind, name) -> [(t, value)]
with open(csv_path) as f:
    for row in csv.DictReader(f):
        try:
            series[(row["kind"], row["name"])].append((float(row["t_s"]), float(row["value"])))
        except ValueError:
            pass


def slope_per_hour(points):
    """Least-squares slope of value over time, per hour, after the first 10% (warm-up)."""
    if len(points) < 3:
        return 0.0
    start = points[0][0] + (points[-1][0] - points[0][0]) * 0.1
    pts = [p for p in points if p[0] >= start] or points
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    return 0.0 if var == 0 else sum((t - mt) * (v - mv) for t, v in pts) / var * 3600


def percentile(values, q):
    values = sorted(values)
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


def read_pairs(name):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.strip().split(",") for line in f if line.strip()]


sent = {q: int(n) for q, n in read_pairs("sent.csv")}
dead = {q: int(n) for q, n in read_pairs("dead.csv")}
handled = {r[0]: {"rows": int(r[1]), "distinct": int(r[2]), "p99_s": float(r[3] or 0), "max_s": float(r[4] or 0)}
           for r in read_pairs("handled.csv")}
hook_ok, hook_attempts, hook_failed = set(), 0, 0
with open(os.path.join(work, "webhooks.log")) as f:
    for line in f:
        parts = line.split()
        if len(parts) < 3:
            continue
        hook_attempts += 1
        if parts[2].startswith("2"):
            hook_ok.add(parts[1])
        else:
            hook_failed += 1

checks = []
for q in ("soak_sql", "soak_flaky"):
    h = handled.get(q, {"rows": 0, "distinct": 0})
    ok = h["rows"] == h["distinct"] and h["distinct"] + dead.get(q, 0) == sent.get(q, -1)
    checks.append({"queue": q, "check": "exactly once", "sent": sent.get(q), "handled": h["rows"],
                   "distinct": h["distinct"], "dead_lettered": dead.get(q, 0), "ok": ok})
ok = len(hook_ok) + dead.get("soak_hooks", 0) >= sent.get("soak_hooks", -1)
checks.append({"queue": "soak_hooks", "check": "at least once", "sent": sent.get("soak_hooks"),
               "delivered_distinct": len(hook_ok), "attempts": hook_attempts, "failed_attempts": hook_failed,
               "dead_lettered": dead.get("soak_hooks", 0), "ok": ok})

elapsed = max((p[-1][0] for p in series.values() if p), default=0.0)
events = sum(sent.values())
processes = {}
for (kind, name), pts in series.items():
    if kind == "rss_kb":
        anon = series.get(("rss_anon_kb", name), [])
        cpu = series.get(("cpu_ticks", name), [])
        cpu_s = (cpu[-1][1] - cpu[0][1]) / os.sysconf("SC_CLK_TCK") if len(cpu) > 1 else 0.0
        span = cpu[-1][0] - cpu[0][0] if len(cpu) > 1 else 0.0
        queue = name.split("[")[0].replace("consumer_", "")
        per_events = sent.get(queue, events) if name.startswith("consumer_") else events
        processes[name] = {
            "rss_start_kb": pts[0][1], "rss_end_kb": pts[-1][1], "rss_peak_kb": max(v for _, v in pts),
            "rss_slope_kb_per_hour": round(slope_per_hour(pts), 1),
            "rss_anon_slope_kb_per_hour": round(slope_per_hour(anon), 1),
            "cpu_percent_of_core": round(100 * cpu_s / span, 2) if span else 0.0,
            "cpu_ms_per_1000_events": round(1000 * cpu_s / per_events * 1000, 2) if per_events else 0.0,
        }
tables = {}
for (kind, name), pts in series.items():
    if kind == "dead_tuples":
        size = series.get(("size_bytes", name), [])
        tables[name] = {"peak_dead_tuples": int(max(v for _, v in pts)),
                        "size_start_bytes": int(size[0][1]) if size else 0,
                        "size_end_bytes": int(size[-1][1]) if size else 0,
                        "size_peak_bytes": int(max(v for _, v in size)) if size else 0}
lags = {}
for (kind, name), pts in series.items():
    if kind == "lag_s":
        # While the producer ran: once it stops, PgQ's lag grows with the idle ticks.
        values = [v for t, v in pts if t <= minutes * 60] or [v for _, v in pts]
        lags[name] = {"pgq_lag_p99_s": round(percentile(values, 0.99), 3), "pgq_lag_max_s": round(max(values), 3),
                      "pending_max": int(max((v for _, v in series.get(("pending", name), [])), default=0))}
        if name in handled:
            lags[name]["delivery_p99_s"] = round(handled[name]["p99_s"], 3)
            lags[name]["delivery_max_s"] = round(handled[name]["max_s"], 3)

summary = {"minutes": minutes, "rate_per_queue": rate, "elapsed_s": elapsed, "events_sent": events,
           "load_average": open("/proc/loadavg").read().split()[:3], "checks": checks,
           "processes": processes, "tables": tables, "lag": lags}
os.makedirs(out_dir, exist_ok=True)
with open(os.path.join(out_dir, "soak.json"), "w") as f:
    json.dump(summary, f, indent=2)

md = [f"# make soak: {minutes:g} min at {rate} events/s in each of 3 queues ({events} events)", ""]
md += ["| check | queue | sent | result | ok |", "|---|---|---|---|---|"]
for c in checks:
    detail = (f"{c['handled']} handled, {c['distinct']} distinct, {c['dead_lettered']} dead-lettered"
              if c["check"] == "exactly once" else
              f"{c['delivered_distinct']} distinct 2xx of {c['attempts']} POSTs ({c['failed_attempts']} failed), "
              f"{c['dead_lettered']} dead-lettered")
    md.append(f"| {c['check']} | {c['queue']} | {c['sent']} | {detail} | {'yes' if c['ok'] else 'NO'} |")
md += ["", "| process | RSS start / peak / end (MB) | RSS slope (MB/h) | anon RSS slope (MB/h) | CPU (% core) | CPU ms / 1,000 events |",
       "|---|---|---|---|---|---|"]
for name, p in sorted(processes.items()):
    md.append(f"| {name} | {p['rss_start_kb']/1024:.1f} / {p['rss_peak_kb']/1024:.1f} / {p['rss_end_kb']/1024:.1f} | "
              f"{p['rss_slope_kb_per_hour']/1024:.2f} | {p['rss_anon_slope_kb_per_hour']/1024:.2f} | "
              f"{p['cpu_percent_of_core']} | {p['cpu_ms_per_1000_events']} |")
md += ["", "| consumer queue | PgQ lag p99 / max (s), while producing | delivery p99 / max (s), retries included | max pending |", "|---|---|---|---|"]
for name, l in sorted(lags.items()):
    delivery = f"{l['delivery_p99_s']} / {l['delivery_max_s']}" if "delivery_p99_s" in l else "n/a (HTTP)"
    md.append(f"| {name} | {l['pgq_lag_p99_s']} / {l['pgq_lag_max_s']} | {delivery} | {l['pending_max']} |")
md += ["", "| table | peak dead tuples | size start / peak / end (kB) |", "|---|---|---|"]
for name, t in sorted(tables.items(), key=lambda x: -x[1]["peak_dead_tuples"]):
    md.append(f"| {name} | {t['peak_dead_tuples']} | {t['size_start_bytes']//1024} / {t['size_peak_bytes']//1024} / "
              f"{t['size_end_bytes']//1024} |")
md.append("")
md.append(f"Load average at the end: {' '.join(summary['load_average'])} (the machine is shared).")
with open(os.path.join(out_dir, "soak.md"), "w") as f:
    f.write("\n".join(md) + "\n")
print("\n".join(md))

# The plot: RSS per process, lag per consumer, dead tuples of the busiest tables.
data_dir = os.path.join(work, "plot")
os.makedirs(data_dir, exist_ok=True)


def write_series(kind, name, scale=1.0):
    path = os.path.join(data_dir, f"{kind}_{name}.dat".replace("/", "_"))
    with open(path, "w") as f:
        for t, v in series[(kind, name)]:
            f.write(f"{t/60:.3f} {v*scale}\n")
    return path


busiest = sorted(tables, key=lambda n: -tables[n]["peak_dead_tuples"])[:6]
plots = [
    ("RSS (MB)", [(write_series("rss_kb", n, 1 / 1024), n) for n in sorted(processes)]),
    ("consumer lag (s)", [(write_series("lag_s", n), n) for n in sorted(lags)]),
    ("dead tuples", [(write_series("dead_tuples", n), n) for n in busiest]),
]
script = ["set terminal pngcairo size 1000,1100", f"set output '{os.path.join(out_dir, 'soak.png')}'",
          "set multiplot layout 3,1", "set key outside right", "set xlabel 'minutes'"]
for title, lines in plots:
    script.append(f"set title '{title}'")
    if lines:
        script.append("plot " + ", ".join(f"'{p}' using 1:2 with lines title '{n.replace('_', ' ')}'" for p, n in lines))
script.append("unset multiplot")
subprocess.run(["gnuplot"], input="\n".join(script).encode(), check=True)
sys.exit(0 if all(c["ok"] for c in checks) else 1)
