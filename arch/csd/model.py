"""The csd family's model: a csd Program + CsdSpec -> per-step stats, on one event timeline.

Contract: ``simulate(spec, program)`` is pure and deterministic; ``by_op_kind`` exposed times
sum to the step latency. GPU tasks take the gpu family's roofline times (its device rates);
a drive's flash reads and writes hold its flash array at the rate the flash component's
cycle-level model sustains for a page stream (characterised once, at the engine's queue depth),
plus its idle latency; the engine's GeMV, softmax and filter units run in parallel, each kind
at its per-unit rate times its unit count, the slowest kind setting a chunk's time (the others
pipeline behind it); peer-to-peer and SSD transfers hold their links. All of it runs on the shared task-graph engine, so GPU layers of
one microbatch overlap another's in-storage attention, and a drive's flash reads overlap its
engine, as far as the dependencies allow. Energy: the GPU's activity-based board power (the
drives' and the host's power are not modelled).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from accsim.arch.csd.ir import ENGINE, FLASH_READ, FLASH_WRITE, HOST_CPU, P2P, SSD_READ
from accsim.arch.csd.spec import CsdSpec
from accsim.core.power import activity_energy_J
from accsim.core.program import Program
from accsim.core.stats import Schedule, StepStats, schedule_breakdown, step_stats


@dataclass(frozen=True)
class StorageRates:
    """Bytes (or work) per timeline cycle and latencies in timeline cycles."""

    flash_read: float
    flash_write: float
    flash_latency: int
    p2p: float
    p2p_latency: int
    ssd: float
    ssd_latency: int
    engine_cycle_ratio: float     # timeline cycles per engine cycle


@lru_cache(maxsize=32)
def storage_rates(spec: CsdSpec) -> StorageRates:
    from accsim.arch.flash.service import characterise
    from accsim.core.presets import preset_spec
    hz = spec.clock_hz
    per_cycle = lambda GBps: GBps * 1e9 / hz
    flash = preset_spec(spec.drives.flash).flash
    read, write = characterise(flash, "read", window=spec.drives.queue_depth), characterise(flash, "write")
    ssd = characterise(preset_spec(spec.host.ssd).flash, "read")
    drive_GBps = min(ssd.bandwidth_GBps, spec.host.ssd_link_GBps)
    ssd_GBps = (drive_GBps if spec.host.gpudirect else
                spec.host.file_read_GBps or drive_GBps * spec.host.file_read_efficiency)
    return StorageRates(
        flash_read=per_cycle(read.bandwidth_GBps), flash_write=per_cycle(write.bandwidth_GBps),
        flash_latency=math.ceil(read.idle_latency_us * 1e-6 * hz),
        p2p=per_cycle(spec.drives.link_GBps), p2p_latency=math.ceil(spec.drives.link_latency_us * 1e-6 * hz),
        ssd=per_cycle(ssd_GBps), ssd_latency=math.ceil((spec.host.ssd_latency_us * 1e-6 + ssd.idle_latency_us * 1e-6) * hz),
        engine_cycle_ratio=hz / (spec.drives.engine.clock_MHz * 1e6))


def task_cycles(spec: CsdSpec, program: Program) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(busy, active, latency) of every task: gpu-side tasks by the gpu family's kernels,
    storage tasks from the flash component and the drive's rates."""
    from accsim.arch.gpu import kernels as gpu_kernels
    from accsim.arch.gpu.model import device_rates
    c = program.columns
    cls = c["task_class"]
    busy, active = gpu_kernels.task_busy_cycles(cls, c["flops"], c["mem_bytes"], c["link_bytes"],
                                                c["n_kernels"], c["group"], c["compute_util"],
                                                c["host_us"], **device_rates(spec.gpu_spec(), program.meta["dtype"]))
    latency = np.zeros_like(busy)
    r, e = storage_rates(spec), spec.drives.engine
    nbytes = c["storage_bytes"].astype(float)
    for code, rate, lat in ((FLASH_READ, r.flash_read, r.flash_latency), (FLASH_WRITE, r.flash_write, 0),
                            (P2P, r.p2p, r.p2p_latency), (SSD_READ, r.ssd, r.ssd_latency)):
        on = cls == code
        busy[on] = np.ceil(nbytes[on] / rate).astype(np.int64)
        latency[on] = lat
    on = cls == ENGINE
    engine_cycles = e.cycles(c["engine_macs"][on], c["softmax_elems"][on], c["filter_bytes"][on])
    busy[on] = np.ceil(engine_cycles * r.engine_cycle_ratio).astype(np.int64)
    on = cls == HOST_CPU
    if on.any():
        busy[on] = host_cpu_cycles(spec, program, on)
    storage = cls >= FLASH_READ
    active[storage] = busy[storage]
    return busy, active, latency


def host_cpu_cycles(spec: CsdSpec, program: Program, rows: np.ndarray) -> np.ndarray:
    """Timeline cycles of the host CPU's tasks: the cpu preset's roofline (its executed number
    format, its memory) plus its framework's dispatch of each op."""
    from accsim.arch.gpu import kernels as gpu_kernels
    from accsim.arch.gpu.model import device_rates
    cpu = spec.host_cpu_spec()
    c = {k: v[rows] for k, v in program.columns.items()}
    compute = np.full(int(rows.sum()), gpu_kernels.COMPUTE, c["task_class"].dtype)
    rates = device_rates(cpu, program.meta["dtype"])
    cpu_cycles, _ = gpu_kernels.task_busy_cycles(compute, c["flops"], c["mem_bytes"], c["link_bytes"],
                                                 c["n_kernels"], c["group"], c["compute_util"], c["host_us"],
                                                 **rates)
    cpu_cycles = cpu_cycles + np.ceil(c["n_kernels"] * rates["launch_cycles"])
    return np.ceil(cpu_cycles * spec.clock_hz / cpu.clock_hz).astype(np.int64)


def schedule(spec: CsdSpec, program: Program) -> Schedule:
    from accsim.core.engine import run_task_graph
    busy, active, latency = task_cycles(spec, program)
    succ_ptr, succ_idx = program.successors()
    lanes = np.ones(len(program.units), np.int64)
    start, finish, _ = run_task_graph(program.dep_ptr, program.dep_idx, succ_ptr, succ_idx,
                                      program.column("unit"), busy, latency, lanes)
    return Schedule(start, finish, busy, active, lanes, spec.clock_hz)


def simulate(spec: CsdSpec, program: Program) -> StepStats:
    """Simulate one pass of the whole server (GPU, drives, host SSD)."""
    from accsim.arch.gpu.kernels import HOST_TRANSFER
    from accsim.core.engine import attribute_makespan, covered_cycles
    sched = schedule(spec, program)
    hz = spec.clock_hz
    parts = schedule_breakdown(program, sched.start, sched.finish, sched.busy, hz, sched.lanes)
    latency_s = parts["latency_cycles"] / hz
    cls = program.column("task_class")
    gpu_rows = cls < FLASH_READ
    gpu_active_s = float(sched.active[gpu_rows & (program.column("unit") == program.units.index("device"))].sum()) / hz
    exposed, _stall = attribute_makespan(sched.start, sched.finish)
    kv = program.column("kv")
    kv_exposed_s = float(exposed[kv].sum()) / hz
    # the paper's KV-access share: the time during which the KV cache is being read, written or
    # moved (flash, SSD, peer-to-peer, host link), overlapping tasks counted once
    access = kv & ((cls >= FLASH_READ) | (cls == HOST_TRANSFER))
    kv_access_s = float(covered_cycles(sched.start[access], sched.finish[access])) / hz
    nbytes = program.column("storage_bytes")
    gpu_bytes = program.column("mem_bytes")[gpu_rows].sum() + program.column("link_bytes")[gpu_rows].sum()
    return step_stats(
        **parts, energy_J=activity_energy_J(spec.gpu_spec().power, 1, latency_s, gpu_active_s),
        # the GPUs' memory and links, the host CPU's memory, the drives' flash channels and links
        offchip_bytes=int(gpu_bytes) * spec.gpu_spec().devices + int(program.column("mem_bytes")[cls == HOST_CPU].sum())
        + int(nbytes.sum()),
        system=spec.system, attention=spec.attention.mode, drives=spec.drives.count,
        kv_access_share_pct=100.0 * kv_access_s / latency_s if latency_s else 0.0,
        kv_exposed_share_pct=100.0 * kv_exposed_s / latency_s if latency_s else 0.0,
        flash_read_bytes=int(nbytes[cls == FLASH_READ].sum()),
        flash_write_bytes=int(nbytes[cls == FLASH_WRITE].sum()),
        flash_read_GBps=(float(nbytes[cls == FLASH_READ].sum()) / latency_s / 1e9) if latency_s else 0.0,
        ssd_read_bytes=int(nbytes[cls == SSD_READ].sum()),
        host_link_bytes=int(program.column("link_bytes")[program.column("unit") == program.units.index("host_link")].sum()),
        placement=dict(program.meta.get("placement", {})))
