"""Activity-based device power, shared by the families that model power at device level.

A device draws ``idle_W`` for the whole step and ``tdp_W - idle_W`` more for the cycles in
which it is active (a roofline bound or a busy array), the usual two-point board-power model.
"""
from __future__ import annotations

from dataclasses import dataclass

from accsim.core.config import param


@dataclass(frozen=True, kw_only=True)
class PowerSpec:
    tdp_W: float = param("W", "power per device at full activity", gt=0)
    idle_W: float = param("W", "power per device while idle", ge=0)


def activity_energy_J(power: PowerSpec, devices: int, makespan_s: float, active_s: float) -> float:
    """Energy of ``devices`` devices over a step of ``makespan_s`` with ``active_s`` active."""
    return devices * (power.idle_W * makespan_s
                      + (power.tdp_W - power.idle_W) * min(active_s, makespan_s))
