"""Processing-in-memory command streams: build them, run them, read their stats.

A PIM program is, per channel, an in-order list of DRAM and PIM commands (ACTab, WRGB,
MACab, RDMAC, PREA, ...) with barriers where work outside the DRAM (an ASIC reduction, a
softmax) joins the channels. ``run_streams`` issues every command at the first legal cycle
(kernels.simulate_streams), serving refresh at command boundaries, and returns the timeline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from accsim.arch.dram.spec import DramConfig
from accsim.arch.pim.standards import CMD, COMMANDS
from accsim.core.errors import ConfigError
from accsim.core.stats import Stats


@dataclass
class CommandStreams:
    """Per-channel command lists under construction (Python, at command granularity: used by
    mappers and tests; large programs build the arrays with numpy directly)."""

    n_channels: int
    entries: list[list[tuple[int, int, int, int]]] = field(default_factory=list)
    barrier_latency_cycles: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.entries = [[] for _ in range(self.n_channels)]

    def add(self, channel: int, command: str, bank: int = -1, row: int = -1) -> None:
        if command not in CMD:
            raise ConfigError([f"stream command '{command}': expected one of {', '.join(COMMANDS)}"])
        self.entries[channel].append((CMD[command], bank, row, 0))

    def barrier(self, latency_cycles: int = 0) -> int:
        """Join every channel here; they resume ``latency_cycles`` after the last arrives."""
        from accsim.arch.pim.kernels import BARRIER
        barrier_id = len(self.barrier_latency_cycles)
        self.barrier_latency_cycles.append(int(latency_cycles))
        for entries in self.entries:
            entries.append((BARRIER, -1, -1, barrier_id))
        return barrier_id

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The kernel's stream arrays: ptr, command, bank, row, arg, count (one command per
        entry here), barrier latencies."""
        ptr = np.zeros(self.n_channels + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([len(e) for e in self.entries])
        flat = np.array([x for e in self.entries for x in e], dtype=np.int32).reshape(-1, 4)
        return ptr, flat[:, 0].copy(), flat[:, 1].copy(), flat[:, 2].copy(), flat[:, 3].copy(), \
            np.ones(len(flat), np.int32), np.array(self.barrier_latency_cycles, dtype=np.int64)


@dataclass(frozen=True)
class StreamResult:
    stats: Stats
    issue_cycles: np.ndarray     # per stream entry (barriers: release cycle)
    barrier_release: np.ndarray
    commands: np.ndarray         # log rows as in dram.simulate_trace


def run_streams(config: DramConfig, streams: CommandStreams, max_log: int = 0) -> StreamResult:
    from accsim.arch.pim import kernels as K
    config.check()
    if streams.n_channels != config.organization.channels:
        raise ConfigError([f"streams: {streams.n_channels} channels, the memory has "
                           f"{config.organization.channels}"])
    arrays = streams.arrays()
    cmd = arrays[1]
    rules = config.compiled_rules()
    refresh = int(config.timing["nREFI"]) if config.controller.refresh == "allbank" else 0
    issue, _, per_channel, release, log = K.simulate_streams(
        *arrays, config.level_sizes(), refresh, rules.ptr, rules.following, rules.latency, rules.window,
        rules.scope, max_log)
    counts = np.bincount(cmd[cmd < len(COMMANDS)], minlength=len(COMMANDS))
    total = int(per_channel[:, K.S_CHANNEL_END].max()) if per_channel.size else 0
    stats: dict[str, Any] = {
        "standard": config.standard, "total_cycles": total, "total_s": total * config.tCK_ps * 1e-12,
        "stream_commands": {COMMANDS[i]: int(n) for i, n in enumerate(counts) if n},
        "refreshes": int(per_channel[:, K.S_REFRESHES].sum()),
        "commands_issued": int(per_channel[:, K.S_ISSUE].sum()),
        "barrier_wait_cycles": int(per_channel[:, K.S_BARRIER_WAIT].sum()),
        "channel_end_cycles": [int(x) for x in per_channel[:, K.S_CHANNEL_END]],
    }
    return StreamResult(Stats(stats), issue, release, log)
