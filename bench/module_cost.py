#!/usr/bin/env python3
"""The module's share of the server's CPU, from perf call stacks.

Usage: module_cost.py PERF_SCRIPT_OUTPUT PROC_BEFORE PROC_AFTER

PERF_SCRIPT_OUTPUT is `perf script -F pid,ip,sym,dso` of a `perf record -a
--call-graph dwarf` taken while a workload ran. PROC_BEFORE and PROC_AFTER
list every server process at both ends of a longer window, one line each:
"pid cpu_ticks is_module title" (is_module 1: the launcher, a database or
consumer worker). Prints one JSON object.

Throughput rounds on a shared VM move by up to 20% between rounds; this
ratio comes from one set of samples, so whatever slows the machine slows
both sides of it. What counts as the module's cost:
  - every sample of the module's own processes;
  - a sample of any other server process with a frame of pgque_worker.so on
    its stack, except the work a hook hands on to PostgreSQL (the
    ExecutorStart and ProcessUtility hooks call standard_ExecutorStart and
    standard_ProcessUtility, which the backend would run without the
    module).

The module's processes do their heaviest work in periods: a full pass over
every queue each 10 tick_intervals (10 s), maintenance each maint_interval
(30 s). A perf window of a few seconds holds none or several of them,
depending on where it falls (in 6 s windows of one 60 s run, the workers'
share went from 0.00% to 1.66%, 0.82% over the whole minute). So the
module's processes count by the /proc window, which holds whole periods:
cost_percent is their
share of the server's CPU there plus the share of the module's frames in
the other processes' perf samples (steady, one per statement).
"""
import collections
import json
import re
import sys

MODULE_DSO = "pgque_worker.so"
# "ip symbol (dso)"; the dso of a library replaced on disk since the server
# loaded it (make install while it runs) ends in " (deleted)", and its
# symbols are then "[unknown]": still the module's frames.
FRAME = re.compile(r"^\S+ (?P<symbol>.*) \((?P<dso>[^()]*?)(?: \(deleted\))?\)$")
CHAINED = {"standard_ExecutorStart", "standard_ProcessUtility"}


def read_samples(path):
    """Yields (pid, [(symbol, dso), ...] innermost first)."""
    pid, frames = None, []
    with open(path, errors="replace") as lines:
        for line in lines:
            if not line.strip():
                if pid is not None:
                    yield pid, frames
                pid, frames = None, []
            elif line.startswith("\t"):
                match = FRAME.match(line.strip())
                frames.append((match["symbol"], match["dso"]) if match else (line.strip(), ""))
            else:
                pid = int(line.split()[0])
    if pid is not None:
        yield pid, frames


def in_module(frame):
    return frame[1].endswith(MODULE_DSO)


def module_frames_cost(frames):
    """Whether this stack of a backend is the module's own work."""
    if not any(in_module(f) for f in frames):
        return False
    # A chained call hands the rest of the stack back to PostgreSQL: the
    # chained function's caller, past frames perf shows as inlined into it,
    # is the module's.
    for index, frame in enumerate(frames):
        if frame[0].split("+")[0] in CHAINED:
            callers = [f for f in frames[index + 1:] if f[1] != "inlined"]
            if callers and in_module(callers[0]):
                return False
    return True


def read_proc(path):
    """pid -> (cpu ticks, is_module, title)."""
    rows = {}
    for line in open(path):
        pid, ticks, is_module, title = (line.rstrip("\n").split(" ", 3) + [""])[:4]
        rows[int(pid)] = (int(ticks), is_module == "1", title.removeprefix("postgres: ").strip())
    return rows


def window_ticks(before, after):
    """(module ticks, server ticks) over the window, of processes alive at both ends."""
    module = server = 0
    for pid, (ticks, is_module, _) in after.items():
        if pid in before:
            delta = ticks - before[pid][0]
            server += delta
            module += delta if is_module else 0
    return module, server


def main():
    before, after = read_proc(sys.argv[2]), read_proc(sys.argv[3])
    server = set(after)
    module = {pid: title for pid, (_, is_module, title) in after.items() if is_module}
    server_samples = module_process_samples = backend_samples = backend_module_samples = 0
    where, module_by_process = collections.Counter(), collections.Counter()
    for pid, frames in read_samples(sys.argv[1]):
        if pid not in server:
            continue
        server_samples += 1
        if pid in module:
            module_process_samples += 1
            module_by_process[module[pid]] += 1
            continue
        backend_samples += 1
        if module_frames_cost(frames):
            backend_module_samples += 1
            innermost = next(f for f in frames if in_module(f))
            where[innermost[0].split("+")[0][:100]] += 1
    module_ticks, server_ticks = window_ticks(before, after)
    window_percent = 100.0 * module_ticks / server_ticks if server_ticks else None
    frames_percent = 100.0 * backend_module_samples / server_samples if server_samples else None
    result = {
        "server_samples": server_samples,
        "module_process_samples": module_process_samples,
        "backend_samples": backend_samples,
        "backend_module_samples": backend_module_samples,
        "perf_cost_percent": 100.0 * (module_process_samples + backend_module_samples) / server_samples
        if server_samples else None,
        "backend_cost_percent": 100.0 * backend_module_samples / backend_samples if backend_samples else None,
        "backend_top": where.most_common(5),
        "module_processes": module_by_process.most_common(),
        "window_module_ticks": module_ticks,
        "window_server_ticks": server_ticks,
        "window_module_percent": window_percent,
        "cost_percent": window_percent + frames_percent
        if window_percent is not None and frames_percent is not None else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
