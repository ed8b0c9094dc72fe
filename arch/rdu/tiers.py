"""The HBM and DDR tiers of an RDU socket, from the shared DRAM component (characterised).

Each tier is ``devices`` copies of a DRAM preset (family ``dram``); its controller is run
cycle-level once per access pattern by ``arch/dram/tier.characterise`` (streaming: consecutive
addresses, as tiles of weights and caches are read; random: gathers such as embedding rows),
and the socket sees ``devices`` x that bandwidth. A transfer of n bytes then holds the tier for
n / bandwidth cycles and its data arrives the unloaded read latency later. ``roofs``: the
socket's PCUs over each tier, for roofline views.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from accsim.arch.rdu.ir import D2D, DDR, HBM, LINK, UNITS
from accsim.arch.rdu.spec import RduSpec
from accsim.core.registry import Roof


@dataclass(frozen=True)
class TierRates:
    bytes_per_cycle: np.ndarray          # per unit: streaming bandwidth (hbm, ddr, link, d2d)
    random_bytes_per_cycle: np.ndarray   # per unit: gather bandwidth (hbm, ddr)
    latency_cycles: np.ndarray           # per unit: unloaded latency of a transfer
    peak_GBps: np.ndarray                # per unit: every data bus busy (hbm, ddr, link)


def dram_config(name: str):
    from accsim.core.presets import preset_spec
    return preset_spec(name).dram


@lru_cache(maxsize=64)
def tier_rates(spec: RduSpec) -> TierRates:
    from accsim.arch.dram.tier import characterise
    hz = spec.clock_hz
    n = len(UNITS)
    stream, rand, lat, peak = (np.zeros(n) for _ in range(4))
    for unit, tier in ((HBM, spec.hbm), (DDR, spec.ddr)):
        config = dram_config(tier.dram)
        s = characterise(config, "streaming")
        r = characterise(config, "random")
        stream[unit] = s.bandwidth_GBps * tier.devices * 1e9 / hz
        rand[unit] = r.bandwidth_GBps * tier.devices * 1e9 / hz
        lat[unit] = math.ceil(s.idle_read_latency_ns * 1e-9 * hz)
        peak[unit] = s.bus_peak_GBps * tier.devices
    stream[LINK] = rand[LINK] = spec.system.link_GBps * 1e9 / hz
    lat[LINK] = math.ceil(spec.system.link_latency_us * 1e-6 * hz)
    peak[LINK] = spec.system.link_GBps
    stream[D2D] = rand[D2D] = spec.die.link_GBps * 1e9 / hz
    lat[D2D] = math.ceil(spec.die.link_latency_ns * 1e-9 * hz)
    peak[D2D] = spec.die.link_GBps
    return TierRates(stream, rand, lat, peak)


def roofs(spec: RduSpec, model) -> list:
    """One socket: every PCU in systolic mode over each memory tier's data buses."""
    peak = 2.0 * spec.macs_per_cycle * spec.pcu.count * spec.clock_hz
    rates = tier_rates(spec)
    return [Roof(f"PCUs / {name}", peak, rates.peak_GBps[unit] * 1e9) for name, unit in (("HBM", HBM), ("DDR", DDR))]
