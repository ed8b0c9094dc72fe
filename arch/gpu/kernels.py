"""Numba kernels of the gpu family: per-task device time and energy from a roofline."""
import numpy as np
from numba import njit

from accsim.core.engine.collectives import collective_wire

# task classes (column ``task_class`` of a gpu Program); the collectives last, in the order of
# accsim.core.engine.collectives' codes (task class - ALL_REDUCE is the collective's code)
(COMPUTE, LAUNCH, HOST_TRANSFER, GRAPH_LAUNCH, HOST_WORK,
 ALL_REDUCE, ALL_GATHER, ALL_TO_ALL, ALL_REDUCE_ONE_SHOT, ALL_REDUCE_TWO_SHOT) = range(10)


@njit(cache=True)
def task_busy_cycles(task_class, flops, mem_bytes, link_bytes, n_kernels, group, compute_util,
                     host_us, flops_per_cycle, mem_bytes_per_cycle, mem_latency_cycles,
                     min_kernel_cycles, launch_cycles, graph_launch_cycles, host_bytes_per_cycle,
                     host_latency_cycles, ic_bytes_per_cycle, ic_latency_cycles, host_cycles_per_us):
    """Busy cycles of each task and the roofline-active cycles inside them.

    compute: max(flops / (rate * wave utilisation), memory latency + bytes / bandwidth,
    kernels * min kernel time) (no memory latency for a task that moves no bytes)
    launch: kernels * host launch time (eager); graph launch: one captured-graph launch;
    host work: its own host time
    host transfer: bytes / host-link bandwidth + latency
    collectives: bytes and steps from accsim.core.engine.collectives (task class - ALL_REDUCE is
    the shared collective code).
    """
    n = task_class.shape[0]
    busy = np.zeros(n, dtype=np.int64)
    active = np.zeros(n, dtype=np.int64)
    for t in range(n):
        c = task_class[t]
        if c == COMPUTE:
            memory = mem_latency_cycles + mem_bytes[t] / mem_bytes_per_cycle if mem_bytes[t] else 0.0
            roof = max(flops[t] / (flops_per_cycle * compute_util[t]), memory)
            active[t] = int(np.ceil(roof))
            busy[t] = max(active[t], int(np.ceil(n_kernels[t] * min_kernel_cycles)))
        elif c == LAUNCH:
            busy[t] = int(np.ceil(n_kernels[t] * launch_cycles))
        elif c == HOST_WORK:
            busy[t] = int(np.ceil(host_us[t] * host_cycles_per_us))
        elif c == GRAPH_LAUNCH:
            busy[t] = int(np.ceil(graph_launch_cycles))
        elif c == HOST_TRANSFER:
            active[t] = int(np.ceil(link_bytes[t] / host_bytes_per_cycle))
            busy[t] = active[t] + int(np.ceil(host_latency_cycles))
        else:
            volume, steps = collective_wire(c - ALL_REDUCE, link_bytes[t], group[t])
            active[t] = int(np.ceil(volume / ic_bytes_per_cycle))
            busy[t] = max(active[t] + int(np.ceil(steps * ic_latency_cycles)),
                          int(np.ceil(n_kernels[t] * min_kernel_cycles)))
    return busy, active
