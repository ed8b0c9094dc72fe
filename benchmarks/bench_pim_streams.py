"""Speed of the PIM command-stream kernel on a GEMV-shaped program.

Usage: python benchmarks/bench_pim_streams.py [--macs-per-channel N]
Builds, per channel of the gddr6-aim preset, tiles of ACTab / 64 WRGB / 64 MACab / RDMAC /
PREA (one DRAM row of 2 KB per bank per tile) with refresh on, then times run_streams
(median of 3 after a warm-up), once with one entry per command and once with the runs counted
as the mapper emits them. The arrays are built with numpy, as a mapper would.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from accsim.arch.pim.standards import CMD
from accsim.arch.pim.streams import CommandStreams, run_streams
from accsim.core.presets import resolve_preset


class ArrayStreams(CommandStreams):
    """CommandStreams whose arrays are given directly (no per-command Python)."""

    def __init__(self, n_channels: int, arrays: tuple) -> None:
        super().__init__(n_channels)
        self._arrays = arrays

    def arrays(self) -> tuple:
        return self._arrays


def gemv_arrays(n_channels: int, tiles: int, counted: bool) -> tuple:
    """GEMV tiles (ACTab, 64 WRGB, 64 MACab, RDMAC, PREA) as the mapper emits them (``counted``:
    the WRGB and MACab runs as one counted entry each) or one entry per command."""
    if counted:
        tile, count = [CMD["ACTab"], CMD["WRGB"], CMD["MACab"], CMD["RDMAC"], CMD["PREA"]], [1, 64, 64, 1, 1]
    else:
        tile = [CMD["ACTab"]] + [CMD["WRGB"]] * 64 + [CMD["MACab"]] * 64 + [CMD["RDMAC"], CMD["PREA"]]
        count = [1] * len(tile)
    cmd = np.tile(np.array(tile, np.int32), tiles)
    row = np.repeat(np.arange(tiles, dtype=np.int32) % 16384, len(tile))
    per = cmd.size
    ptr = np.arange(n_channels + 1, dtype=np.int64) * per
    return (ptr, np.tile(cmd, n_channels), np.full(per * n_channels, -1, np.int32),
            np.tile(row, n_channels), np.zeros(per * n_channels, np.int32),
            np.tile(np.array(count * tiles, np.int32), n_channels), np.zeros(0, np.int64))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--macs-per-channel", type=int, default=640_000)
    args = ap.parse_args()
    config = resolve_preset("gddr6-aim").spec.dram
    tiles = args.macs_per_channel // 64
    for counted in (False, True):
        streams = ArrayStreams(config.organization.channels,
                               gemv_arrays(config.organization.channels, tiles, counted))
        run_streams(config, streams)
        times, result = [], None
        for _ in range(3):
            t0 = time.perf_counter()
            result = run_streams(config, streams)
            times.append(time.perf_counter() - t0)
        wall = statistics.median(times)
        n = result.stats["commands_issued"]
        print(f"{'counted runs' if counted else 'one entry per command'}: {n:,} commands "
              f"({result.stats['refreshes']} refreshes) on {config.organization.channels} channels in "
              f"{wall:.3f} s = {n / wall / 1e6:.1f} M commands/s; simulated "
              f"{result.stats['total_s'] * 1e3:.3f} ms of DRAM time")


if __name__ == "__main__":
    main()
