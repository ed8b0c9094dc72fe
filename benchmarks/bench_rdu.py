"""Speed of the rdu family (SN40L): fused decode steps, a prefill, and a 150-expert CoE run.

Usage: python benchmarks/bench_rdu.py
Each figure is one cold call in a fresh process state (the tier characterisation cache is
cleared; numba's on-disk cache is warm), whole step: graph build, partition into sections,
the step-count search (every candidate simulated cycle-level), and the simulation.
"""
from __future__ import annotations

import time

import accsim
from accsim.arch.dram import tier
from accsim.arch.rdu import tiers
from accsim.core.presets import resolve_preset
from accsim.simulation.runner import lower_and_simulate
from accsim.workloads import load_model
from accsim.workloads.graph import Phase


def cold(fn):
    tier._CHARACTERISED.clear()
    tiers.tier_rates.cache_clear()
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def main() -> None:
    for arch, model, phase, label in (
            ("sn40l-node8", "llama2-70b", Phase.decode(1, 4096), "fused decode step, context 4096"),
            ("sn40l-node16", "llama3.1-405b", Phase.decode(1, 8192), "fused decode step, context 8192"),
            ("sn40l-node8", "llama2-70b", Phase.prefill(1, 4096), "fused prefill, 4096-token prompt")):
        preset = resolve_preset(arch)
        m = load_model(model).with_dtype("bf16")
        (stats, program, _), seconds = cold(lambda: lower_and_simulate(preset, m, phase, None))
        print(f"{model} on {arch}, {label}: {stats['kernel_calls']} sections "
              f"({stats['sections_simulated']} distinct), {program.n_tasks:,} tasks, "
              f"{stats['latency_s'] * 1e3:.2f} ms simulated in {seconds:.2f} s")
    stats, seconds = cold(lambda: accsim.run("sn40l-node8", coe="150xllama2-7b", batch=8, gen=20,
                                             prompt=64, dtype="bf16"))
    print(f"CoE 150 x llama2-7b on sn40l-node8, batch 8, 20 tokens: {stats['coe.overall_s']:.3f} s "
          f"simulated in {seconds:.2f} s (router, {stats['coe.distinct_experts']} experts, "
          f"{stats['coe.expected_switches']:.2f} expected switches)")


if __name__ == "__main__":
    main()
