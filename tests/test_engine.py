"""The shared numba event engine: heap order, schedules that obey every rule, determinism."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_with_and_without_jit

from accsim.core.engine import (attribute_makespan, heap_new, heap_pop, heap_push, heap_size,
                           link_transfer, run_task_graph, unit_busy_cycles)

pytestmark = pytest.mark.kernel


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(-3, 3)), max_size=200))
def test_heap_pops_in_cycle_priority_seq_order(events):
    heap, state = heap_new(len(events))
    for i, (cycle, prio) in enumerate(events):
        heap_push(heap, state, cycle, prio, i)
    popped = [heap_pop(heap, state) for _ in range(len(events))]
    expected = sorted((c, p, i) for i, (c, p) in enumerate(events))
    assert [(c, p, i) for c, p, i in popped] == expected
    assert heap_size(state) == 0


def test_heap_capacity_and_empty_pop_raise():
    heap, state = heap_new(1)
    heap_push(heap, state, 0, 0, 0)
    with pytest.raises(ValueError, match="capacity"):
        heap_push(heap, state, 0, 0, 1)
    heap_pop(heap, state)
    with pytest.raises(ValueError, match="empty"):
        heap_pop(heap, state)


def _dag_on_units(draw, max_tasks: int, max_deps: int):
    """(deps, unit, n_units): a random DAG in program order, each task on one of 1-3 units."""
    n = draw(st.integers(1, max_tasks))
    n_units = draw(st.integers(1, 3))
    deps = [sorted(set(draw(st.lists(st.integers(0, i - 1), max_size=max_deps)))) if i else [] for i in range(n)]
    unit = np.array([draw(st.integers(0, n_units - 1)) for _ in range(n)], dtype=np.int32)
    return deps, unit, n_units


@st.composite
def task_graphs(draw):
    deps, unit, n_units = _dag_on_units(draw, 40, 3)
    n = len(deps)
    busy = np.array([draw(st.integers(0, 20)) for _ in range(n)], dtype=np.int64)
    latency = np.array([draw(st.integers(0, 5)) for _ in range(n)], dtype=np.int64)
    lanes = np.array([draw(st.integers(1, 2)) for _ in range(n_units)], dtype=np.int64)
    return deps, unit, busy, latency, lanes


def csr(deps):
    ptr = np.zeros(len(deps) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(d) for d in deps])
    idx = np.array([j for d in deps for j in d], dtype=np.int32)
    succ = [[] for _ in deps]
    for i, d in enumerate(deps):
        for j in d:
            succ[j].append(i)
    sptr = np.zeros(len(deps) + 1, dtype=np.int64)
    sptr[1:] = np.cumsum([len(s) for s in succ])
    sidx = np.array([i for s in succ for i in s], dtype=np.int32)
    return ptr, idx, sptr, sidx


def schedule(graph):
    deps, unit, busy, latency, lanes = graph
    return run_task_graph(*csr(deps), unit, busy, latency, lanes)


@settings(max_examples=150, deadline=None)
@given(task_graphs())
def test_schedule_obeys_dependencies_lanes_and_fifo(graph):
    deps, unit, busy, latency, lanes = graph
    start, finish, lane = schedule(graph)
    ready = np.array([max([finish[d] for d in ds], default=0) for ds in deps])
    assert np.all(start >= ready)
    assert np.all(finish == start + busy + latency)
    for u in range(lanes.size):
        for ln in range(lanes[u]):
            on = np.flatnonzero((unit == u) & (lane == ln) & (busy > 0))
            order = on[np.argsort(start[on], kind="stable")]
            ends = start[order] + busy[order]
            assert np.all(start[order][1:] >= ends[:-1]), "two tasks overlap on one lane"
    # no needless waiting: a task that starts late found every lane of its unit busy meanwhile
    for t in np.flatnonzero(start > ready):
        for ln in range(lanes[unit[t]]):
            on = np.flatnonzero((unit == unit[t]) & (lane == ln) & (busy > 0))
            covered = sorted((start[o], start[o] + busy[o]) for o in on if o != t)
            cursor = ready[t]
            for s, e in covered:
                if s <= cursor < e:
                    cursor = e
            assert cursor >= start[t], f"lane {ln} idle while task {t} waited"


@settings(max_examples=100, deadline=None)
@given(task_graphs())
def test_makespan_attribution_sums_exactly(graph):
    start, finish, _ = schedule(graph)
    exposed, stall = attribute_makespan(start, finish)
    assert int(exposed.sum() + stall.sum()) == int(finish.max())
    assert np.all(exposed >= 0) and np.all(stall >= 0)


@settings(max_examples=30, deadline=None)
@given(task_graphs())
def test_schedule_is_deterministic(graph):
    a, b = schedule(graph), schedule(graph)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_ties_go_to_the_lower_task_index():
    # three independent tasks on one single-lane unit: run in index order
    graph = ([[], [], []], np.zeros(3, np.int32), np.array([5, 5, 5], np.int64),
             np.zeros(3, np.int64), np.array([1], np.int64))
    start, finish, _ = schedule(graph)
    assert start.tolist() == [0, 5, 10] and finish.tolist() == [5, 10, 15]


def test_latency_does_not_hold_the_unit():
    graph = ([[], []], np.zeros(2, np.int32), np.array([4, 4], np.int64),
             np.array([100, 100], np.int64), np.array([1], np.int64))
    start, finish, _ = schedule(graph)
    assert start.tolist() == [0, 4] and finish.tolist() == [104, 108]


def test_unit_busy_cycles():
    assert unit_busy_cycles(np.array([0, 1, 0], np.int32), np.array([3, 4, 5], np.int64), 3).tolist() == [8, 4, 0]


def test_link_queueing_shows_contention():
    free, busy, wait = (np.zeros(1, np.int64) for _ in range(3))
    first = link_transfer(free, busy, wait, 0, 0, 100, 10.0, 7)
    second = link_transfer(free, busy, wait, 0, 0, 100, 10.0, 7)
    assert (first, second) == (17, 27)
    assert busy[0] == 20 and wait[0] == 10


NOJIT_SCRIPT = """
import json, numpy as np
from accsim.core.engine import run_task_graph, attribute_makespan
rng = np.random.default_rng(7)
n = 60
deps = [sorted(set(rng.integers(0, i, size=min(i, 2)).tolist())) if i else [] for i in range(n)]
ptr = np.zeros(n + 1, np.int64); ptr[1:] = np.cumsum([len(d) for d in deps])
idx = np.array([j for d in deps for j in d], np.int32)
succ = [[] for _ in range(n)]
for i, d in enumerate(deps):
    for j in d: succ[j].append(i)
sptr = np.zeros(n + 1, np.int64); sptr[1:] = np.cumsum([len(s) for s in succ])
sidx = np.array([i for s in succ for i in s], np.int32)
unit = rng.integers(0, 3, n).astype(np.int32)
busy = rng.integers(0, 50, n).astype(np.int64)
lat = rng.integers(0, 9, n).astype(np.int64)
start, finish, lane = run_task_graph(ptr, idx, sptr, sidx, unit, busy, lat, np.array([1, 2, 1], np.int64))
e, s = attribute_makespan(start, finish)
print(json.dumps([start.tolist(), finish.tolist(), lane.tolist(), e.tolist(), s.tolist()]))
"""


def test_pure_python_and_jit_agree():
    """The kernels also run under NUMBA_DISABLE_JIT=1 (coverage, readable tracebacks)."""
    nojit, jit = run_with_and_without_jit(NOJIT_SCRIPT)
    assert nojit == jit


@st.composite
def shared_graphs(draw):
    deps, unit, n_units = _dag_on_units(draw, 30, 2)
    n = len(deps)
    fixed = np.array([draw(st.integers(0, 5)) for _ in range(n)], dtype=np.float64)
    work = np.array([draw(st.integers(0, 40)) for _ in range(n)], dtype=np.float64)
    demand = np.array([draw(st.sampled_from([0.0, 0.5, 2.0, 8.0])) for _ in range(n)])
    return deps, unit, n_units, fixed, work, demand


@settings(max_examples=120, deadline=None)
@given(shared_graphs(), st.sampled_from([1.0, 4.0, 16.0]))
def test_shared_bandwidth_schedules_obey_units_dependencies_and_capacity(g, capacity):
    """Try to break the shared-bandwidth engine: one task per unit at a time, successors after
    their dependencies, never faster than a task's standalone time, and the bytes moved never
    above capacity x makespan."""
    from accsim.core.engine import run_shared_bandwidth
    deps, unit, n_units, fixed, work, demand = g
    ptr, idx, sptr, sidx = csr(deps)
    start, finish = run_shared_bandwidth(ptr, idx, sptr, sidx, unit, n_units, fixed, work, demand, capacity)
    assert np.all(finish - start >= np.ceil(fixed + work - 1e-6).astype(np.int64))
    for i, d in enumerate(deps):
        assert all(start[i] >= finish[j] for j in d)
    for u in range(n_units):
        spans = sorted((start[i], finish[i]) for i in range(len(deps)) if unit[i] == u and finish[i] > start[i])
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    makespan = finish.max() if finish.size else 0
    assert float((demand * work).sum()) <= capacity * makespan + 1e-6 * max(1.0, makespan) + capacity * len(deps)


@settings(max_examples=60, deadline=None)
@given(shared_graphs())
def test_shared_bandwidth_with_room_for_everyone_is_the_plain_task_graph(g):
    """When the capacity covers every demand at once, sharing changes nothing: the schedule is
    run_task_graph's with busy = launch + work."""
    from accsim.core.engine import run_shared_bandwidth
    deps, unit, n_units, fixed, work, demand = g
    ptr, idx, sptr, sidx = csr(deps)
    start, finish = run_shared_bandwidth(ptr, idx, sptr, sidx, unit, n_units, fixed, work, demand,
                                         float(demand.sum()) + 1.0)
    busy = (fixed + work).astype(np.int64)
    s2, f2, _ = run_task_graph(ptr, idx, sptr, sidx, unit, busy, np.zeros_like(busy), np.ones(n_units, np.int64))
    assert np.array_equal(start, s2) and np.array_equal(finish, f2)


def test_two_streams_share_bandwidth_max_min_fairly():
    """A compute-bound body keeps what it asks; the memory-bound one gets the rest, then all of
    it once alone."""
    from accsim.core.engine import run_shared_bandwidth
    none = np.zeros(0, np.int64)
    ptr = np.zeros(3, np.int64)
    both = lambda demand: run_shared_bandwidth(ptr, none, ptr, none, np.array([0, 1]), 2, np.zeros(2),
                                               np.array([100.0, 100.0]), np.array(demand), 10.0)
    assert both([10.0, 10.0])[1].tolist() == [200, 200]          # each gets half: twice as long
    assert both([1.0, 10.0])[1].tolist() == [100, 110]           # 1 + 9, then 10 alone
    assert both([4.0, 5.0])[1].tolist() == [100, 100]            # room for both


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 1 << 26), st.integers(2, 64)), min_size=1, max_size=20),
       st.sampled_from([1.0, 32.0, 512.0]), st.integers(0, 2000))
def test_auto_all_reduce_takes_the_faster_algorithm_per_message(messages, bytes_per_cycle, latency):
    """'auto' never costs more than ring or one-shot for any message; 'ring' leaves the codes
    alone and other collectives are never touched."""
    from accsim.core.engine.collectives import (ALL_GATHER, ALL_REDUCE, ALL_REDUCE_ONE_SHOT, choose_all_reduce,
                                           collective_wire_many)
    payload = np.array([m for m, _ in messages], np.float64)
    group = np.array([g for _, g in messages], np.int64)
    codes = np.full(len(messages), ALL_REDUCE, np.int64)
    codes[::3] = ALL_GATHER
    cost = lambda c: (lambda w, s: w / bytes_per_cycle + s * latency)(*collective_wire_many(c, payload, group))
    auto = choose_all_reduce(codes, payload, group, bytes_per_cycle, latency, "auto")
    ring = choose_all_reduce(codes, payload, group, bytes_per_cycle, latency, "ring")
    one = choose_all_reduce(codes, payload, group, bytes_per_cycle, latency, "one_shot")
    assert np.array_equal(ring, codes)
    assert np.all(auto[codes == ALL_GATHER] == ALL_GATHER) and np.all(one[codes == ALL_GATHER] == ALL_GATHER)
    assert np.all(one[codes == ALL_REDUCE] == ALL_REDUCE_ONE_SHOT)
    assert np.all(cost(auto) <= np.minimum(cost(ring), cost(one)) + 1e-9)
