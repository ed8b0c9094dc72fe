"""A binary min-heap of events over preallocated int64 arrays (numba).

Each event is one row of ``heap[capacity, 4]``: (cycle, priority, seq, payload). Ordering is by
(cycle, priority, seq); ``seq`` is a running counter stored in ``state[1]``, so two events with
the same cycle and priority pop in push order and every run is deterministic. ``state[0]`` is
the current size. Handlers push new events; nothing reaches into the array otherwise.
"""
import numpy as np
from numba import njit

CYCLE, PRIO, SEQ, PAYLOAD = 0, 1, 2, 3


@njit(cache=True)
def heap_new(capacity):
    """Return (heap, state) with room for ``capacity`` pending events."""
    return np.empty((max(capacity, 1), 4), dtype=np.int64), np.zeros(2, dtype=np.int64)


@njit(cache=True)
def _before(heap, i, j):
    if heap[i, CYCLE] != heap[j, CYCLE]:
        return heap[i, CYCLE] < heap[j, CYCLE]
    if heap[i, PRIO] != heap[j, PRIO]:
        return heap[i, PRIO] < heap[j, PRIO]
    return heap[i, SEQ] < heap[j, SEQ]


@njit(cache=True)
def _swap(heap, i, j):
    for c in range(4):
        tmp = heap[i, c]
        heap[i, c] = heap[j, c]
        heap[j, c] = tmp


@njit(cache=True)
def heap_push(heap, state, cycle, priority, payload):
    """Insert an event; raises if the preallocated capacity is exhausted."""
    size = state[0]
    if size >= heap.shape[0]:
        raise ValueError("event heap capacity exhausted")
    heap[size, CYCLE] = cycle
    heap[size, PRIO] = priority
    heap[size, SEQ] = state[1]
    heap[size, PAYLOAD] = payload
    state[1] += 1
    state[0] = size + 1
    i = size
    while i > 0:
        parent = (i - 1) // 2
        if not _before(heap, i, parent):
            break
        _swap(heap, i, parent)
        i = parent


@njit(cache=True)
def heap_pop(heap, state):
    """Remove the earliest event; return (cycle, priority, payload)."""
    size = state[0]
    if size == 0:
        raise ValueError("pop from an empty event heap")
    cycle, priority, payload = heap[0, CYCLE], heap[0, PRIO], heap[0, PAYLOAD]
    size -= 1
    state[0] = size
    if size > 0:
        for c in range(4):
            heap[0, c] = heap[size, c]
        i = 0
        while True:
            left, right, best = 2 * i + 1, 2 * i + 2, i
            if left < size and _before(heap, left, best):
                best = left
            if right < size and _before(heap, right, best):
                best = right
            if best == i:
                break
            _swap(heap, i, best)
            i = best
    return cycle, priority, payload


@njit(cache=True)
def heap_size(state):
    return state[0]
