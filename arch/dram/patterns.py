"""The three reference memory traces (seq, rand, mix), regenerated bit for bit.

Same definitions and seeds as the peers' runs (validation/reference/dram/peers.yaml lists the
files' SHA-256): 64 B requests; seq reads 0, 64, 128, ...; rand reads uniform over [0, 4 GiB)
(PCG64 seed 12345); mix draws addresses the same way with seed 67890 and makes exactly
n // 3 of them writes, shuffled with the same generator.
"""
from __future__ import annotations

import numpy as np

from accsim.core.traces import Trace

LINE_BYTES = 64
SPAN_BYTES = 4 << 30
SEEDS = {"rand": 12345, "mix": 67890}
KINDS = ("seq", "rand", "mix")


def make_trace(kind: str, n: int = 1_000_000) -> Trace:
    if kind == "seq":
        addr = np.arange(n, dtype=np.uint64) * np.uint64(LINE_BYTES)
        is_write = np.zeros(n, dtype=bool)
    elif kind in SEEDS:
        rng = np.random.Generator(np.random.PCG64(SEEDS[kind]))
        addr = rng.integers(0, SPAN_BYTES // LINE_BYTES, size=n, dtype=np.uint64) * np.uint64(LINE_BYTES)
        is_write = np.zeros(n, dtype=bool)
        if kind == "mix":
            is_write[: n // 3] = True
            rng.shuffle(is_write)
    else:
        raise ValueError(f"unknown trace kind '{kind}': expected one of {', '.join(KINDS)}")
    return Trace(addr.astype(np.int64), is_write, np.zeros(n, dtype=np.int64))


def prefix(trace: Trace, n: int) -> Trace:
    return Trace(trace.addr[:n], trace.is_write[:n], trace.cycle[:n])
