"""The gpu family's model: a gpu Program + GpuSpec -> per-step stats.

Device time per task comes from the roofline kernel; the shared task-graph executor then
overlaps the host's launches, the device stream, the host link and the interconnect, so a
launch-bound step (batch-1 eager decode) and a bandwidth-bound step come out of one schedule.
Energy: every device draws idle power for the whole step, plus (TDP - idle) for the cycles in
which a roofline bound is active (compute, memory or link busy).
"""
from __future__ import annotations

import numpy as np

from accsim.arch.gpu import kernels
from accsim.arch.gpu.spec import EXECUTION_MODELS, GpuSpec
from accsim.core.engine import run_task_graph
from accsim.core.errors import ConfigError
from accsim.core.power import activity_energy_J
from accsim.core.program import Program
from accsim.core.stats import Schedule, StepStats, schedule_breakdown, step_stats


def device_rates(spec: GpuSpec, dtype: str) -> dict[str, float]:
    """Per-cycle rates at the simulation clock, after efficiencies, for the number format the
    device really runs ``dtype`` in (``compute.executes``)."""
    dtype = spec.compute.executed(dtype)
    if dtype not in spec.compute.peak_TFLOPS:
        raise ConfigError([f"compute.peak_TFLOPS: no peak for dtype '{dtype}' on this device; "
                           f"known: {', '.join(spec.compute.peak_TFLOPS)}"])
    hz = spec.clock_hz
    us = hz * 1e-6
    host_us = us / spec.framework.host_speed     # cycles per microsecond of host time
    return {
        "flops_per_cycle": spec.compute.peak_TFLOPS[dtype] * 1e12 * spec.compute.efficiency / hz,
        "mem_bytes_per_cycle": spec.memory.bandwidth_GBps * 1e9 * spec.memory.efficiency / hz,
        "mem_latency_cycles": spec.memory.latency_ns * 1e-3 * us,
        "min_kernel_cycles": spec.framework.min_kernel_us * us,
        "launch_cycles": spec.framework.launch_overhead_us * host_us,
        "graph_launch_cycles": spec.framework.graph_launch_us * host_us,
        "host_bytes_per_cycle": spec.host_link.bandwidth_GBps * 1e9 * spec.host_link.efficiency / hz,
        "host_latency_cycles": spec.host_link.latency_us * us,
        "ic_bytes_per_cycle": spec.interconnect.bandwidth_GBps * 1e9 * spec.interconnect.efficiency / hz,
        "ic_latency_cycles": spec.interconnect.latency_us * us,
        "host_cycles_per_us": host_us,
    }


def schedule(spec: GpuSpec, program: Program) -> Schedule:
    """Start/finish cycle of every task of a gpu Program."""
    rates = device_rates(spec, program.meta["dtype"])
    c = program.columns
    busy, active = kernels.task_busy_cycles(
        c["task_class"], c["flops"], c["mem_bytes"], c["link_bytes"], c["n_kernels"], c["group"],
        c["compute_util"], c["host_us"], **rates)
    succ_ptr, succ_idx = program.successors()
    lanes = np.ones(len(program.units), dtype=np.int64)
    start, finish, _ = run_task_graph(program.dep_ptr, program.dep_idx, succ_ptr, succ_idx,
                                      c["unit"], busy, np.zeros_like(busy), lanes)
    return Schedule(start, finish, busy, active, lanes, spec.clock_hz)


def simulate(spec: GpuSpec, program: Program) -> StepStats:
    """Schedule one step of a gpu Program and return its stats."""
    sched = schedule(spec, program)
    start, finish, busy, active, lanes = sched.start, sched.finish, sched.busy, sched.active, sched.lanes
    c = program.columns
    makespan_s = (int(finish.max()) if finish.size else 0) / spec.clock_hz
    active_s = float(active.sum()) / spec.clock_hz
    energy_J = activity_energy_J(spec.power, spec.devices, makespan_s, active_s)
    return step_stats(**schedule_breakdown(program, start, finish, busy, spec.clock_hz, lanes),
                      energy_J=energy_J, flops=float(c["flops"].sum()) * spec.devices,
                      device_bytes=int(c["mem_bytes"].sum()) * spec.devices,
                      offchip_bytes=int(c["mem_bytes"].sum() + c["link_bytes"].sum()) * spec.devices,
                      execution_model=EXECUTION_MODELS[program.meta["mode"]])
