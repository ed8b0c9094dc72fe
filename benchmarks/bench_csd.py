"""Speed of the csd family (InstInfer) and the flash component.

Usage: python benchmarks/bench_csd.py
Whole runs through accsim.run (graph, mapping, simulation of every simulated pass), warm
numba cache, flash characterisation cleared first.
"""
from __future__ import annotations

import time

import numpy as np

import accsim
from accsim.arch.csd import model as csd_model
from accsim.arch.flash import service
from accsim.core.presets import resolve_preset


def cold(fn):
    service._CHARACTERISED.clear()
    csd_model.storage_rates.cache_clear()
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def main() -> None:
    for chips, samples in ((1, 16), (1, 0), (4, 16), (4, 0)):
        stats, seconds = cold(lambda: accsim.run("instinfer-a6000-1csd", "opt-13b", batch=64, prompt=1024,
                                                 gen=1024, dtype="fp16", chips=chips, decode_samples=samples))
        print(f"OPT-13B, batch 64, 1024 + 1024 tokens, {chips} CSD(s), "
              f"{stats['decode.steps_simulated']} of {stats['decode.steps']} decode steps simulated: "
              f"{stats['tokens_per_s']:.3f} tok/s, simulated in {seconds:.2f} s")
    config = resolve_preset("instinfer-csd-flash").spec.flash
    n = 1_000_000
    rng = np.random.default_rng(1)
    pages, writes = rng.integers(0, 10**7, n), rng.random(n) < 0.2
    arrival = np.sort(rng.integers(0, 10**9, n))
    service.serve(config, pages[:100], writes[:100], arrival[:100])        # compile
    t0 = time.perf_counter()
    service.serve(config, pages, writes, arrival)
    print(f"flash array, {n:,} random requests (20% writes), event-driven: {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
