"""Speed of one systolic-array GEMM simulation next to SCALE-Sim v3's on the same shape.

Usage: python benchmarks/bench_gemm.py [--scalesim-python PATH]
Ours is the median of 5 calls after a warm-up. With --scalesim-python (an interpreter that has
scalesim==3.0.0 with numpy<2, which SCALE-Sim 3.0.0 needs), SCALE-Sim runs in the same
benchmark on the same shapes and configuration (written from our preset, compute-only) and
its run_scale() time and cycle count are printed next to ours; without it, the reference
wall times recorded in validation/reference/scalesim.yaml are shown instead.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

import accsim.validation
from accsim.arch.npu.systolic import simulate_gemm
from accsim.core.presets import resolve_preset

REF = Path(accsim.validation.__file__).parent / "reference" / "scalesim.yaml"
SCALESIM_RUN = """
import sys, time
from scalesim.scale_sim import scalesim
t = time.perf_counter()
sim = scalesim(save_disk_space=True, verbose=False, config=sys.argv[1], topology=sys.argv[2],
               layout=sys.argv[3], input_type_gemm=True)
sim.run_scale(top_path=sys.argv[4])
print(time.perf_counter() - t)
"""


def timed(spec, m, k, n, dataflow) -> float:
    simulate_gemm(spec, m, k, n, dataflow)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        simulate_gemm(spec, m, k, n, dataflow)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def scalesim_config(spec, dataflow: str) -> str:
    """A SCALE-Sim config equal to our preset: array, SRAM sizes, dataflow, compute-only."""
    a, b = spec.array, spec.buffers
    return f"""[general]
run_name = accsim_bench

[architecture_presets]
ArrayHeight: {a.rows}
ArrayWidth: {a.cols}
IfmapSramSzkB: {int(b.ifmap_KiB)}
FilterSramSzkB: {int(b.filter_KiB)}
OfmapSramSzkB: {int(b.ofmap_KiB)}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : 10
Dataflow : {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def run_scalesim(python: str, spec, m: int, k: int, n: int, dataflow: str) -> tuple[float, int]:
    """(run_scale seconds, Total Cycles) of SCALE-Sim on one GEMM."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "c.cfg").write_text(scalesim_config(spec, dataflow))
        (d / "t.csv").write_text(f"Layer,M,N,K,\ngemm,{m},{n},{k},\n")
        (d / "layout.csv").write_text("Layer,\n")
        (d / "run.py").write_text(SCALESIM_RUN)
        out = subprocess.run([python, str(d / "run.py"), str(d / "c.cfg"), str(d / "t.csv"),
                              str(d / "layout.csv"), str(d / "out")], check=True,
                             capture_output=True, text=True, cwd=d).stdout
        seconds = float(out.strip().splitlines()[-1])
        report = next((d / "out").rglob("COMPUTE_REPORT.csv")).read_text().splitlines()[1]
        return seconds, int(report.split(",")[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalesim-python", help="interpreter with scalesim==3.0.0 installed")
    args = parser.parse_args()
    runs = yaml.safe_load(REF.read_text())["runs"]
    source = "SCALE-Sim s (this run)" if args.scalesim_python else "SCALE-Sim s (recorded)"
    print(f"{'GEMM':28s} {'accsim ms':>10s} {source:>24s} {'speed-up':>9s}  cycles (accsim / SCALE-Sim)")
    for r in runs:
        spec = resolve_preset(f"systolic-{r['array']}x{r['array']}").spec
        ours = timed(spec, r["m"], r["k"], r["n"], r["dataflow"])
        cycles = simulate_gemm(spec, r["m"], r["k"], r["n"], r["dataflow"])["compute_cycles"]
        if args.scalesim_python:
            theirs, their_cycles = run_scalesim(args.scalesim_python, spec, r["m"], r["k"], r["n"],
                                                r["dataflow"])
        else:
            theirs, their_cycles = r["wall_s"], r["total_cycles"]
        label = f"{r['topology']} {r['array']}x{r['array']} {r['dataflow']}"
        print(f"{label:28s} {ours * 1e3:10.2f} {theirs:24.1f} {theirs / ours:8.0f}x  "
              f"{cycles:,} / {their_cycles:,}")


if __name__ == "__main__":
    main()
