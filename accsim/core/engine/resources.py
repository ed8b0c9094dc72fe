"""Shared timing resources (numba): unit timelines with lanes and bandwidth links.

A *unit* is busy until some cycle; it may have several identical lanes (e.g. copy engines),
in which case a request takes the lane that frees first (lowest index on ties). A *link*
serializes transfers FIFO at a bandwidth and adds a fixed latency that does not occupy it
(pipelined wire latency); it accounts busy and queueing cycles so contention shows in stats.
"""
import numpy as np
from numba import njit


@njit(cache=True)
def lane_offsets(unit_lanes):
    """CSR offsets of each unit's lanes in a flat lane array."""
    offsets = np.zeros(unit_lanes.shape[0] + 1, dtype=np.int64)
    for u in range(unit_lanes.shape[0]):
        offsets[u + 1] = offsets[u] + unit_lanes[u]
    return offsets


@njit(cache=True)
def reserve_unit(lane_free, offsets, unit, ready_cycle, busy_cycles):
    """Occupy the earliest-free lane of ``unit`` for ``busy_cycles``; return (start, lane)."""
    best = offsets[unit]
    for lane in range(offsets[unit] + 1, offsets[unit + 1]):
        if lane_free[lane] < lane_free[best]:
            best = lane
    start = max(ready_cycle, lane_free[best])
    lane_free[best] = start + busy_cycles
    return start, best - offsets[unit]


@njit(cache=True)
def transfer_cycles(n_bytes, bytes_per_cycle):
    """Serialization time of ``n_bytes`` on a link of ``bytes_per_cycle`` (at least 1 if non-empty)."""
    if n_bytes <= 0:
        return 0
    return max(1, int(np.ceil(n_bytes / bytes_per_cycle)))


@njit(cache=True)
def link_transfer(link_free, link_busy, link_wait, link, ready_cycle, n_bytes,
                  bytes_per_cycle, latency_cycles):
    """FIFO transfer on ``link``; return the cycle the last byte arrives.

    ``link_busy`` accumulates serialization cycles, ``link_wait`` the cycles requests spent
    queued behind earlier transfers.
    """
    ser = transfer_cycles(n_bytes, bytes_per_cycle)
    start = max(ready_cycle, link_free[link])
    link_wait[link] += start - ready_cycle
    link_busy[link] += ser
    link_free[link] = start + ser
    return start + ser + latency_cycles
