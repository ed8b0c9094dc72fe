"""Speed of the DRAM model on the shared 1M-request traces, whole process included.

Usage: python benchmarks/bench_dram.py [--repeats 3]
Writes the three reference traces (LD/ST format) to a temporary folder, then times
`accsim dram --standard PRESET --trace FILE --quiet` as a subprocess (interpreter start,
imports, trace parsing, simulation, stats), median of the repeats after one warm-up run that
fills numba's on-disk cache. Prints requests/s next to the peer's (Ramulator 2.0 for the
ram2compat presets, DRAMsim3 for gddr6-dramsim3) from validation/reference/dram/peers.yaml.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

import accsim.validation
from accsim.traces import write_trace
from accsim.arch.dram.patterns import KINDS, make_trace

PEERS = Path(accsim.validation.__file__).parent / "reference" / "dram" / "peers.yaml"
CASES = {"gddr6-ram2compat": "ramulator2/ram2_GDDR6", "hbm2-ram2compat": "ramulator2/ram2_HBM2_1ch",
         "gddr6-dramsim3": "dramsim3/GDDR6_8Gb_x16"}


def accsim_command() -> list[str]:
    exe = shutil.which("accsim")
    return [exe] if exe else [sys.executable, "-m", "accsim.cli"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    peers = yaml.safe_load(PEERS.read_text())["full_runs"]
    with tempfile.TemporaryDirectory() as tmp:
        traces = {}
        for kind in KINDS:
            traces[kind] = Path(tmp) / f"{kind}.ldst"
            write_trace(traces[kind], make_trace(kind), "ldst")
        print(f"{'preset':18s} {'trace':5s} {'accsim s':>9s} {'req/s':>9s} {'peer s':>11s} {'speed-up':>8s}")
        for preset, peer in CASES.items():
            for kind in KINDS:
                cmd = accsim_command() + ["dram", "--standard", preset, "--trace", str(traces[kind]), "--quiet"]
                subprocess.run(cmd, check=True)
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    subprocess.run(cmd, check=True)
                    times.append(time.perf_counter() - t0)
                wall = statistics.median(times)
                ref = peers[f"{peer}/{kind}"]["wall_median_s"]
                print(f"{preset:18s} {kind:5s} {wall:9.2f} {1e6 / wall / 1e3:8.0f}k {ref:11.2f} {ref / wall:7.1f}x")


if __name__ == "__main__":
    main()
