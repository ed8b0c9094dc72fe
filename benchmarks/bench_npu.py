"""Speed of the npu family: a tiled GEMM on a whole die, and DeepSeek-R1 steps on Ascend 910C.

Usage: python benchmarks/bench_npu.py
Each figure is one cold call (the kernel memo and the tiling memo are cleared first; numba's
on-disk cache is warm), whole step: graph build, mapping with the tiling search, tile-level
simulation of every distinct kernel.
"""
from __future__ import annotations

import time

from accsim.arch.npu import tiles as T
from accsim.core.presets import resolve_preset
from accsim.mappers import npu as npu_mapper
from accsim.simulation.runner import lower_and_simulate
from accsim.workloads import load_model
from accsim.workloads.graph import Phase


def cold(fn):
    T.simulate_kernel.cache_clear()
    npu_mapper.search_tiling.cache_clear()
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def main() -> None:
    die = resolve_preset("ascend-910b").spec
    stats, seconds = cold(lambda: npu_mapper.gemm_on_chip(die, 4096, 4096, 4096))
    print(f"GEMM 4096^3 bf16 on a 910B die: {stats['tile_tasks']:,} tile tasks, "
          f"{stats['total_cycles']:,} cycles, simulated in {seconds:.2f} s (incl. tiling search)")
    model = load_model("deepseek-r1").with_dtype("int8")
    for chips, phase, label in ((16, Phase.decode(96, 4096), "decode step, batch 96, context 4096"),
                                (160, Phase.decode(15360, 4096, 2), "decode step, batch 15360, MTP 2 tokens"),
                                (16, Phase.prefill(64, 4096), "prefill, 64 x 4096-token prompts")):
        preset = resolve_preset("ascend-910c", {"system.chips": chips})
        (stats, _, _), seconds = cold(lambda: lower_and_simulate(preset, model, phase, None))
        print(f"DeepSeek-R1 on {chips} x 910C, {label}: {stats['kernels']} kernels "
              f"({stats['kernels_simulated']} distinct, {stats['tile_tasks']:,} tile tasks), "
              f"{stats['latency_s'] * 1e3:.1f} ms simulated in {seconds:.2f} s")


if __name__ == "__main__":
    main()
