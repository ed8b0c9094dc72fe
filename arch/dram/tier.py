"""A DRAM tier on another family's timeline: the component interface of arch/dram.

Two forms, both driven by the same cycle-level controller (``trace.simulate_trace``), so a
family chooses per tier and says which it uses:

- cycle-level: ``serve(config, addr, is_write)`` runs the requests (offered in order, at most
  one per cycle, the controller's queues back-pressuring the stream) and returns each one's
  completion cycle in the tier's clock (``config.clock_hz``): a read when its data returned
  (a read forwarded from a queued write, one cycle after it arrived); a write when the
  controller accepted it (writes are posted: the requester does not wait for the DRAM).
- characterised: ``characterise(config, pattern, ...)`` runs a synthetic saturating stream
  once (``streaming``: consecutive addresses; ``random``: uniform over the capacity; a
  ``write_fraction`` of writes) through ONE channel's controller and scales its bandwidth by
  the channel count: channels have independent controllers, and a family that spreads its
  traffic over them (as interleaved address mappings do) sees each serve its share. (Run
  through all channels at once, the trace front-end's one request per cycle, not the DRAM,
  would bound a many-channel HBM stack.) It returns a ``TierCharacter``: effective bandwidth,
  loaded and unloaded read latency, and the bus peak they compare with. Results are cached
  per (config, pattern, requests, write_fraction, seed); a model then prices a transfer of
  ``n`` bytes as ``transfer_s(n)`` = unloaded latency + n / bandwidth.

What it may not do: change the controller's policy per call (that is the config's
``controller`` section), or read another family's state. Addresses are byte addresses mapped
by ``controller.address_mapping``; bits above the row wrap.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np

from accsim.arch.dram.spec import DramConfig
from accsim.arch.dram.trace import simulate_trace
from accsim.core import config as schema
from accsim.core.errors import ConfigError
from accsim.core.traces import Trace

PATTERNS = ("streaming", "random")


@dataclass(frozen=True)
class TierCharacter:
    """A tier under one access pattern, measured by the cycle-level controller."""

    pattern: str
    requests: int
    write_fraction: float
    bandwidth_GBps: float            # every channel's share served at once (per channel x channels)
    per_channel_GBps: float          # one channel's controller under the saturating stream
    bus_peak_GBps: float             # every data bus busy every cycle (organization and nBL)
    read_latency_ns: float           # average read latency under this (saturating) load
    idle_read_latency_ns: float      # one read to a closed bank of an idle tier
    row_hit_pct: float

    @property
    def efficiency(self) -> float:
        return self.bandwidth_GBps / self.bus_peak_GBps

    def transfer_s(self, n_bytes: float) -> float:
        """Time to move ``n_bytes`` with this pattern: first-access latency plus streaming."""
        return self.idle_read_latency_ns * 1e-9 + n_bytes / (self.bandwidth_GBps * 1e9)


def serve(config: DramConfig, addr: np.ndarray, is_write: np.ndarray) -> np.ndarray:
    """Completion cycle of every request (int64, the tier's clock), cycle-level."""
    addr = np.asarray(addr, dtype=np.int64)
    is_write = np.asarray(is_write, dtype=bool)
    if addr.shape != is_write.shape or addr.ndim != 1:
        raise ConfigError([f"tier requests: addr and is_write must be 1-D of one length, got "
                           f"{addr.shape} and {is_write.shape}"])
    result = simulate_trace(config, Trace(addr, is_write, np.zeros(addr.size, np.int64)))
    return np.where(is_write, result.arrive, result.depart)


def bus_peak_GBps(config: DramConfig) -> float:
    o = config.organization
    buses = o.channels * o.pseudochannels
    return buses * o.tx_bytes / (int(config.timing["nBL"]) * config.tCK_ps * 1e-12) / 1e9


def capacity_bytes(config: DramConfig) -> int:
    o = config.organization
    banks = o.channels * o.pseudochannels * o.bank_groups * o.banks_per_group
    return banks * o.rows * o.row_bytes


def pattern_requests(config: DramConfig, pattern: str, requests: int, write_fraction: float = 0.0,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Addresses and write flags of a synthetic stream of one access per request."""
    problems = []
    if pattern not in PATTERNS:
        problems.append(f"pattern: expected one of {', '.join(PATTERNS)}, got {pattern!r}")
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        problems.append(f"requests: expected an integer >= 1, got {requests!r}")
    if not 0.0 <= write_fraction <= 1.0:
        problems.append(f"write_fraction: expected a fraction in [0, 1], got {write_fraction!r}")
    if problems:
        raise ConfigError(problems)
    tx = config.organization.tx_bytes
    rng = np.random.Generator(np.random.PCG64(seed))
    if pattern == "streaming":
        addr = np.arange(requests, dtype=np.int64) * tx
    else:
        addr = rng.integers(0, capacity_bytes(config) // tx, size=requests, dtype=np.int64) * tx
    is_write = np.zeros(requests, dtype=bool)
    is_write[:round(requests * write_fraction)] = True
    rng.shuffle(is_write)
    return addr, is_write


def characterise(config: DramConfig, pattern: str, requests: int = 20_000, write_fraction: float = 0.0,
                 seed: int = 0) -> TierCharacter:
    """The tier's effective bandwidth and latency under ``pattern`` (cached: a DramConfig holds
    a timing dict, so the key is its content)."""
    key = (json.dumps(schema.to_plain(config), sort_keys=True), pattern, requests, float(write_fraction), seed)
    if key not in _CHARACTERISED:
        _CHARACTERISED[key] = _measure(config, pattern, requests, float(write_fraction), seed)
    return _CHARACTERISED[key]


_CHARACTERISED: dict[tuple, TierCharacter] = {}


def _measure(config: DramConfig, pattern: str, requests: int, write_fraction: float, seed: int) -> TierCharacter:
    channels = config.organization.channels
    one = dataclasses.replace(config, organization=dataclasses.replace(config.organization, channels=1))
    addr, is_write = pattern_requests(one, pattern, requests, write_fraction, seed)
    stats = simulate_trace(one, Trace(addr, is_write, np.zeros(requests, np.int64))).stats
    idle = simulate_trace(one, Trace(addr[:1], np.zeros(1, bool), np.zeros(1, np.int64))).stats
    ns_per_cycle = config.tCK_ps * 1e-3
    accesses = stats["row_hits"] + stats["row_misses"] + stats["row_conflicts"]
    return TierCharacter(
        pattern=pattern, requests=requests, write_fraction=write_fraction,
        bandwidth_GBps=stats["bandwidth_GBps"] * channels, per_channel_GBps=stats["bandwidth_GBps"],
        bus_peak_GBps=bus_peak_GBps(config),
        read_latency_ns=stats["avg_read_latency_cycles"] * ns_per_cycle,
        idle_read_latency_ns=idle["avg_read_latency_cycles"] * ns_per_cycle,
        row_hit_pct=100.0 * stats["row_hits"] / accesses if accesses else 0.0)
