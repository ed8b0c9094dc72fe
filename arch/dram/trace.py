"""Trace-driven DRAM simulation: a request trace through the per-channel controllers.

``simulate_trace(config, trace)`` runs the requests through the FR-FCFS controller of
``kernels.py`` (or the per-bank controller of ``kernels_per_bank.py``) and returns DRAM stats:
``total_cycles`` (the cycle the last read's data returned), bandwidth, row
hits/misses/conflicts, read latency (average and tail), command counts, and optionally the
issued command trace. ``simulate_trace_chunks`` gives the same results for a trace fed in
pieces (a file streamed by ``core.traces.iter_trace``), with memory flat in its length.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
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
    arrive: np.ndarray | None  # per request (in-memory traces; a streamed run keeps none)
    depart: np.ndarray | None


def simulate_trace(config: DramConfig, trace: Trace, max_log: int = 0) -> TraceResult:
    """Run a trace through the memory system: requests offered in order, at most one per cycle,
    none before its arrival cycle (timed and DRAMsim3 traces; untimed traces arrive at 0)."""
    run = TraceRun(config, max_log, keep_requests=True)
    run.feed(trace, last=True)
    return run.result()


def simulate_trace_chunks(config: DramConfig, chunks: Iterable[Trace], max_log: int = 0) -> TraceResult:
    """The same run over a trace given in consecutive chunks (a file read piece by piece): the
    results equal those of the whole trace at once, and memory follows the chunk size."""
    run = TraceRun(config, max_log)
    chunks = iter(chunks)
    chunk = next(chunks, None)
    if chunk is None:
        raise TraceFormatError("no requests: a trace needs at least one request line")
    for following in chunks:
        run.feed(chunk, last=False)
        chunk = following
    run.feed(chunk, last=True)
    return run.result()


@dataclass
class _Window:
    """The requests the controller may still touch: those in flight, then the new chunk's."""
    addr: np.ndarray
    is_write: np.ndarray
    cycle: np.ndarray
    arrive: np.ndarray
    depart: np.ndarray
    follower: np.ndarray       # per-bank controller: reads merged into a pending read

    def __len__(self) -> int:
        return int(self.addr.shape[0])

    def tail(self, first: int) -> "_Window":
        return _Window(*(np.ascontiguousarray(getattr(self, f.name)[first:]) for f in fields(self)))

    def then(self, new: "_Window") -> "_Window":
        return _Window(*(np.concatenate([getattr(self, f.name), getattr(new, f.name)]) for f in fields(self)))


class TraceRun:
    """One trace through the memory system, fed in chunks. Between chunks only the requests
    still in flight stay (renumbered from 0) and finished reads leave a count per latency, so
    memory is flat in trace length until the end, when the latency percentiles take an array
    of 4 bytes a read."""

    def __init__(self, config: DramConfig, max_log: int = 0, keep_requests: bool = False):
        from accsim.arch.dram import kernels as K   # numba loads only when a trace runs
        config.check()
        config.require_state_memory()
        self.config, self.max_log, self.keep_requests = config, max_log, keep_requests
        self.rules = config.compiled_rules()
        c, t = config.controller, config.timing
        self.refresh_interval = int(t["nREFI"]) if c.refresh == "allbank" else 0
        self.refresh_level = config.levels().index(config.std.refresh_scope)
        self.read_latency = int(t["nCL"]) + int(t["nBL"])
        self.per_bank = c.scheduler == "per_bank"
        sizes, n_cmd = config.level_sizes(), len(config.std.commands)
        if self.per_bank:
            from accsim.arch.dram.kernels_per_bank import per_bank_state
            self.state = per_bank_state(sizes, n_cmd, self.rules.window, c.read_queue, c.bank_queue, max_log)
        else:
            self.state = K.controller_state(sizes, n_cmd, self.rules.window, len(config.levels()) - 1,
                                            c.read_queue, c.write_queue, self.refresh_interval,
                                            self.refresh_level, max_log)
        self.window: _Window | None = None
        self.requests = self.reads = 0
        self.last_cycle = 0
        # read latencies of finished requests as (cycles, count) pairs: flat in trace length
        self.latency_values = np.zeros(0, np.int64)
        self.latency_counts = np.zeros(0, np.int64)
        self.done = False

    def feed(self, chunk: Trace, last: bool) -> None:
        """Offer the chunk's requests; after the last chunk, run until every read returned."""
        if self.done:
            raise RuntimeError("the trace run has ended: no chunk follows the last")
        if self.keep_requests and not last:
            raise RuntimeError("a run that keeps every request's cycles takes the trace in one chunk")
        window = self._requests(chunk)
        self.window = window if self.window is None else self.window.then(window)
        self.requests += len(chunk)
        self.reads += chunk.n_reads
        # a window that is not the last ends one request early: the controller looks one
        # request ahead (its arrival cycle) while the frontend waits
        stop_at = len(self.window) if last else len(self.window) - 1
        self._run(stop_at, self.requests - self.reads if last else 0)
        if last:
            self.done = True
            self._keep_latencies(len(self.window))
        else:
            self._slide()

    def _requests(self, chunk: Trace) -> _Window:
        cycle = arrival_cycles(chunk, self.requests, self.last_cycle)
        if cycle.size:
            self.last_cycle = int(cycle[-1])
        n = len(chunk)
        return _Window(np.ascontiguousarray(chunk.addr, dtype=np.int64), chunk.is_write.astype(np.bool_),
                       cycle, np.full(n, -1, np.int64), np.full(n, -1, np.int64), np.full(n, -1, np.int64))

    def _run(self, stop_at: int, n_writes: int) -> None:
        from accsim.arch.dram import kernels as K
        c, w, r = self.config.controller, self.window, self.rules
        # the address fields of the window's requests (mapped per window: they are 7 words a
        # request, the window itself 4 and a flag)
        addr_fields = map_addresses(self.config, w.addr)
        requests = (request_nodes(self.config, addr_fields), addr_fields["row"], addr_fields["column"],
                    w.is_write, w.addr, w.cycle, w.arrive, w.depart)
        del addr_fields
        if self.per_bank:
            from accsim.arch.dram.kernels_per_bank import simulate_trace_per_bank
            simulate_trace_per_bank(self.state, *requests, w.follower, stop_at, self.reads,
                                    self.config.level_sizes(), self.read_latency, c.read_queue,
                                    c.bank_queue, c.write_drain_threshold, self.refresh_interval, r.ptr,
                                    r.following, r.latency, r.window, r.scope, self.max_log, c.dual_issue)
        else:
            K.simulate_trace(self.state, *requests, stop_at, self.reads, n_writes,
                             self.config.level_sizes(), self.read_latency, c.read_queue, c.write_queue,
                             c.write_high_watermark, c.write_low_watermark, c.row_policy == "closed",
                             self.refresh_interval, self.refresh_level, r.ptr, r.following, r.latency,
                             r.window, r.scope, len(self.config.levels()) - 1, self.max_log)

    def _slide(self) -> None:
        """Drop the finished requests: keep the window from the oldest still in flight on."""
        from accsim.arch.dram import kernels as K
        live = self._live_requests()
        sent = int(self.state.scalars[K.S_SENT])
        first = min(int(live.min()) if live.size else sent, sent)
        if first == 0:
            return
        self._keep_latencies(first)
        self.window = self.window.tail(first)
        self.window.follower[self.window.follower >= 0] -= first
        self._renumber(first)

    def _live_requests(self) -> np.ndarray:
        """Window indices the controller's queues still hold."""
        from accsim.arch.dram import kernels as K
        s = self.state
        if self.per_bank:
            parts = [s.rq[c, :s.rq_len[c]] for c in range(s.rq.shape[0])] + \
                    [s.wb[c, :s.wb_len[c]] for c in range(s.wb.shape[0])] + \
                    [s.bq[b, :s.bq_len[b]] for b in np.flatnonzero(s.bq_len)]
        else:
            parts = [s.pool[c, s.order[c, q, :s.qlen[c, q]], K.F_REQ]
                     for c in range(s.pool.shape[0]) for q in range(3)]
            parts += [s.pend[c, (s.pend_head[c] + np.arange(s.pend_len[c])) % s.pend.shape[1]]
                      for c in range(s.pend.shape[0])]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def _renumber(self, first: int) -> None:
        """Request indices in the controller's state, moved down by ``first``."""
        from accsim.arch.dram import kernels as K
        s = self.state
        if self.per_bank:
            for queue in (s.rq, s.wb, s.bq):        # unused slots too: they are never read
                queue -= first
        else:
            s.pool[:, :, K.F_REQ] -= first          # free pool entries are never read
            s.pend[:] -= first                      # the ring's unused slots too
        s.scalars[K.S_SENT] -= first

    def _keep_latencies(self, first: int) -> None:
        """Count the read latencies (cycles) of the window's first ``first`` requests, all finished."""
        w = self.window
        latency = w.depart[:first] - w.arrive[:first]
        new_values, new_counts = np.unique(latency[~w.is_write[:first] & (latency > 1)], return_counts=True)
        values, where = np.unique(np.concatenate([self.latency_values, new_values]), return_inverse=True)
        counts = np.zeros(values.size, np.int64)
        np.add.at(counts, where, np.concatenate([self.latency_counts, new_counts]))
        self.latency_values, self.latency_counts = values, counts

    def _latencies(self) -> np.ndarray:
        """Every read latency, sorted (4 bytes each while they fit: the run's one array that
        grows with the trace)."""
        fits = not self.latency_values.size or self.latency_values[-1] < np.iinfo(np.int32).max
        values = self.latency_values.astype(np.int32) if fits else self.latency_values
        return np.repeat(values, self.latency_counts)

    def result(self) -> TraceResult:
        from accsim.arch.dram import kernels as K
        if not self.done:
            raise RuntimeError("the trace run has not been given its last chunk")
        counters, log = self.state.counters, self.state.log
        stats = _trace_stats(self.config, self.requests, self.reads, counters, self._latencies())
        commands = log[:int(self.state.scalars[K.S_LOG])]
        w = self.window
        return TraceResult(Stats(stats), commands, w.arrive if self.keep_requests else None,
                           w.depart if self.keep_requests else None)


def arrival_cycles(trace: Trace, first_request: int = 0, previous_cycle: int = 0) -> np.ndarray:
    """The cycle from which each request may be offered: the trace's cycles, which must not go
    backwards (requests are offered in trace order); untimed traces give zeros.
    ``first_request`` and ``previous_cycle`` place a chunk in its trace."""
    cycle = np.ascontiguousarray(trace.cycle, dtype=np.int64)
    steps = np.diff(cycle, prepend=previous_cycle)
    if cycle.size and (cycle.min() < 0 or np.any(steps < 0)):
        bad = int(np.argmax(steps < 0)) if cycle.min() >= 0 else int(np.argmin(cycle))
        raise TraceFormatError(f"trace request {first_request + bad + 1}: arrival cycle {int(cycle[bad])} is "
                               f"{'negative' if cycle[bad] < 0 else 'before the previous request'}"
                               f"; timed traces must be sorted by cycle")
    return cycle


def _trace_stats(config: DramConfig, requests: int, reads: int, counters: np.ndarray,
                 latency: np.ndarray) -> dict[str, Any]:
    from accsim.arch.dram import kernels as K
    writes = requests - reads
    # the peers' figure: when the last read's data returned; a write-only trace ends when its
    # last write issued
    total = int(counters[K.C_T_RD_DONE]) if reads else int(counters[K.C_T_WR_DONE])
    seconds = total * config.tCK_ps * 1e-12
    moved = requests * config.organization.tx_bytes
    commands = {name: int(counters[K.C_CMD0 + i]) for i, name in enumerate(config.std.commands)
                if counters[K.C_CMD0 + i]}
    simulated, active = int(counters[K.C_CYCLES]), int(counters[K.C_OPEN_CYCLES])
    energy = energy_stats(config, commands, simulated, active) if config.power.given else {}
    return {
        "standard": config.standard, "requests": requests, "reads": reads,
        "writes": writes, "total_cycles": total, "accept_cycles": int(counters[K.C_T_ACCEPT]),
        "writes_done_cycles": int(counters[K.C_T_WR_DONE]),
        "tCK_ps": config.tCK_ps, "total_s": seconds,
        "bandwidth_GBps": moved / seconds / 1e9 if seconds else 0.0,
        "row_hits": int(counters[K.C_ROW_HIT]), "row_misses": int(counters[K.C_ROW_MISS]),
        "row_conflicts": int(counters[K.C_ROW_CONFLICT]),
        "reads_forwarded": int(counters[K.C_FORWARDED]),
        "avg_read_latency_cycles": float(latency.mean()) if latency.size else 0.0,
        # percentiles partition the array in place (no copy): they read order statistics only
        "p50_read_latency_cycles": float(np.percentile(latency, 50, overwrite_input=True)) if latency.size else 0.0,
        "p99_read_latency_cycles": float(np.percentile(latency, 99, overwrite_input=True)) if latency.size else 0.0,
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
