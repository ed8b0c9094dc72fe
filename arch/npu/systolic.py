"""A systolic-array GEMM, fold by fold, on the shared task-graph engine.

C[M, N] = A[M, K] B[K, N] on an R x C array. The operand held in the array (the stationary
one) is cut into R x C folds; every fold fills the array, streams the other operand through,
and drains. Per fold, with the array padded to its full size as SCALE-Sim does:
  output-stationary  (folds over M/R x N/C): K + R + C - 2 cycles
  weight-stationary  (folds over K/R x N/C): 2R + C + M - 2 cycles
  input-stationary   (folds over K/R x M/C): 2R + C + N - 2 cycles
Folds run back to back on the array; each fold's operand tiles come through the off-chip
interface (a DMA unit with a bandwidth), double-buffered: fold i's load may start once fold
i - 2 has finished with its buffer half. With unlimited bandwidth the loads take no time and
the array never stalls (compute-only). Cycles are counted as SCALE-Sim counts them: the index
of the last busy cycle, i.e. total - 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from accsim.arch.npu.spec import NpuSpec
from accsim.core.errors import ConfigError
from accsim.core.limits import require_memory
from accsim.core.program import successors_csr
from accsim.core.stats import Stats

DATAFLOWS = ("os", "ws", "is")


@dataclass(frozen=True)
class FoldPlan:
    dataflow: str
    row_folds: int
    col_folds: int
    cycles_per_fold: int
    stationary_words: int        # words of the stationary tile loaded per fold
    streamed_words: int          # words streamed through the array per fold
    sram_reads: dict             # operand -> words read from the buffers over the whole GEMM
    outputs: int


def plan(dataflow: str, m: int, k: int, n: int, rows: int, cols: int) -> FoldPlan:
    if dataflow not in DATAFLOWS:
        raise ConfigError([f"dataflow: expected one of {', '.join(DATAFLOWS)}, got {dataflow!r}"])
    if min(m, k, n) <= 0:
        raise ConfigError([f"gemm: M, K and N must be > 0, got M={m} K={k} N={n}"])
    if dataflow == "os":
        rf, cf = math.ceil(m / rows), math.ceil(n / cols)
        return FoldPlan("os", rf, cf, k + rows + cols - 2, 0, rows * k + k * cols,
                        {"ifmap": m * k * cf, "filter": k * n * rf}, m * n)
    if dataflow == "ws":
        rf, cf = math.ceil(k / rows), math.ceil(n / cols)
        return FoldPlan("ws", rf, cf, 2 * rows + cols + m - 2, rows * cols, m * rows,
                        {"ifmap": m * k * cf, "filter": k * n}, m * n * rf)
    rf, cf = math.ceil(k / rows), math.ceil(m / cols)
    return FoldPlan("is", rf, cf, 2 * rows + cols + n - 2, rows * cols, n * rows,
                    {"ifmap": m * k, "filter": k * n * cf}, m * n * rf)


# peak bytes per fold while simulating (2 tasks: unit, busy, deps, successors, schedule);
# measured: 288 B per fold on a 100,000-fold GEMM
FOLD_BYTES = 300


def _fold_tasks(p: FoldPlan, bandwidth: float) -> tuple[np.ndarray, ...]:
    """Task arrays: per fold a load (DMA unit 0) then a compute (array unit 1)."""
    folds = p.row_folds * p.col_folds
    require_memory(f"a GEMM of {folds:,} folds", folds * FOLD_BYTES,
                   "split it into smaller GEMMs (--topology) or use a larger array")
    load_words = p.stationary_words + p.streamed_words
    load_cycles = 0 if bandwidth == 0 else math.ceil(load_words / bandwidth)
    unit = np.tile(np.array([0, 1], np.int32), folds)
    busy = np.tile(np.array([load_cycles, p.cycles_per_fold], np.int64), folds)
    f = np.arange(folds, dtype=np.int64)
    # per fold, in task order: load f waits for compute f-2 (its buffer half is free);
    # compute f waits for load f (its data) and compute f-1 (the array)
    load_deps = np.where(f >= 2, 1, 0)
    compute_deps = np.where(f >= 1, 2, 1)
    counts = np.stack((load_deps, compute_deps), axis=1).ravel()
    ptr = np.zeros(2 * folds + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    idx = np.empty(int(counts.sum()), np.int32)
    load_at, compute_at = ptr[0:-1:2], ptr[1::2]
    idx[load_at[f >= 2]] = 2 * (f[f >= 2] - 2) + 1
    idx[compute_at] = 2 * f
    idx[compute_at[f >= 1] + 1] = 2 * f[f >= 1] - 1
    sptr, sidx = successors_csr(ptr, idx)
    return ptr, idx, sptr, sidx, unit, busy


def simulate_gemm(spec: NpuSpec, m: int, k: int, n: int, dataflow: str | None = None) -> Stats:
    """Cycle-level fold schedule of one GEMM; compute cycles, stalls, utilization, traffic."""
    from accsim.core.engine import run_task_graph
    spec.check()
    a = spec.array
    p = plan(dataflow or a.dataflow, m, k, n, a.rows, a.cols)
    ptr, idx, sptr, sidx, unit, busy = _fold_tasks(p, spec.interface.bandwidth_words_per_cycle)
    start, finish, _ = run_task_graph(ptr, idx, sptr, sidx, unit, busy, np.zeros_like(busy),
                                      np.ones(2, np.int64))
    computes = slice(1, None, 2)
    total = int(finish[computes].max())
    compute_only = p.row_folds * p.col_folds * p.cycles_per_fold
    macs = m * k * n
    words = spec.buffers.word_bytes
    return Stats({
        "dataflow": p.dataflow, "array": f"{a.rows}x{a.cols}", "m": m, "k": k, "n": n,
        "folds": p.row_folds * p.col_folds, "row_folds": p.row_folds, "col_folds": p.col_folds,
        "cycles_per_fold": p.cycles_per_fold,
        "compute_cycles": compute_only - 1, "total_cycles": total - 1,
        "stall_cycles": total - compute_only, "latency_s": total / spec.clock_hz,
        "macs": macs, "compute_util_pct": 100.0 * macs / (a.rows * a.cols * total),
        "mapping_efficiency_pct": 100.0 * _mapped_fraction(p, m, k, n, a.rows, a.cols),
        "sram_reads_words": dict(p.sram_reads), "ofmap_writes_words": p.outputs,
        "dram_bytes_compulsory": (m * k + k * n + m * n) * words,
    })


def _mapped_fraction(p: FoldPlan, m: int, k: int, n: int, rows: int, cols: int) -> float:
    """Average fraction of the PEs that hold real (not padding) work across the folds."""
    along_rows, along_cols = {"os": (m, n), "ws": (k, n), "is": (k, m)}[p.dataflow]
    return (along_rows / (p.row_folds * rows)) * (along_cols / (p.col_folds * cols))
