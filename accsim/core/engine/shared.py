"""Task graphs whose tasks share one bandwidth (numba): concurrent streams contending for memory.

Each task holds its unit (one task at a time per unit) for a fixed part (a launch: no
bandwidth) and then a body that takes ``work_cycles`` when it has the bandwidth it asks for,
``demand`` bytes per cycle. While several bodies run, the shared ``capacity`` is divided
max-min fairly (water-filling: a body asking less than an equal share gets all it asks, the
rest is split among the others); a body granted a fraction of its demand progresses at that
fraction of its full speed. Bodies that ask nothing (compute only, or traffic on another
resource) always run at full speed. Units take ready tasks in order of readiness (ties: lower
index), as ``run_task_graph`` does; a task of zero length ends the moment it starts. Time
advances from event to event (a task's start, the end of its launch or of its body): between
events every rate is constant.
"""
import numpy as np
from numba import njit

_WAITING, _LAUNCH, _BODY, _DONE = 0, 1, 2, 3


@njit(cache=True)
def _grant_rates(running, demand, capacity, rate):
    """Water-filling over the running bodies: each one's progress rate (1 = full speed)."""
    k = running.shape[0]
    if k == 0:
        return
    asks = np.empty(k, np.float64)
    for i in range(k):
        asks[i] = demand[running[i]]
    order = np.argsort(asks, kind="mergesort")
    left, count = capacity, k
    for j in range(k):
        t = running[order[j]]
        if demand[t] <= 0.0:
            rate[t] = 1.0
        else:
            granted = min(demand[t], left / count)
            rate[t] = granted / demand[t]
            left -= granted
        count -= 1


@njit(cache=True)
def _release(t, now, finish, holder, task_unit, deps_left, ready_at, succ_ptr, succ_idx):
    """Task t ends at `now`: its unit is free and successors whose last dependency it was are ready."""
    finish[t] = now
    holder[task_unit[t]] = -1
    for k in range(succ_ptr[t], succ_ptr[t + 1]):
        s = succ_idx[k]
        deps_left[s] -= 1
        if deps_left[s] == 0:
            ready_at[s] = now


@njit(cache=True)
def _dispatch(now, phase, ready_at, task_unit, holder, fixed_cycles, work_cycles, start, left, finish,
              deps_left, succ_ptr, succ_idx):
    """Free units take ready tasks in global (readiness, index) order, the order in which
    run_task_graph's events reserve units. A task of zero length ends on the spot, so the
    successors it releases compete at `now` too. Returns the number of tasks that ended."""
    ended = 0
    while True:
        best = -1
        for t in range(task_unit.shape[0]):
            if phase[t] == _WAITING and ready_at[t] <= now and holder[task_unit[t]] < 0:
                if best < 0 or ready_at[t] < ready_at[best]:
                    best = t
        if best < 0:
            return ended
        holder[task_unit[best]] = best
        start[best] = now
        if fixed_cycles[best] > 0:
            phase[best], left[best] = _LAUNCH, fixed_cycles[best]
        elif work_cycles[best] > 0:
            phase[best], left[best] = _BODY, work_cycles[best]
        else:
            phase[best] = _DONE
            _release(best, now, finish, holder, task_unit, deps_left, ready_at, succ_ptr, succ_idx)
            ended += 1


@njit(cache=True)
def run_shared_bandwidth(dep_ptr, dep_idx, succ_ptr, succ_idx, task_unit, n_units, fixed_cycles,
                         work_cycles, demand, capacity):
    """Return (start, finish) int64 per task (rounded up to whole cycles) under shared bandwidth."""
    n = task_unit.shape[0]
    deps_left = np.empty(n, np.int64)
    ready_at = np.full(n, np.inf)
    phase = np.zeros(n, np.int64)
    left = np.zeros(n, np.float64)          # cycles of the current phase at full speed
    rate = np.ones(n, np.float64)
    start = np.zeros(n, np.float64)
    finish = np.zeros(n, np.float64)
    holder = np.full(n_units, -1, np.int64)
    for t in range(n):
        deps_left[t] = dep_ptr[t + 1] - dep_ptr[t]
        if deps_left[t] == 0:
            ready_at[t] = 0.0
    now, done = 0.0, 0
    while True:
        done += _dispatch(now, phase, ready_at, task_unit, holder, fixed_cycles, work_cycles, start, left,
                          finish, deps_left, succ_ptr, succ_idx)
        if done == n:
            break
        active = np.array([holder[u] for u in range(n_units) if holder[u] >= 0], np.int64)
        if active.shape[0] == 0:
            raise ValueError("task graph did not complete: dependency cycle")
        bodies = np.array([t for t in active if phase[t] == _BODY], np.int64)
        _grant_rates(bodies, demand, capacity, rate)
        step = np.inf
        for t in active:
            r = rate[t] if phase[t] == _BODY else 1.0
            if r > 0.0:
                step = min(step, left[t] / r)
        now += step
        for t in active:
            r = rate[t] if phase[t] == _BODY else 1.0
            left[t] -= step * r
            if left[t] > 1e-9 * max(1.0, work_cycles[t] + fixed_cycles[t]):
                continue
            if phase[t] == _LAUNCH and work_cycles[t] > 0:
                phase[t] = _BODY
                left[t] = work_cycles[t]
                continue
            phase[t] = _DONE
            _release(t, now, finish, holder, task_unit, deps_left, ready_at, succ_ptr, succ_idx)
            done += 1
    return np.ceil(start - 1e-6).astype(np.int64), np.ceil(finish - 1e-6).astype(np.int64)
