"""Speed and memory of the DRAM model against Ramulator 2.0 and DRAMsim3, same run, whole process.

Usage: python benchmarks/bench_dram.py --ramulator2 PATH/run-ramulator2 --dramsim3 PATH/run-dramsim3
                                       [--repeats 3] [--only PRESET] [--sizes 1000000,10000000]
Writes the three reference traces (seq, rand, mix; LD/ST and DRAMsim3 formats) at each size to a
temporary folder, then, for each compatible preset, trace and size, times `accsim dram
--standard PRESET --trace FILE --quiet` and the peer on the same trace back to back (interpreter
start, imports, parsing, simulation, stats: whole processes), median of the repeats (after one
warm-up run of each at the smallest size), with each process's peak resident memory (GNU time).
The cost per request is the slope of wall time between the smallest and the largest size: the
fixed cost of a process (interpreter, imports, compiled kernels loading) falls out. A ratio is of
two figures taken in this run; a peer that is not given is not timed: no figure is ever divided
by a time taken elsewhere.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from accsim.arch.dram.patterns import KINDS, make_trace
from accsim.core.traces import write_trace

# preset -> (peer, its config beside the peer's binary, the trace format it reads)
CASES = {"gddr6-ram2compat": ("ramulator2", "ram2_GDDR6.yaml", "ldst"),
         "hbm2-ram2compat": ("ramulator2", "ram2_HBM2_1ch.yaml", "ldst"),
         "gddr6-dramsim3": ("dramsim3", "GDDR6_8Gb_x16.ini", "dramsim3"),
         "hbm2-dramsim3": ("dramsim3", "HBM2_8Gb_x128.ini", "dramsim3")}
PEER_NAMES = {"ramulator2": "Ramulator 2.0", "dramsim3": "DRAMsim3"}
SIZES = (1_000_000, 10_000_000)


@dataclass
class Run:
    wall_s: float
    peak_MB: float


@dataclass
class Row:
    """One preset and trace: accsim's and the peer's runs per trace size (requests)."""
    preset: str
    trace: str
    peer: str
    ours: dict[int, Run] = field(default_factory=dict)
    theirs: dict[int, Run] = field(default_factory=dict)

    def per_million_s(self, runs: dict[int, Run]) -> float:
        """Wall seconds per million requests: the slope between the smallest and largest size."""
        small, large = min(runs), max(runs)
        return (runs[large].wall_s - runs[small].wall_s) / (large - small) * 1e6

    @property
    def slope_ratio(self) -> float:
        return self.per_million_s(self.theirs) / self.per_million_s(self.ours)

    @property
    def whole_ratio(self) -> float:
        """The peer's wall over accsim's at the largest size (whole processes)."""
        large = max(self.ours)
        return self.theirs[large].wall_s / self.ours[large].wall_s


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


def wall_and_peak(cmd: list[str]) -> Run:
    """Wall time and peak resident memory of one run of ``cmd``. The peak comes from GNU time
    (Debian's package ``time``), whose own child starts small: a child forked from this process
    would carry this process's resident set in its ru_maxrss."""
    with tempfile.NamedTemporaryFile("r") as out:
        t0 = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *cmd], check=True,
                       stdout=subprocess.DEVNULL, env=user_env())
        wall = time.perf_counter() - t0
        return Run(wall, int(out.read().split()[-1]) / 1024)


def median_run(cmd: list[str], repeats: int, warm_up: bool) -> Run:
    if warm_up:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=user_env())
    runs = [wall_and_peak(cmd) for _ in range(repeats)]
    return Run(statistics.median(r.wall_s for r in runs), max(r.peak_MB for r in runs))


def write_traces(folder: Path, sizes: tuple[int, ...]) -> dict[tuple[str, str, int], Path]:
    traces = {}
    for n in sizes:
        for kind in KINDS:
            trace = make_trace(kind, n)
            for fmt in ("ldst", "dramsim3"):
                traces[kind, fmt, n] = folder / f"{kind}-{n}.{fmt}"
                write_trace(traces[kind, fmt, n], trace, fmt)
    return traces


def peer_command(peer: str, wrapper: str, config: str, trace: Path, cycles: int, out: Path) -> list[str]:
    """The peer on a trace; DRAMsim3 runs for a given number of cycles: those accsim needed
    to finish the same trace (their results agree to the cycle: `accsim validate -k dram`)."""
    if peer == "ramulator2":
        return [wrapper, config, str(trace)]
    return [wrapper, config, str(trace), str(cycles + 1), str(out)]


def run(peers: dict[str, str], repeats: int = 3, only: str | None = None, sizes: tuple[int, ...] = SIZES,
        report=print) -> list[Row]:
    """Time every preset whose peer is given (``peers``: peer name -> wrapper path)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        traces = write_traces(Path(tmp), sizes)
        stats = Path(tmp) / "stats.json"
        for preset, (peer, config, fmt) in CASES.items():
            if peer not in peers or (only and preset != only):
                continue
            for kind in KINDS:
                row = Row(preset, kind, PEER_NAMES[peer])
                for n in sizes:
                    warm_up = n == min(sizes)
                    row.ours[n] = median_run(accsim_command() + ["dram", "--standard", preset, "--trace",
                                                                 str(traces[kind, "ldst", n]), "--quiet",
                                                                 "--json", str(stats)], repeats, warm_up)
                    cycles = json.loads(stats.read_text())["stats"]["total_cycles"]
                    row.theirs[n] = median_run(peer_command(peer, peers[peer], config, traces[kind, fmt, n],
                                                            cycles, Path(tmp) / "peer-out"), repeats, warm_up)
                    report(f"{preset:18s} {kind:5s} {n:>11,} accsim {row.ours[n].wall_s:7.2f} s "
                           f"{row.ours[n].peak_MB:6.0f} MB  {row.peer} {row.theirs[n].wall_s:7.2f} s "
                           f"{row.theirs[n].peak_MB:6.0f} MB")
                if len(sizes) > 1:
                    report(f"{preset:18s} {kind:5s} per million requests: accsim {row.per_million_s(row.ours):.3f} s, "
                           f"{row.peer} {row.per_million_s(row.theirs):.3f} s ({row.slope_ratio:.1f}x); "
                           f"whole process at {max(sizes):,}: {row.whole_ratio:.1f}x")
                rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ramulator2", help="Ramulator 2.0 wrapper, e.g. ../shared/peers/run-ramulator2")
    ap.add_argument("--dramsim3", help="DRAMsim3 wrapper, e.g. ../shared/peers/run-dramsim3")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", help="one preset of " + ", ".join(CASES))
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)),
                    help="trace sizes in requests, comma-separated (the slope is taken between the first and last)")
    args = ap.parse_args()
    peers = {k: v for k, v in (("ramulator2", args.ramulator2), ("dramsim3", args.dramsim3)) if v}
    if not peers:
        ap.error("name at least one peer (--ramulator2, --dramsim3): ratios are taken in one run")
    run(peers, args.repeats, args.only, tuple(sorted(int(n) for n in args.sizes.split(","))))


if __name__ == "__main__":
    main()
