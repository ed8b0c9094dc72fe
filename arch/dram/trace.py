"""Trace-driven DRAM simulation: a request trace through the per-channel controllers.

``simulate_trace(config, trace)`` runs the requests through the FR-FCFS controller of
``kernels.py`` (or the per-bank controller of ``kernels_per_bank.py``) and returns DRAM stats:
``total_cycles`` (the cycle the last read's data returned), bandwidth, row
hits/misses/conflicts, read latency (average and tail), command counts, and optionally the
issued command trace.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from accsim.arch.dram.energy import energy_stats
from accsim.arch.dram.spec import DramConfig, map_addresses, request_nodes
from accsim.core.errors import TraceFormatError
from accsim.core.files import write_atomic
from accsim.core.stats import Stats
from accsim.core.traces import Trace


@dataclass(frozen=True)
class TraceResult:
    stats: Stats
    commands: np.ndarray       # (cycle, command, node per level..., row, column) per issued command
    arrive: np.ndarray
    depart: np.ndarray


def simulate_trace(config: DramConfig, trace: Trace, max_log: int = 0) -> TraceResult:
    """Run a trace through the memory system: requests offered in order, at most one per cycle,
    none before its arrival cycle (timed and DRAMsim3 traces; untimed traces arrive at 0)."""
    from accsim.arch.dram import kernels as K   # numba loads only when a trace runs
    config.check()
    config.require_state_memory()
    fields = map_addresses(config, trace.addr)
    nodes = request_nodes(config, fields)
    rules = config.compiled_rules()
    c, t = config.controller, config.timing
    refresh_interval = int(t["nREFI"]) if c.refresh == "allbank" else 0
    refresh_level = config.levels().index(config.std.refresh_scope)
    args = (nodes, fields["row"], fields["column"], trace.is_write.astype(np.bool_),
            trace.addr.astype(np.int64), arrival_cycles(trace), config.level_sizes(),
            int(t["nCL"]) + int(t["nBL"]))
    if c.scheduler == "per_bank":
        from accsim.arch.dram.kernels_per_bank import simulate_trace_per_bank
        counters, arrive, depart, log = simulate_trace_per_bank(
            *args, c.read_queue, c.bank_queue, c.write_drain_threshold, refresh_interval,
            rules.ptr, rules.following, rules.latency, rules.window, rules.scope, max_log, c.dual_issue)
    else:
        counters, arrive, depart, log = K.simulate_trace(
            *args, c.read_queue, c.write_queue, c.write_high_watermark, c.write_low_watermark,
            c.row_policy == "closed", refresh_interval, refresh_level, rules.ptr, rules.following,
            rules.latency, rules.window, rules.scope, len(config.levels()) - 1, max_log)
    return TraceResult(Stats(_trace_stats(config, trace, counters, arrive, depart)), log, arrive, depart)


def arrival_cycles(trace: Trace) -> np.ndarray:
    """The cycle from which each request may be offered: the trace's cycles, which must not go
    backwards (requests are offered in trace order); untimed traces give zeros."""
    cycle = np.ascontiguousarray(trace.cycle, dtype=np.int64)
    if cycle.size and (cycle.min() < 0 or np.any(np.diff(cycle) < 0)):
        bad = int(np.argmax(np.diff(cycle) < 0)) + 1 if cycle.min() >= 0 else int(np.argmin(cycle))
        raise TraceFormatError(f"trace request {bad + 1}: arrival cycle {int(cycle[bad])} is "
                               f"{'negative' if cycle[bad] < 0 else 'before the previous request'}"
                               f"; timed traces must be sorted by cycle")
    return cycle


def _trace_stats(config: DramConfig, trace: Trace, counters: np.ndarray, arrive: np.ndarray,
                 depart: np.ndarray) -> dict[str, Any]:
    from accsim.arch.dram import kernels as K
    reads = ~trace.is_write
    served = reads & (depart - arrive > 1)
    latency = (depart - arrive)[served]
    # the peers' figure: when the last read's data returned; a write-only trace ends when its
    # last write issued
    total = int(counters[K.C_T_RD_DONE]) if reads.any() else int(counters[K.C_T_WR_DONE])
    seconds = total * config.tCK_ps * 1e-12
    moved = len(trace) * config.organization.tx_bytes
    commands = {name: int(counters[K.C_CMD0 + i]) for i, name in enumerate(config.std.commands)
                if counters[K.C_CMD0 + i]}
    simulated, active = int(counters[K.C_CYCLES]), int(counters[K.C_OPEN_CYCLES])
    energy = energy_stats(config, commands, simulated, active) if config.power.given else {}
    return {
        "standard": config.standard, "requests": len(trace), "reads": int(reads.sum()),
        "writes": int(trace.is_write.sum()), "total_cycles": total, "accept_cycles": int(counters[K.C_T_ACCEPT]),
        "writes_done_cycles": int(counters[K.C_T_WR_DONE]),
        "tCK_ps": config.tCK_ps, "total_s": seconds,
        "bandwidth_GBps": moved / seconds / 1e9 if seconds else 0.0,
        "row_hits": int(counters[K.C_ROW_HIT]), "row_misses": int(counters[K.C_ROW_MISS]),
        "row_conflicts": int(counters[K.C_ROW_CONFLICT]),
        "reads_forwarded": int(counters[K.C_FORWARDED]),
        "avg_read_latency_cycles": float(latency.mean()) if latency.size else 0.0,
        "p50_read_latency_cycles": float(np.percentile(latency, 50)) if latency.size else 0.0,
        "p99_read_latency_cycles": float(np.percentile(latency, 99)) if latency.size else 0.0,
        "max_read_latency_cycles": int(latency.max()) if latency.size else 0,
        "commands": commands, "events": int(counters[K.C_EVENTS]),
        "commands_not_logged": int(counters[K.C_LOG_DROPPED]),
        "simulated_cycles": simulated, "active_cycles": active, "energy": energy,
    }


def write_command_trace(path: str, config: DramConfig, commands: np.ndarray) -> None:
    """Issued commands as text, one per line: cycle, command, then the address fields by level
    name (local indices; -1 = all), row and column (-1 when the command has none)."""
    sizes = config.level_sizes()
    levels = config.levels()
    lines = ["# cycle, command, " + ", ".join(levels) + ", row, column"]
    for row in commands:
        fields = []
        for i in range(len(levels)):
            node = int(row[2 + i])
            fields.append(str(node % int(sizes[i]) if node >= 0 and i else node))
        lines.append(", ".join([str(int(row[0])), config.std.commands[int(row[1])], *fields,
                                str(int(row[2 + len(levels)])), str(int(row[3 + len(levels)]))]))
    write_atomic(path, "\n".join(lines) + "\n")
