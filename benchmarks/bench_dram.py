"""Speed of the DRAM model on the shared 1M-request traces, whole process included.

Usage: python benchmarks/bench_dram.py [--repeats 3] [--dramsim3 PATH/run-dramsim3] [--only PRESET]
Writes the three reference traces (LD/ST and DRAMsim3 formats) to a temporary folder, then times
`accsim dram --standard PRESET --trace FILE --quiet` as a subprocess (interpreter start,
imports, trace parsing, simulation, stats), median of the repeats after one warm-up run that
fills numba's on-disk cache.
With --dramsim3 (the peer wrapper, e.g. ../shared/peers/run-dramsim3) the DRAMsim3-compatible
presets are timed against DRAMsim3 itself in the same run, back to back on the same trace
(median of the repeats after a warm-up), and the ratio is of those two walls. Without it, the
peer column is the peer's wall time recorded in validation/reference/dram/peers.yaml on another
run of this kind of machine: a reference, not a same-run ratio.
"""
from __future__ import annotations

import argparse
import platform
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
         "gddr6-dramsim3": "dramsim3/GDDR6_8Gb_x16", "hbm2-dramsim3": "dramsim3/HBM2_8Gb_x128"}
DRAMSIM3_CONFIGS = {"gddr6-dramsim3": "GDDR6_8Gb_x16.ini", "hbm2-dramsim3": "HBM2_8Gb_x128.ini"}


def accsim_command() -> list[str]:
    exe = shutil.which("accsim")
    return [exe] if exe else [sys.executable, "-m", "accsim.cli"]


def median_wall(cmd: list[str], repeats: int) -> float:
    """Median wall time of ``cmd`` over ``repeats`` runs after one warm-up run."""
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dramsim3", help="DRAMsim3 peer wrapper: time it in the same run")
    ap.add_argument("--only", help="one preset of " + ", ".join(CASES))
    args = ap.parse_args()
    peers = yaml.safe_load(PEERS.read_text())["full_runs"]
    print(f"machine: {platform.machine()}, {platform.processor() or platform.platform()}, "
          f"Python {platform.python_version()}; median of {args.repeats} after a warm-up")
    with tempfile.TemporaryDirectory() as tmp:
        traces = {}
        for kind in KINDS:
            trace = make_trace(kind)
            for fmt in ("ldst", "dramsim3"):
                traces[kind, fmt] = Path(tmp) / f"{kind}.{fmt}"
                write_trace(traces[kind, fmt], trace, fmt)
        print(f"{'preset':18s} {'trace':5s} {'accsim s':>9s} {'req/s':>9s} {'peer s':>8s} "
              f"{'speed-up':>8s}  peer timing")
        for preset, peer in CASES.items():
            if args.only and preset != args.only:
                continue
            for kind in KINDS:
                cmd = accsim_command() + ["dram", "--standard", preset, "--trace",
                                          str(traces[kind, "ldst"]), "--quiet"]
                wall = median_wall(cmd, args.repeats)
                ref = peers[f"{peer}/{kind}"]
                if args.dramsim3 and preset in DRAMSIM3_CONFIGS:
                    peer_cmd = [args.dramsim3, DRAMSIM3_CONFIGS[preset], str(traces[kind, "dramsim3"]),
                                str(ref["T_rd_done"] + 1), str(Path(tmp) / "dramsim3-out")]
                    peer_wall, how = median_wall(peer_cmd, args.repeats), "same run"
                else:
                    peer_wall, how = ref["wall_median_s"], "recorded (peers.yaml)"
                print(f"{preset:18s} {kind:5s} {wall:9.2f} {1e6 / wall / 1e3:8.0f}k {peer_wall:8.2f} "
                      f"{peer_wall / wall:7.1f}x  {how}")


if __name__ == "__main__":
    main()
