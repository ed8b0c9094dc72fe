"""Speed of the shared machinery: task-graph executor, trace I/O, and end-to-end gpu runs.

Usage: python benchmarks/bench_engine.py [--tasks N] [--requests N]
Prints one line per figure (median of 3 after a warm-up that also triggers numba compilation).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import accsim
from accsim.core.engine import attribute_makespan, run_task_graph
from accsim.core.traces import Trace, read_trace, write_trace


def median_time(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def random_dag(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    n_deps = rng.integers(0, 3, n)
    n_deps[0] = 0
    ptr = np.zeros(n + 1, np.int64)
    ptr[1:] = np.cumsum(n_deps)
    owner = np.repeat(np.arange(n), n_deps)
    idx = (rng.random(owner.size) * np.maximum(owner, 1)).astype(np.int32)
    order = np.argsort(idx, kind="stable")
    sptr = np.zeros(n + 1, np.int64)
    sptr[1:] = np.cumsum(np.bincount(idx, minlength=n))
    sidx = owner[order].astype(np.int32)
    unit = rng.integers(0, 8, n).astype(np.int32)
    busy = rng.integers(1, 100, n).astype(np.int64)
    return ptr, idx, sptr, sidx, unit, busy, np.zeros(n, np.int64), np.ones(8, np.int64)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=1_000_000)
    args = ap.parse_args()

    dag = random_dag(args.tasks)
    t = median_time(lambda: run_task_graph(*dag))
    print(f"task-graph executor: {args.tasks:,} tasks in {t:.3f} s = {args.tasks / t / 1e6:.2f} M tasks/s")
    start, finish, _ = run_task_graph(*dag)
    t = median_time(lambda: attribute_makespan(start, finish))
    print(f"makespan attribution: {args.tasks / t / 1e6:.2f} M tasks/s")

    rng = np.random.default_rng(12345)
    n = args.requests
    trace = Trace(rng.integers(0, (4 << 30) // 64, n) * 64, rng.random(n) < 1 / 3, np.zeros(n, np.int64))
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("ldst", "dramsim3"):
            path = Path(tmp) / f"t.{fmt}"
            tw = median_time(lambda: write_trace(path, trace, fmt))
            tr = median_time(lambda: read_trace(path, fmt))
            mb = path.stat().st_size / 1e6
            print(f"trace {fmt}: write {n / tw / 1e6:.1f} M lines/s, read {n / tr / 1e6:.1f} M lines/s "
                  f"({mb / tr:.0f} MB/s)")

    for kwargs in (dict(arch="t4", model="gpt2-small", gen=16),
                   dict(arch="dgx-h100", model="llama3.1-70b", batch=8, prompt=1024, gen=256),
                   dict(arch="h200", model="deepseek-v3", batch=1, prompt=128, gen=8,
                        overrides={"offload.weights_fraction": 0.9})):
        t = median_time(lambda: accsim.run(**kwargs))
        desc = " ".join(f"{k}={v}" for k, v in kwargs.items() if k != "overrides")
        print(f"accsim.run {desc}: {t:.2f} s")


if __name__ == "__main__":
    main()
