"""Speed of the DRAM model against Ramulator 2.0 and DRAMsim3, same run, whole process.

Usage: python benchmarks/bench_dram.py --ramulator2 PATH/run-ramulator2 --dramsim3 PATH/run-dramsim3
                                       [--repeats 3] [--only PRESET]
Writes the three reference traces (1M requests; LD/ST and DRAMsim3 formats) to a temporary
folder, then, for each compatible preset and trace, times `accsim dram --standard PRESET
--trace FILE --quiet` and the peer on the same trace back to back (interpreter start, imports,
parsing, simulation, stats: whole processes), median of the repeats after one warm-up run of
each. A ratio is of those two walls. A peer that is not given is not timed: no figure is ever
divided by a time taken elsewhere.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

import accsim.validation
from accsim.arch.dram.patterns import KINDS, make_trace
from accsim.core.traces import write_trace

PEERS = Path(accsim.validation.__file__).parent / "reference" / "dram" / "peers.yaml"
# preset -> (peer, its config beside the peer's binary, the trace format it reads)
CASES = {"gddr6-ram2compat": ("ramulator2", "ram2_GDDR6.yaml", "ldst"),
         "hbm2-ram2compat": ("ramulator2", "ram2_HBM2_1ch.yaml", "ldst"),
         "gddr6-dramsim3": ("dramsim3", "GDDR6_8Gb_x16.ini", "dramsim3"),
         "hbm2-dramsim3": ("dramsim3", "HBM2_8Gb_x128.ini", "dramsim3")}
REFERENCE_KEY = {"gddr6-ram2compat": "ramulator2/ram2_GDDR6", "hbm2-ram2compat": "ramulator2/ram2_HBM2_1ch",
                 "gddr6-dramsim3": "dramsim3/GDDR6_8Gb_x16", "hbm2-dramsim3": "dramsim3/HBM2_8Gb_x128"}
PEER_NAMES = {"ramulator2": "Ramulator 2.0", "dramsim3": "DRAMsim3"}


@dataclass
class Row:
    preset: str
    trace: str
    accsim_s: float
    peer: str
    peer_s: float

    @property
    def ratio(self) -> float:
        return self.peer_s / self.accsim_s


def accsim_command() -> list[str]:
    exe = shutil.which("accsim", path=str(Path(sys.executable).parent)) or shutil.which("accsim")
    return [exe] if exe else [sys.executable, "-m", "accsim.cli"]


def user_env() -> dict[str, str]:
    """The environment of a normal install: bytecode cached (some sandboxes switch that off)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def median_wall(cmd: list[str], repeats: int) -> float:
    """Median wall time of ``cmd`` over ``repeats`` runs after one warm-up run."""
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=user_env())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=user_env())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def write_traces(folder: Path) -> dict[tuple[str, str], Path]:
    traces = {}
    for kind in KINDS:
        trace = make_trace(kind)
        for fmt in ("ldst", "dramsim3"):
            traces[kind, fmt] = folder / f"{kind}.{fmt}"
            write_trace(traces[kind, fmt], trace, fmt)
    return traces


def peer_command(peer: str, wrapper: str, config: str, trace: Path, preset: str, kind: str,
                 out: Path) -> list[str]:
    if peer == "ramulator2":
        return [wrapper, config, str(trace)]
    cycles = yaml.safe_load(PEERS.read_text())["full_runs"][f"{REFERENCE_KEY[preset]}/{kind}"]["T_rd_done"] + 1
    return [wrapper, config, str(trace), str(cycles), str(out)]


def run(peers: dict[str, str], repeats: int = 3, only: str | None = None,
        report=print) -> list[Row]:
    """Time every preset whose peer is given (``peers``: peer name -> wrapper path)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        traces = write_traces(Path(tmp))
        for preset, (peer, config, fmt) in CASES.items():
            if peer not in peers or (only and preset != only):
                continue
            for kind in KINDS:
                ours = median_wall(accsim_command() + ["dram", "--standard", preset, "--trace",
                                                       str(traces[kind, "ldst"]), "--quiet"], repeats)
                theirs = median_wall(peer_command(peer, peers[peer], config, traces[kind, fmt], preset, kind,
                                                  Path(tmp) / "peer-out"), repeats)
                rows.append(Row(preset, kind, ours, PEER_NAMES[peer], theirs))
                report(f"{preset:18s} {kind:5s} accsim {ours:6.2f} s  {PEER_NAMES[peer]} {theirs:6.2f} s  "
                       f"{rows[-1].ratio:5.1f}x")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ramulator2", help="Ramulator 2.0 wrapper, e.g. ../shared/peers/run-ramulator2")
    ap.add_argument("--dramsim3", help="DRAMsim3 wrapper, e.g. ../shared/peers/run-dramsim3")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", help="one preset of " + ", ".join(CASES))
    args = ap.parse_args()
    peers = {k: v for k, v in (("ramulator2", args.ramulator2), ("dramsim3", args.dramsim3)) if v}
    if not peers:
        ap.error("name at least one peer (--ramulator2, --dramsim3): ratios are taken in one run")
    run(peers, args.repeats, args.only)


if __name__ == "__main__":
    main()
