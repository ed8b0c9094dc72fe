"""The rdu family's model: an rdu Program (sections of pipelined stage tasks) + RduSpec -> stats.

Contract: ``simulate(spec, program)`` is pure and deterministic. Sections run one at a time,
in program order; each pays its launch (software orchestration: host calls for argument load
and launch, plus one for program load when its program differs from the previous section's;
hardware orchestration: the AGCU sequencer's start-up) and, when its program changes, the
transfer of its configuration from HBM. Inside a section every task runs on the shared
task-graph engine, cycle by cycle from event to event: a stage's steps one after another on
its PCUs, loads and stores sharing their tier's bandwidth FIFO (so a tier that cannot keep up
back-pressures the pipeline through the buffer credits), collective steps on the peer link.
A section's cycles depend only on its tasks (it starts on a drained socket), so identical
sections (the next decoder layer) are simulated once and reused: exact, as a test checks.

``by_op_kind``: launch and program load as their own kinds; a section's pipeline time split
over the op kinds of its stages in proportion to their tasks' busy cycles (in a pipeline every
stage runs at once; the split says where the work was). Energy: idle power for the step plus
(TDP - idle) for the cycles in which the PCUs or HBM were busy (the busier of the two).
``model_tiers``: where a composition of experts keeps its models (HBM, DDR) and the simulated
DDR -> HBM copy that switches them.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from accsim.arch.rdu.ir import AGCU, D2D, DDR, HBM, KINDS, LAUNCH_KIND, LINK, PCU, UNITS
from accsim.arch.rdu.spec import RduSpec
from accsim.arch.rdu.tiers import tier_rates
from accsim.core.capacity import GIB
from accsim.core.power import activity_energy_J
from accsim.core.program import Program
from accsim.core.registry import ModelTiers
from accsim.core.stats import Schedule, StepStats, step_stats


def task_cycles(spec: RduSpec, cols) -> tuple[np.ndarray, np.ndarray]:
    """(busy, latency) cycles of every task, from the spec: compute on the stage's PCUs (the
    largest of systolic, SIMD, tail and PMU-port time), transfers at their tier's rate."""
    from accsim.core.engine.collectives import choose_all_reduce, collective_wire_many
    p, rates = spec.pcu, tier_rates(spec)
    unit = cols["unit"]
    pcus = np.maximum(cols["pcus"], 1).astype(np.int64)
    m, k, n = cols["m"], cols["k"], cols["n"]
    systolic = -(-(m * -(-k // p.stages) * -(-n // p.lanes)) // pcus)
    simd = -(-cols["simd_elems"] // (p.lanes * pcus)) * np.ceil(cols["simd_ops"] / p.stages).astype(np.int64)
    tail = -(-cols["tail_ops"] // (p.tail_ops_per_cycle * pcus))
    port = -(-cols["pmu_bytes"] // (np.maximum(cols["pmus"], 1) * spec.pmu.port_bytes_per_cycle))
    compute = np.maximum.reduce([systolic, simd, tail, port, np.ones_like(systolic)])
    hop = spec.rdn.hops * spec.rdn.hop_latency_cycles
    compute_latency = p.pipeline_cycles + hop + -(-cols["out_bytes"] // (pcus * spec.rdn.hop_bytes_per_cycle))
    rate = np.where(cols["random"], rates.random_bytes_per_cycle[unit], rates.bytes_per_cycle[unit])
    moved = np.where(cols["bytes"] > 0, np.ceil(cols["bytes"] / np.maximum(rate, 1e-12)), 0).astype(np.int64)
    busy = np.zeros(unit.shape[0], np.int64)
    latency = np.zeros(unit.shape[0], np.int64)
    on_pcu = unit == PCU
    busy[on_pcu], latency[on_pcu] = compute[on_pcu], compute_latency[on_pcu]
    for tier in (HBM, DDR):
        on = unit == tier
        busy[on] = moved[on]
        # a read's data arrives the tier's latency after it streams; a write is posted
        latency[on & ~cols["store"]] = int(rates.latency_cycles[tier])
    on_d2d = unit == D2D
    busy[on_d2d], latency[on_d2d] = moved[on_d2d], int(rates.latency_cycles[D2D])
    on_link = unit == LINK
    payload = cols["out_bytes"][on_link].astype(np.float64)
    codes = choose_all_reduce(cols["link_code"][on_link], payload, cols["group"][on_link],
                              rates.bytes_per_cycle[LINK], int(rates.latency_cycles[LINK]), spec.system.all_reduce)
    wire, steps = collective_wire_many(codes, payload, cols["group"][on_link])
    busy[on_link] = np.ceil(wire / rates.bytes_per_cycle[LINK]).astype(np.int64)
    latency[on_link] = steps * int(rates.latency_cycles[LINK])
    return busy, latency


@dataclass(frozen=True)
class SectionRun:
    start: np.ndarray     # per task, from the section's first cycle after its launch
    finish: np.ndarray
    busy: np.ndarray
    makespan: int


def run_section(spec: RduSpec, cols, dep_ptr: np.ndarray, dep_idx: np.ndarray) -> SectionRun:
    """One section's tasks on the task-graph engine: each stage is a unit of one lane (its
    steps in order); each tier, the peer link and each die's die-to-die port one FIFO unit at
    its bandwidth."""
    from accsim.core.engine import run_task_graph
    from accsim.core.program import successors_csr
    busy, latency = task_cycles(spec, cols)
    unit = cols["unit"]
    n_stages = int(cols["stage"].max()) + 1 if unit.shape[0] else 1
    # local units: agcu, hbm, ddr, link, the dies' d2d ports, then one per stage
    ports = spec.die.count
    local = np.select([unit == AGCU, unit == HBM, unit == DDR, unit == LINK, unit == D2D],
                      [0, 1, 2, 3, 4 + cols["die"]], 4 + ports + cols["stage"]).astype(np.int32)
    lanes = np.ones(4 + ports + n_stages, np.int64)
    succ_ptr, succ_idx = successors_csr(dep_ptr, dep_idx)
    start, finish, _ = run_task_graph(dep_ptr, dep_idx, succ_ptr, succ_idx, local, busy, latency, lanes)
    return SectionRun(start, finish, busy, int(finish.max()) if finish.size else 0)


def section_cycles(spec: RduSpec, cols, dep_ptr: np.ndarray, dep_idx: np.ndarray) -> int:
    """Cycles of one section's pipeline (the mapper's cycle-level evaluator)."""
    return run_section(spec, cols, dep_ptr, dep_idx).makespan


COPY_CHUNK_BYTES = 1 << 20    # one DMA descriptor's worth


def copy_cycles(spec: RduSpec, nbytes: float, src: int = DDR, dst: int = HBM) -> int:
    """Cycles of a DMA copy of ``nbytes`` between two tiers of one socket, on the task-graph
    engine: chunks read from ``src`` and written to ``dst`` through two staging buffers (a
    chunk's read waits until the chunk two back has been written)."""
    from accsim.arch.rdu.ir import COLUMNS
    chunks = max(1, math.ceil(nbytes / COPY_CHUNK_BYTES))
    n = 2 * chunks
    cols = {name: np.zeros(n, dt) for name, dt in COLUMNS.items()}
    cols["unit"] = np.tile(np.array([src, dst], np.int32), chunks)
    cols["store"][1::2] = True
    sizes = np.full(chunks, COPY_CHUNK_BYTES, np.int64)
    sizes[-1] = int(nbytes) - COPY_CHUNK_BYTES * (chunks - 1)
    cols["bytes"][0::2] = cols["bytes"][1::2] = sizes
    deps = [[] if t == 0 else ([t - 1] if t % 2 else ([t - 3] if t >= 4 else [])) for t in range(n)]
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum([len(d) for d in deps], out=ptr[1:])
    idx = np.array([x for d in deps for x in d], np.int32)
    return run_section(spec, cols, ptr, idx).makespan


def launch_cycles(spec: RduSpec, config_units: int, new_program: bool) -> tuple[int, int]:
    """(launch, program load) cycles of one kernel call."""
    rt, hz = spec.runtime, spec.clock_hz
    rates = tier_rates(spec)
    load = math.ceil(config_units * rt.config_bytes_per_unit / rates.bytes_per_cycle[HBM]) if new_program else 0
    if rt.orchestration == "software":
        calls = 2 + (1 if new_program else 0)      # (program load), argument load, launch
        return math.ceil(calls * rt.host_call_us * 1e-6 * hz), load
    args = math.ceil(rt.argument_bytes / rates.bytes_per_cycle[HBM]) + int(rates.latency_cycles[HBM])
    return rt.agcu_launch_cycles + args, load


def _sections(program: Program) -> list[tuple[int, int]]:
    sec = program.column("section")
    bounds = np.flatnonzero(np.diff(sec)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [sec.shape[0]]))
    return list(zip(starts.tolist(), ends.tolist()))


def _local(program: Program, lo: int, hi: int) -> tuple[dict, np.ndarray, np.ndarray]:
    cols = {k: v[lo:hi] for k, v in program.columns.items()}
    ptr = program.dep_ptr[lo:hi + 1] - program.dep_ptr[lo]
    idx = program.dep_idx[program.dep_ptr[lo]:program.dep_ptr[hi]] - lo
    return cols, ptr, idx


def _key(cols: dict, ptr: np.ndarray, idx: np.ndarray) -> str:
    """Content of a section apart from its op names and number: equal keys, equal cycles."""
    h = hashlib.sha256()
    for name in sorted(cols):
        if name not in ("op", "section"):
            h.update(name.encode())
            h.update(np.ascontiguousarray(cols[name]).tobytes())
    h.update(ptr.tobytes())
    h.update(idx.tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class _Timeline:
    sections: list            # (lo, hi, begin cycle, launch, program load, SectionRun)
    makespan: int
    simulated: int


def _timeline(spec: RduSpec, program: Program, reuse: bool = True) -> _Timeline:
    runs: dict[str, SectionRun] = {}
    out, now, previous = [], 0, None
    for lo, hi in _sections(program):
        cols, ptr, idx = _local(program, lo, hi)
        key = _key(cols, ptr, idx) if reuse else str(lo)
        if key not in runs:
            runs[key] = run_section(spec, cols, ptr, idx)
        pid = int(cols["program_id"][0])
        launch, load = launch_cycles(spec, int(cols["config_units"][0]), pid != previous)
        previous = pid
        out.append((lo, hi, now, launch, load, runs[key]))
        now += launch + load + runs[key].makespan
    return _Timeline(out, now, len(runs))


def schedule(spec: RduSpec, program: Program) -> Schedule:
    """Start/finish cycle of every task on the step's timeline."""
    tl = _timeline(spec, program)
    n = program.n_tasks
    start, finish, busy = (np.zeros(n, np.int64) for _ in range(3))
    for lo, hi, begin, launch, load, run in tl.sections:
        offset = begin + launch + load
        start[lo:hi], finish[lo:hi], busy[lo:hi] = run.start + offset, run.finish + offset, run.busy
        start[lo], finish[lo], busy[lo] = begin, offset, launch + load
    lanes = np.ones(len(UNITS), np.int64)
    return Schedule(start, finish, busy, busy.copy(), lanes, spec.clock_hz)


def simulate(spec: RduSpec, program: Program, reuse: bool = True) -> StepStats:
    """Simulate one step on one socket (every socket runs the same share in parallel);
    ``reuse=False`` simulates every section afresh (the reuse check)."""
    tl = _timeline(spec, program, reuse)
    hz = spec.clock_hz
    kinds, units = program.column("kind"), program.column("unit")
    exposed = np.zeros(len(KINDS))
    unit_busy = np.zeros(len(UNITS))
    active_cycles = 0
    for lo, hi, _begin, launch, load, run in tl.sections:
        k, u, busy = kinds[lo:hi], units[lo:hi], run.busy.astype(float)
        weight = np.bincount(k, weights=busy, minlength=len(KINDS))
        weight[LAUNCH_KIND] = 0.0
        if weight.sum() > 0:
            exposed += run.makespan * weight / weight.sum()
        exposed[LAUNCH_KIND] += launch
        pcu_cycles = float(np.sum(busy[u == PCU] * program.column("pcus")[lo:hi][u == PCU])) / spec.pcu.count
        per_unit = np.bincount(u, weights=busy, minlength=len(UNITS))
        per_unit[PCU] = pcu_cycles
        per_unit[AGCU] = launch + load
        unit_busy += per_unit
        active_cycles += min(run.makespan, max(pcu_cycles, per_unit[HBM]))
    load_cycles = sum(s[4] for s in tl.sections)
    by_kind = {KINDS[i]: {"exposed_s": float(exposed[i]) / hz} for i in range(len(KINDS)) if exposed[i]}
    if load_cycles:
        by_kind["program_load"] = {"exposed_s": load_cycles / hz}
    latency_s = tl.makespan / hz
    by_unit = {UNITS[i]: {"busy_s": float(unit_busy[i]) / hz,
                          "util_pct": 100.0 * unit_busy[i] / tl.makespan if tl.makespan else 0.0}
               for i in range(len(UNITS))}
    # every hop of the (one) timeline sums exactly: rescale the float split onto the latency
    total = sum(v["exposed_s"] for v in by_kind.values())
    if total:
        for v in by_kind.values():
            v["exposed_s"] *= latency_s / total
    rates = tier_rates(spec)
    nbytes = program.column("bytes")
    hbm_bytes = int(nbytes[units == HBM].sum())
    flops = float(program.column("flops").sum())
    peak_flops = 2.0 * spec.macs_per_cycle * spec.pcu.count * hz
    sockets = spec.system.sockets
    return step_stats(
        latency_cycles=tl.makespan, clock_hz=hz,
        energy_J=activity_energy_J(spec.power, sockets, latency_s, active_cycles / hz),
        by_op_kind=by_kind, by_unit=by_unit,
        offchip_bytes=sockets * (hbm_bytes + int(nbytes[units == DDR].sum())
                                 + int(program.column("out_bytes")[units == LINK].sum())),
        kernel_calls=len(tl.sections), sections_simulated=tl.simulated,
        tasks=program.n_tasks, sockets=sockets,
        fusion=str(program.meta.get("fusion", "")), orchestration=spec.runtime.orchestration,
        flops_per_socket=flops, pcu_util_pct=100.0 * flops / (peak_flops * latency_s) if latency_s else 0.0,
        hbm_bytes_per_socket=hbm_bytes, ddr_bytes_per_socket=int(nbytes[units == DDR].sum()),
        link_bytes_per_socket=int(program.column("out_bytes")[units == LINK].sum()),
        hbm_bandwidth_share_pct=100.0 * hbm_bytes / (latency_s * rates.peak_GBps[HBM] * 1e9) if latency_s else 0.0,
        placement=dict(program.meta.get("placement", {})),
        section_search=dict(program.meta.get("section_search", {})))


def model_tiers(spec: RduSpec):
    """Models run from HBM; inactive models wait in DDR; a switch copies a model's shards
    DDR -> HBM on every socket at once, a DMA copy simulated on the task-graph engine."""
    sockets = spec.system.sockets

    def switch_s(nbytes: float) -> float:
        return copy_cycles(spec, nbytes / sockets) / spec.clock_hz

    return ModelTiers(fast_bytes=spec.hbm.capacity_GiB * GIB * sockets,
                      slow_bytes=spec.ddr.capacity_GiB * GIB * sockets, switch_s=switch_s,
                      fast_field="hbm.capacity_GiB", slow_field="ddr.capacity_GiB", slow_name="DDR",
                      copy_path=f"DDR -> HBM DMA on {sockets} socket(s)")
