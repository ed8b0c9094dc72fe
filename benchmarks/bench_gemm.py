"""Speed of one systolic-array GEMM simulation next to SCALE-Sim v3's wall time on the same shape.

Usage: python benchmarks/bench_gemm.py
SCALE-Sim's figures are the reference runs' wall times on this kind of machine
(validation/reference/scalesim.yaml); ours is the median of 5 calls after a warm-up, plus a
large GEMM (M=512, K=4096, N=1024 on 32x32) that SCALE-Sim took 824 s for.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import yaml

import accsim.validation
from accsim.arch.npu.systolic import simulate_gemm
from accsim.presets import resolve_preset

REF = Path(accsim.validation.__file__).parent / "reference" / "scalesim.yaml"


def timed(spec, m, k, n, dataflow) -> float:
    simulate_gemm(spec, m, k, n, dataflow)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        simulate_gemm(spec, m, k, n, dataflow)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    runs = yaml.safe_load(REF.read_text())["runs"]
    print(f"{'GEMM':28s} {'accsim ms':>10s} {'SCALE-Sim s':>11s} {'speed-up':>9s}")
    for r in runs:
        spec = resolve_preset(f"systolic-{r['array']}x{r['array']}").spec
        t = timed(spec, r["m"], r["k"], r["n"], r["dataflow"])
        label = f"{r['topology']} {r['array']}x{r['array']} {r['dataflow']}"
        print(f"{label:28s} {t * 1e3:10.2f} {r['wall_s']:11.1f} {r['wall_s'] / t:8.0f}x")
    spec = resolve_preset("systolic-32x32").spec
    t = timed(spec, 512, 4096, 1024, "os")
    label = "512x4096x1024 32x32 os *"
    print(f"{label:28s} {t * 1e3:10.2f} {824.0:11.1f} {824.0 / t:8.0f}x")
    print("* SCALE-Sim's README gives one 512x1024x4096 case on 32x32 (824 s) without its dataflow")


if __name__ == "__main__":
    main()
