"""The npu family's model: an npu Program (one row per kernel) + NpuSpec -> per-step stats.

Each kernel is expanded into its tile task graph (arch/npu/tiles.py) and run cycle by cycle on
the shared task-graph engine; compute kernels run one after another on the die's cores, with
a launch overhead each, and collectives on its network port. A compute kernel's cycles depend
only on the kernel and the spec (every kernel starts on drained cores), so identical kernels,
such as the same projection in every decoder layer, are simulated once and their result
reused: exact, not an approximation (tests compare against simulating each kernel afresh).
With several microbatches, a collective of one overlaps compute of another; the HBM traffic
of the collective itself is not charged against the overlapped compute kernel. With the cores
split between an attention and an MoE stream, the two streams' kernels run at the same time and
share the die's HBM as they run (accsim.core.engine.run_shared_bandwidth: each kernel's standalone
time and HBM bytes on its stream's cores, the bandwidth divided max-min fairly while they
overlap), so a stream running alone has all of it; L2 bandwidth is not shared (each stream
sees all of it).

Energy: every die draws idle power for the whole step, plus (TDP - idle) scaled by the busier
of the cube array and HBM in each kernel (an activity-based estimate; see the preset's sources).
"""
from __future__ import annotations

import math

import numpy as np

from accsim.arch.npu import tiles as T
from accsim.arch.npu.spec import NpuSpec
from accsim.core.power import activity_energy_J
from accsim.core.program import Program
from accsim.core.stats import STALL, Schedule, StepStats, step_stats


def _kernels(program: Program) -> list:
    return [T.kernel_of_row(program.columns, i) for i in range(program.n_tasks)]


def _unit_specs(spec: NpuSpec, program: Program) -> list[NpuSpec]:
    """The die as each task's unit sees it (a stream's cores when the cores are split between
    an attention and an MoE stream)."""
    per_unit = [spec.stream_spec(T.UNIT_STREAMS[u]) for u in program.units]
    return [per_unit[u] for u in program.column("unit")]


def _results(spec: NpuSpec, program: Program) -> tuple[list, list[T.KernelResult]]:
    specs = _unit_specs(spec, program)
    return specs, [T.simulate_kernel(s, k) for s, k in zip(specs, _kernels(program))]


def launch_cycles(spec: NpuSpec) -> int:
    return math.ceil(spec.system.kernel_launch_us * 1e-6 * spec.clock_hz)


def schedule(spec: NpuSpec, program: Program) -> Schedule:
    """Start/finish cycle of every kernel: compute kernels one at a time on the die's cores,
    collectives one at a time on its network port, each after the kernels it depends on (one
    chain per microbatch; with one microbatch, every kernel after the previous one drains)."""
    return _schedule(spec, program, *_results(spec, program))


def _schedule(spec: NpuSpec, program: Program, specs: list[NpuSpec],
              results: list[T.KernelResult]) -> Schedule:
    from accsim.core.engine import run_shared_bandwidth, run_task_graph
    launch = launch_cycles(spec)
    cycles = np.array([r.cycles for r in results], np.int64)
    succ_ptr, succ_idx = program.successors()
    lanes = np.ones(len(program.units), np.int64)
    unit = program.column("unit")
    if spec.parallel.stream_cores:
        # the streams' kernels contend for HBM while they overlap; collectives ask nothing of it
        collective = unit == program.units.index("link")
        hbm = np.array([r.hbm_bytes for r in results], np.float64)
        demand = np.where(collective | (cycles == 0), 0.0, hbm / np.maximum(cycles, 1))
        start, finish = run_shared_bandwidth(
            program.dep_ptr, program.dep_idx, succ_ptr, succ_idx, unit, len(program.units),
            np.full(cycles.size, float(launch)), cycles.astype(np.float64), demand,
            spec.hbm_GBps * 1e9 / spec.clock_hz)
        busy = finish - start
    else:
        busy = cycles + launch
        start, finish, _ = run_task_graph(program.dep_ptr, program.dep_idx, succ_ptr, succ_idx,
                                          unit, busy, np.zeros_like(busy), lanes)
    active = np.array([_active_cycles(s, r) for s, r in zip(specs, results)], np.int64)
    return Schedule(start, finish, busy, active, lanes, spec.clock_hz)


def _active_cycles(spec: NpuSpec, r: T.KernelResult) -> int:
    cube = r.unit_busy[T.CUBE] / spec.cores
    return int(min(r.cycles, max(cube, r.unit_busy[T.HBM])))


def _by_op_kind(program: Program, sched: Schedule, launch: int, hz: float) -> dict:
    """Exposed time per op kind, summing exactly to the makespan: each kernel's exposed part
    (engine.attribute_makespan) counts first as launch overhead, then as the kernel's own;
    gaps in which nothing ran count as stall (with microbatches, work waiting on the other
    stream)."""
    from accsim.core.engine import attribute_makespan
    exposed, stall = attribute_makespan(sched.start, sched.finish)
    launch_part = np.minimum(exposed, launch)
    kinds = program.column("kind")
    by_kind: dict[str, dict] = {}
    for i in range(program.n_tasks):
        k = by_kind.setdefault(program.kinds[kinds[i]], {"exposed_s": 0.0, "busy_s": 0.0, "kernels": 0})
        k["exposed_s"] += float(exposed[i] - launch_part[i]) / hz
        k["busy_s"] += float(sched.busy[i] - launch) / hz
        k["kernels"] += 1
    if launch and program.n_tasks:
        # task dispatch and end-of-kernel synchronisation, between kernels
        by_kind["kernel_launch"] = {"exposed_s": float(launch_part.sum()) / hz,
                                    "busy_s": launch * program.n_tasks / hz, "kernels": 0}
    if stall.sum():
        by_kind[STALL] = {"exposed_s": float(stall.sum()) / hz, "busy_s": 0.0, "kernels": 0}
    return by_kind


def simulate(spec: NpuSpec, program: Program) -> StepStats:
    """Simulate one step (one die; all dies run the same share in parallel)."""
    kernels = _kernels(program)
    specs, results = _results(spec, program)
    sched = _schedule(spec, program, specs, results)
    hz = spec.clock_hz
    makespan = int(sched.finish.max()) if sched.finish.size else 0
    by_kind = _by_op_kind(program, sched, launch_cycles(spec), hz)
    lanes = T.unit_lanes(spec)
    unit_busy = np.sum([r.unit_busy for r in results], axis=0) if results else np.zeros(len(T.UNITS))
    by_unit = {u: {"busy_s": float(unit_busy[i]) / hz / lanes[i],
                   "util_pct": 100.0 * unit_busy[i] / (lanes[i] * makespan) if makespan else 0.0}
               for i, u in enumerate(T.UNITS) if u != "onchip"}
    latency_s = makespan / hz
    active_s = float(sched.active.sum()) / hz
    dies = spec.dies
    energy_J = activity_energy_J(spec.power, dies, latency_s, active_s)
    flops = float(program.column("flops").sum())
    peak_flops = 2.0 * spec.macs_per_cycle(program.meta["matmul_dtype"]) * spec.cores * hz
    return step_stats(
        latency_cycles=makespan, clock_hz=hz, energy_J=energy_J, by_op_kind=by_kind, by_unit=by_unit,
        offchip_bytes=dies * int(sum(r.hbm_bytes + r.link_bytes for r in results)),
        **{"kernels": len(results), "kernels_simulated": len(set(kernels)),
        "tile_tasks": int(sum(r.tasks for r in results)),
        "flops_per_die": flops, "cube_util_pct": 100.0 * flops / (peak_flops * latency_s) if latency_s else 0.0,
        "hbm_bytes_per_die": int(sum(r.hbm_bytes for r in results)),
        "l2_bytes_per_die": int(sum(r.l2_bytes for r in results)),
        "link_bytes_per_die": int(sum(r.link_bytes for r in results)),
        "dies": dies, "chips": spec.system.chips, "microbatches": int(program.meta.get("microbatches", 1)),
        "tiling_search": dict(program.meta.get("tiling_search", {}))})
