#!/usr/bin/env python3
"""The module's share of the server's CPU, from perf call stacks.

Usage: module_cost.py PERF_SCRIPT_OUTPUT PIDS_JSON

PERF_SCRIPT_OUTPUT is `perf script -F pid,ip,sym,dso` of a `perf record -a
--call-graph dwarf` taken while a workload ran; PIDS_JSON names the server's
processes: {"server": [pid, ...], "module": {"pid": "process title", ...}},
the module's own processes (launcher, database and consumer workers) among
them. Prints one JSON object.

Throughput rounds on a shared VM move by up to 20% between rounds; this
ratio comes from one set of samples, so whatever slows the machine slows
both sides of it. What counts as the module's cost:
  - every sample of the module's own processes;
  - a sample of any other server process with a frame of pgque_worker.so on
    its stack, except the work a hook hands on to PostgreSQL (the
    ExecutorStart and ProcessUtility hooks call standard_ExecutorStart and
    standard_ProcessUtility, which the backend would run without the
    module).
"""
import collections
import json
import sys

MODULE_DSO = "pgque_worker.so"
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
                body = line.strip()
                symbol_and_dso = body.split(" ", 1)[1] if " " in body else body
                symbol, _, dso = symbol_and_dso.rpartition(" (")
                frames.append((symbol, dso.rstrip(")")))
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


def main():
    pids = json.load(open(sys.argv[2]))
    server = set(pids["server"])
    module = {int(pid): title for pid, title in pids["module"].items()}
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
    print(json.dumps({
        "server_samples": server_samples,
        "module_process_samples": module_process_samples,
        "backend_samples": backend_samples,
        "backend_module_samples": backend_module_samples,
        "cost_percent": 100.0 * (module_process_samples + backend_module_samples) / server_samples
        if server_samples else None,
        "backend_cost_percent": 100.0 * backend_module_samples / backend_samples if backend_samples else None,
        "backend_top": where.most_common(5),
        "module_processes": module_by_process.most_common(),
    }))


if __name__ == "__main__":
    main()
