"""Validation metrics the npu family adds (Family.metrics)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


def metric_gemm_cycles(scenario: Mapping[str, Any], tmp: Path) -> float:
    """Compute cycles of one GEMM on an npu systolic-array preset."""
    from accsim.arch.npu.systolic import simulate_gemm
    from accsim.core.presets import resolve_preset

    spec = resolve_preset(scenario["arch"]).spec
    return float(simulate_gemm(spec, scenario["m"], scenario["k"], scenario["n"],
                               scenario.get("dataflow"))["compute_cycles"])


def metric_moe_all_to_all_us(scenario: Mapping[str, Any], tmp: Path) -> float:
    """Latency of one MoE dispatch or combine (``direction``) on an npu preset: the all-to-all
    op of a decode graph with ``tokens`` tokens per rank under expert parallelism ``ep``, run as
    the model runs it (one collective kernel on the die's port)."""
    from accsim.arch.npu.tiles import collective_kernel, simulate_kernel
    from accsim.core.presets import resolve_preset
    from accsim.workloads import Parallelism, Phase, build_graph, load_model

    spec = resolve_preset(scenario["arch"]).spec
    model = load_model(scenario["model"]).with_dtype(scenario.get("dtype", "bf16"))
    graph = build_graph(model, Phase.decode(int(scenario["tokens"]), 1024), Parallelism(ep=int(scenario["ep"])))
    op = next(o for o in graph.ops() if o.name.endswith(f"moe.{scenario['direction']}"))
    return simulate_kernel(spec, collective_kernel(op.kind, op.attrs)).cycles / spec.clock_hz * 1e6


def metric_kernel_hbm_efficiency_pct(scenario: Mapping[str, Any], tmp: Path) -> float:
    """HBM bandwidth one decode kernel achieves on a die, as a share of the die's peak: the
    program rows of the op ``op`` (e.g. 'L3.attn.score', MLA's memory-bound attention) of one
    decode step at ``batch`` sequences per die over ``context`` cached tokens, their HBM bytes
    over their simulated cycles."""
    from accsim.arch.npu.model import _results
    from accsim.core.presets import resolve_preset
    from accsim.simulation.runner import family_mapper, step_graph
    from accsim.workloads import Phase, load_model

    preset = resolve_preset(scenario["arch"], scenario.get("overrides"))
    spec = preset.spec
    model = load_model(scenario["model"]).with_dtype(scenario.get("dtype", "bf16"))
    graph = step_graph(preset, model, Phase.decode(int(scenario["batch"]) * spec.dies, int(scenario["context"])))
    program = family_mapper(preset).lower(graph, spec)
    rows = [i for i, name in enumerate(program.ops) if name.split("@")[0] == scenario["op"]]
    if not rows:
        raise ValueError(f"op {scenario['op']!r} is not in the decode program")
    _, results = _results(spec, program)
    moved = sum(results[i].hbm_bytes for i in rows)
    cycles = sum(results[i].cycles for i in rows)
    return 100.0 * moved / (cycles / spec.clock_hz) / (spec.memory.bandwidth_GBps * 1e9)
