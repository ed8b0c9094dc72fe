"""Event-driven execution of a Program's dependency graph over units (numba).

Each task occupies one lane of its unit for ``busy_cycles``; its successors see it complete
``latency_cycles`` later (a latency that does not hold the unit, like wire or pipeline
latency). Among tasks ready at the same cycle, the lower task index goes first; completions
at a cycle are handled before dispatches at that cycle. The result is a deterministic list
schedule, computed by jumping from event to event, never cycle by cycle.
"""
import numpy as np
from numba import njit

from accsim.core.engine.heap import heap_new, heap_pop, heap_push, heap_size
from accsim.core.engine.resources import lane_offsets, reserve_unit

_READY, _DONE = 0, 1


@njit(cache=True)
def run_task_graph(dep_ptr, dep_idx, succ_ptr, succ_idx, task_unit, busy_cycles,
                   latency_cycles, unit_lanes):
    """Return (start, finish, lane) int64 arrays per task; finish includes the latency."""
    n = task_unit.shape[0]
    start = np.zeros(n, dtype=np.int64)
    finish = np.zeros(n, dtype=np.int64)
    lane = np.zeros(n, dtype=np.int64)
    remaining = np.empty(n, dtype=np.int64)
    offsets = lane_offsets(unit_lanes)
    lane_free = np.zeros(offsets[-1], dtype=np.int64)
    heap, state = heap_new(2 * n)
    for t in range(n):
        remaining[t] = dep_ptr[t + 1] - dep_ptr[t]
        if remaining[t] == 0:
            heap_push(heap, state, 0, t, t * 2 + _READY)
    handled = 0
    while heap_size(state) > 0:
        cycle, _prio, payload = heap_pop(heap, state)
        t = payload // 2
        if payload % 2 == _READY:
            s, ln = reserve_unit(lane_free, offsets, task_unit[t], cycle, busy_cycles[t])
            start[t] = s
            lane[t] = ln
            finish[t] = s + busy_cycles[t] + latency_cycles[t]
            heap_push(heap, state, finish[t], t - n, t * 2 + _DONE)
        else:
            handled += 1
            for k in range(succ_ptr[t], succ_ptr[t + 1]):
                s_task = succ_idx[k]
                remaining[s_task] -= 1
                if remaining[s_task] == 0:
                    heap_push(heap, state, cycle, s_task, s_task * 2 + _READY)
    if handled != n:
        raise ValueError("task graph did not complete: dependency cycle")
    return start, finish, lane


@njit(cache=True)
def attribute_makespan(start, finish):
    """Split the makespan over tasks: returns (exposed_busy, exposed_stall) per task.

    Tasks are visited in order of finish (ties by index). The interval from the latest earlier
    finish (the horizon) to this task's finish is its exposed time: the part after its own start
    is busy, the part before is a stall (no earlier-finishing task was running). The two arrays
    sum to the makespan exactly.
    """
    n = start.shape[0]
    order = np.argsort(finish, kind="mergesort")
    busy = np.zeros(n, dtype=np.int64)
    stall = np.zeros(n, dtype=np.int64)
    horizon = 0
    for i in range(n):
        t = order[i]
        if finish[t] > horizon:
            begin = max(start[t], horizon)
            busy[t] = finish[t] - begin
            stall[t] = begin - horizon
            horizon = finish[t]
    return busy, stall


@njit(cache=True)
def covered_cycles(start, finish):
    """Cycles during which at least one of the given tasks runs (the union of their
    [start, finish) intervals): overlapping tasks count once."""
    order = np.argsort(start, kind="mergesort")
    total = 0
    horizon = 0
    for i in range(start.shape[0]):
        t = order[i]
        begin = max(start[t], horizon)
        if finish[t] > begin:
            total += finish[t] - begin
        horizon = max(horizon, finish[t])
    return total


@njit(cache=True)
def unit_busy_cycles(task_unit, busy_cycles, n_units):
    """Busy cycles summed per unit (over all its lanes)."""
    total = np.zeros(n_units, dtype=np.int64)
    for t in range(task_unit.shape[0]):
        total[task_unit[t]] += busy_cycles[t]
    return total
