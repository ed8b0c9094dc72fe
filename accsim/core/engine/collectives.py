"""Collectives as transfers on a device's link (numba), shared by every family with links.

``payload_bytes`` follows the OpGraph's convention: the whole tensor for all-reduce and
all-gather, and the bytes that leave the device for all-to-all. Ring algorithms over ``p``
devices: all-reduce puts 2(p-1)/p of the payload on the wire in 2(p-1) latency-bound steps,
all-gather (p-1)/p in p-1 steps; all-to-all over a full mesh (or a non-blocking switch) sends
its off-device bytes in one step. Two all-reduces for a switch that every device reaches
directly (NVSwitch; TensorRT-LLM's custom all-reduce): one-shot, each device reads every peer's
whole buffer and reduces it (p-1 payloads in one step: least latency, most bytes); two-shot, a
reduce-scatter then an all-gather of 1/p slices (the ring's 2(p-1)/p bytes in two steps).
"""
import numpy as np
from numba import njit

ALL_REDUCE, ALL_GATHER, ALL_TO_ALL, ALL_REDUCE_ONE_SHOT, ALL_REDUCE_TWO_SHOT = 0, 1, 2, 3, 4
COLLECTIVE_CODES = {"all_reduce": ALL_REDUCE, "all_gather": ALL_GATHER, "all_to_all": ALL_TO_ALL}


@njit(cache=True)
def collective_wire(code, payload_bytes, p):
    """(bytes each device puts on its link, latency-bound steps) of one collective."""
    if p <= 1:
        return 0.0, 0
    if code == ALL_REDUCE:
        return 2.0 * (p - 1) / p * payload_bytes, 2 * (p - 1)
    if code == ALL_GATHER:
        return (p - 1) / p * payload_bytes, p - 1
    if code == ALL_REDUCE_ONE_SHOT:
        return float(p - 1) * payload_bytes, 1
    if code == ALL_REDUCE_TWO_SHOT:
        return 2.0 * (p - 1) / p * payload_bytes, 2
    return float(payload_bytes), 1


@njit(cache=True)
def collective_wire_many(codes, payload_bytes, groups):
    """``collective_wire`` over arrays: (wire bytes, latency-bound steps) per collective."""
    n = codes.shape[0]
    wire = np.zeros(n, np.float64)
    steps = np.zeros(n, np.int64)
    for i in range(n):
        wire[i], steps[i] = collective_wire(codes[i], payload_bytes[i], groups[i])
    return wire, steps


def choose_all_reduce(codes, payload_bytes, groups, bytes_per_cycle, latency_cycles, algorithm):
    """The collective codes with every ring all-reduce replaced by the algorithm a runtime
    uses: ``ring`` (as given), ``one_shot`` (every device sends its whole payload to every peer
    in one step), or ``auto``: whichever of the two finishes first for that message (wire time
    at ``bytes_per_cycle`` plus ``latency_cycles`` per step), as collective libraries pick by
    message size."""
    codes = np.asarray(codes).copy()
    ring = codes == ALL_REDUCE
    if algorithm == "ring" or not ring.any():
        return codes
    if algorithm == "one_shot":
        codes[ring] = ALL_REDUCE_ONE_SHOT
        return codes
    payload, group = np.asarray(payload_bytes, np.float64)[ring], np.asarray(groups)[ring]

    def cost(code):
        wire, steps = collective_wire_many(np.full(group.shape, code, np.int64), payload, group)
        return wire / bytes_per_cycle + steps * latency_cycles
    codes[ring] = np.where(cost(ALL_REDUCE_ONE_SHOT) < cost(ALL_REDUCE), ALL_REDUCE_ONE_SHOT, ALL_REDUCE)
    return codes
