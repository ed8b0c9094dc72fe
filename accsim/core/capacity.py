"""Capacity checks, once for every family: does a pass's resident data fit its memory?

``resident_bytes(graph)`` is what a pass keeps in device memory (weights, and the KV cache
it reads and appends), less what a family offloads; ``require_fits`` refuses a pass that
needs more than the memory holds with a ``CapacityError`` naming the field and the fixes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from accsim.core.errors import ConfigError

GIB = 1024 ** 3


class CapacityError(ConfigError):
    """A pass whose resident weights and KV cache exceed a memory's capacity."""


@dataclass(frozen=True)
class Resident:
    weights_bytes: float
    kv_bytes: float

    @property
    def total_bytes(self) -> float:
        return self.weights_bytes + self.kv_bytes


def resident_bytes(graph, weights_fraction_offloaded: float = 0.0,
                   kv_fraction_offloaded: float = 0.0) -> Resident:
    """Weights and KV cache a pass keeps in device memory: the caches its kv_append ops write
    (each once; MLA's expanded prefill K/V are transient, not cache)."""
    kv = sum({t.name: t.bytes for op in graph.ops() if op.kind == "kv_append"
              for t in op.outputs}.values())
    return Resident(graph.weight_bytes() * (1 - weights_fraction_offloaded), kv * (1 - kv_fraction_offloaded))


def require_fits(graph, resident: Resident, capacity_bytes: float, field: str, per: str,
                 fixes: Sequence[str]) -> None:
    """Raise a CapacityError if ``resident`` exceeds ``capacity_bytes`` (one ``per``: a device,
    a die, a system)."""
    if resident.total_bytes > capacity_bytes:
        raise CapacityError([
            f"{field}: {graph.model.name} needs {resident.total_bytes / GIB:.1f} GiB per {per} (weights "
            f"{resident.weights_bytes / GIB:.1f} + KV cache {resident.kv_bytes / GIB:.1f}) but a {per} has "
            f"{capacity_bytes / GIB:g} GiB; use {', '.join(fixes)}"])
