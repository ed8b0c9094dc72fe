"""Run a generation scenario end to end: preset + model -> graphs -> Programs -> Stats.

A generation of ``gen`` tokens after a ``prompt``-token prompt is one prefill (which yields
the first token; its latency is the TTFT) and ``gen - 1`` decode steps; decode step j reads a
KV cache of ``prompt + j - 1`` tokens. Decode steps differ only in their context length, so by
default a set of ``decode_samples`` steps, evenly spread and always including the first and
the last, is simulated and the steps between them are interpolated linearly in the context
length (sums of parts stay equal to totals). ``decode_samples=0`` simulates every step.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Mapping

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from accsim.core.errors import ConfigError
from accsim.core.presets import Preset, resolve_preset
from accsim.core.program import Program
from accsim.core.registry import families, mapper as registry_mapper
from accsim.core.stats import ContractError, Stats, StepStats
from accsim.simulation.scenario import Scenario
from accsim.workloads.graph import Parallelism, Phase, build_graph
from accsim.workloads.model import ModelConfig, load_model


@dataclass(frozen=True)
class RunResult:
    stats: Stats
    preset: Preset
    model: ModelConfig
    program_digests: Mapping[str, Any]
    # (label, Program, Schedule) of prefill and the first/last simulated decode step, if asked
    timeline_steps: tuple = ()


def decode_contexts(prompt: int, gen: int, tokens_per_step: float = 1.0) -> np.ndarray:
    """Context length (cached tokens) of each decode step; a step yields ``tokens_per_step``
    tokens per sequence on average (more than 1 with multi-token prediction)."""
    steps = math.ceil((gen - 1) / tokens_per_step - 1e-9)
    return prompt + np.floor(np.arange(steps) * tokens_per_step + 1e-9).astype(np.int64)


def sample_steps(n_steps: int, samples: int) -> np.ndarray:
    """Indices of the decode steps to simulate (all of them if ``samples`` is 0 or enough)."""
    if samples == 0 or n_steps <= samples:
        return np.arange(n_steps)
    return np.unique(np.round(np.linspace(0, n_steps - 1, samples)).astype(np.int64))


def family_mapper(preset: Preset, mapper_name: str | None = None) -> Any:
    """The mapper that lowers onto ``preset``: the named one or the family's default."""
    family = families().get(preset.family)
    if not family.mapper:
        raise ConfigError([f"arch: preset '{preset.name}' is a {family.name} preset ({family.description}); "
                           f"use '{family.usage.format(preset=preset.name)}'"])
    mapper = registry_mapper(mapper_name or family.mapper, family.name)
    if mapper.family != family.name:
        raise ConfigError([f"mapper: '{mapper.name}' maps onto family '{mapper.family}', but "
                           f"preset '{preset.name}' is family '{family.name}'"])
    return mapper


def step_graph(preset: Preset, model: ModelConfig, phase: Phase, mapper_name: str | None = None) -> Any:
    """The OpGraph one device runs for ``phase`` (the batch split over data-parallel groups)."""
    mapper = family_mapper(preset, mapper_name)
    parallel = mapper.parallelism(preset.spec, model) if mapper.parallelism else Parallelism()
    if phase.batch % parallel.dp:
        raise ConfigError([f"batch: {phase.batch} sequences do not split evenly over {parallel.dp} "
                           f"data-parallel groups; use a multiple of {parallel.dp}"])
    return build_graph(model, replace(phase, batch=phase.batch // parallel.dp), parallel)


def lower_and_simulate(preset: Preset, model: ModelConfig, phase: Phase,
                       mapper_name: str | None) -> tuple[Stats, Program, str]:
    """Lower one pass and simulate it; returns its stats, Program and the Program's digest
    (hashed on a second thread while the model runs: hashing and numba kernels release the GIL)."""
    family = families().get(preset.family)
    graph = step_graph(preset, model, phase, mapper_name)
    program = family_mapper(preset, mapper_name).lower(graph, preset.spec)
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(program.digest)
        stats = family.simulate(preset.spec, program)
        if not isinstance(stats, StepStats):
            raise ContractError(f"family {family.name}: simulate() returned {type(stats).__name__}, "
                                "not the step stats of accsim.core.stats.step_stats")
        return with_work(stats, graph, family.work_kind), program, digest.result()


def with_work(stats: Stats, graph: Any, work_kind: Callable[[str], str] | None = None) -> Stats:
    """The step stats with the work of each op kind: the FLOPs of its ops and the bytes they
    read and write (what a roofline places each kind by), added to the stats kind of the same
    name, or to the one the family charges that kind's time to (``work_kind``)."""
    kinds = stats["by_op_kind"].to_dict()
    for op in graph.ops():
        kind = op.kind if op.kind in kinds or work_kind is None else work_kind(op.kind)
        if kind in kinds:
            entry = kinds[kind]
            entry["flops"] = entry.get("flops", 0) + op.flops
            entry["bytes"] = entry.get("bytes", 0) + op.bytes_read + op.bytes_written
    return Stats({**stats.to_dict(), "by_op_kind": kinds})


WORK_FIGURES = ("flops", "bytes")    # per op kind, from the graph (see with_work)


def _aggregate_decode(step_stats: list[Stats], sampled: np.ndarray, contexts: np.ndarray) -> dict:
    """Interpolate sampled decode steps over every step; return summed decode figures."""
    xs = contexts[sampled].astype(float)

    def total(values: list[float]) -> float:
        return float(np.interp(contexts.astype(float), xs, np.asarray(values, dtype=float)).sum())

    kinds = sorted({k for s in step_stats for k in s["by_op_kind"]})
    units = sorted({u for s in step_stats for u in s["by_unit"]})
    by_kind = {k: {figure: total([s["by_op_kind"][k].get(figure, 0.0) if k in s["by_op_kind"] else 0.0
                                  for s in step_stats])
                   for figure in ("exposed_s", *WORK_FIGURES)
                   if figure == "exposed_s" or any(figure in s["by_op_kind"].get(k, {}) for s in step_stats)}
               for k in kinds}
    by_unit = {u: {"busy_s": total([s["by_unit"][u]["busy_s"] if u in s["by_unit"] else 0.0
                                    for s in step_stats])} for u in units}
    latencies = [s["latency_s"] for s in step_stats]
    return {"steps": int(contexts.size), "steps_simulated": int(sampled.size),
            "latency_s": total(latencies), "energy_J": total([s["energy_J"] for s in step_stats]),
            "first_step_s": latencies[0], "last_step_s": latencies[-1],
            "by_op_kind": by_kind, "by_unit": by_unit,
            # the family's own per-step figures (utilisations, bytes, call counts) of the last
            # simulated step, at the longest context
            "last_step": {k: v for k, v in step_stats[-1].to_dict().items()
                          if isinstance(v, (int, float, str, bool))},
            # byte counters add up over the steps (interpolated like the latency)
            "totals": {k: total([float(s[k]) for s in step_stats]) for k, v in step_stats[-1].to_dict().items()
                       if k.endswith("_bytes") and isinstance(v, (int, float)) and not isinstance(v, bool)
                       and all(k in s for s in step_stats)}}


def _combine(prefill: Stats, decode: dict | None) -> tuple[dict, dict]:
    by_kind: dict[str, dict] = {}
    by_unit: dict[str, dict] = {}
    parts = [(prefill["by_op_kind"].to_dict(), prefill["by_unit"].to_dict())]
    if decode:
        parts.append((decode["by_op_kind"], decode["by_unit"]))
    for kinds, units in parts:
        for k, v in kinds.items():
            by_kind.setdefault(k, {"exposed_s": 0.0})["exposed_s"] += v["exposed_s"]
        for u, v in units.items():
            by_unit.setdefault(u, {"busy_s": 0.0})["busy_s"] += v["busy_s"]
    return by_kind, by_unit


@dataclass(frozen=True)
class _Passes:
    aggregate: dict           # interpolated over every context (see _aggregate_decode)
    sampled: np.ndarray       # indices of the simulated contexts
    digests: list             # digest of each simulated pass
    first: Program | None     # the first and last simulated passes (kept for timelines only)
    last: Program | None


class _Ticks:
    """Counts simulated passes for a progress display: ``report(done, total)`` after each."""

    def __init__(self, report: Callable[[int, int], None] | None, total: int) -> None:
        self.report, self.total, self.done = report, total, 0
        if report:
            report(0, total)            # the display knows its total before the first pass ends

    def __call__(self) -> None:
        self.done += 1
        if self.report:
            self.report(self.done, self.total)


def _one_token_passes(preset: Preset, model: ModelConfig, scenario: Scenario,
                      contexts: np.ndarray, new_tokens: int = 1, draft_modules: int = 0,
                      draft: ModelConfig | None = None, tick: Callable[[], None] = lambda: None,
                      keep_programs: bool = False) -> _Passes:
    """Simulate passes at a sample of the given cache lengths (with a draft model, each step
    is its ``new_tokens - 1`` one-token draft passes, then the verifying pass); keep only
    their stats, digests and, for a timeline, the first and last Program (a Program can be
    hundreds of MB: PIM-GPT's GPT-3 XL pass is 5.6M commands)."""
    sampled = sample_steps(contexts.size, scenario.decode_samples)
    stats, digests, first, last = [], [], None, None
    for ctx in contexts[sampled]:
        step, program, digest = lower_and_simulate(
            preset, model, Phase.decode(scenario.batch, int(ctx), new_tokens, draft_modules),
            scenario.mapper)
        if draft is not None:
            step = _with_draft_passes(step, preset, draft, scenario, int(ctx), new_tokens - 1)
        stats.append(step)
        tick()
        digests.append(digest)
        if keep_programs:
            first = first or program
            last = program
        del program
    return _Passes(_aggregate_decode(stats, sampled, contexts), sampled, digests, first, last)


def _with_draft_passes(verify: Stats, preset: Preset, draft: ModelConfig, scenario: Scenario,
                       ctx: int, n: int) -> Stats:
    """A speculative step: ``n`` one-token passes of the draft model (at contexts ctx .. ctx+n-1;
    simulated once at their mean, exact where a pass's time is linear in its context) and
    the verifying pass. The drafting shows as its own kind in the breakdown."""
    mid = Phase.decode(scenario.batch, ctx + (n - 1) // 2)
    one, _, _ = lower_and_simulate(preset, draft, mid, scenario.mapper)
    units = {u: {"busy_s": verify["by_unit"][u]["busy_s"] + n * one["by_unit"][u]["busy_s"]
                 if u in one["by_unit"] else verify["by_unit"][u]["busy_s"]} for u in verify["by_unit"]}
    kinds = {**verify["by_op_kind"].to_dict(), "draft_model": {"exposed_s": n * one["latency_s"]}}
    return Stats({**verify.to_dict(), "latency_s": verify["latency_s"] + n * one["latency_s"],
                  "energy_J": verify["energy_J"] + n * one["energy_J"], "by_op_kind": kinds,
                  "by_unit": units, "draft_pass_s": one["latency_s"]})


def load_named(model: str, field: str) -> ModelConfig:
    """A model named in scenario ``field``; an unknown one is an error naming the field."""
    from accsim.core.errors import UnknownNameError
    try:
        return load_model(model)
    except (UnknownNameError, ConfigError) as exc:
        raise ConfigError([f"{field}: {exc}"]) from None


def _draft(scenario: Scenario, model: ModelConfig) -> tuple[ModelConfig | None, int]:
    """(draft model or None, the MTP modules that draft): speculative decoding's drafter."""
    if scenario.draft_model:
        draft = load_named(scenario.draft_model, "draft_model").with_dtype(scenario.dtype)
        # a drafter proposes token ids the target verifies: one vocabulary (embedding tables
        # padded a little differently still share it)
        if abs(draft.vocab_size - model.vocab_size) > 0.01 * model.vocab_size:
            raise ConfigError([f"draft_model: {draft.name} has a vocabulary of {draft.vocab_size:,} tokens and "
                               f"{model.name} one of {model.vocab_size:,}; a draft model proposes the target's "
                               "token ids, so use one of the target's family (the same tokenizer)"])
        return draft, 0
    if scenario.draft_tokens > model.mtp_layers:
        raise ConfigError([f"draft_tokens: {model.name} has {model.mtp_layers} multi-token-prediction "
                           f"module(s) (num_nextn_predict_layers); --draft-tokens {scenario.draft_tokens} "
                           f"needs as many, or name a draft model (--draft-model)"])
    return None, scenario.draft_tokens


def run_model(scenario: Scenario, timeline: bool = False,
              on_pass: Callable[[int, int], None] | None = None) -> RunResult:
    """Simulate one model's scenario and return stats plus what produced them (and, if asked,
    the schedules of prefill and of the first and last simulated decode step for a timeline).
    ``on_pass(done, total)`` is called after each simulated pass (for a progress display)."""
    scenario.check()
    preset = resolve_preset(scenario.arch, _with_chips(scenario))
    model = load_model(scenario.model).with_dtype(scenario.dtype).with_routing_skew(scenario.routing_skew)
    draft, draft_modules = _draft(scenario, model)
    family = families().get(preset.family)
    steps: list[tuple[str, Program]] = []
    contexts = decode_contexts(scenario.prompt, scenario.gen, scenario.tokens_per_step)
    prefill_passes = (0 if scenario.decode_only else sample_steps(scenario.prompt, scenario.decode_samples).size
                      if family.prefill == "token_by_token" else 1)
    tick = _Ticks(on_pass, prefill_passes + sample_steps(contexts.size, scenario.decode_samples).size)
    if scenario.decode_only:
        prefill = Stats({"latency_s": 0.0, "energy_J": 0.0, "by_op_kind": {}, "by_unit": {},
                         "skipped": "decode_only: the prompt's KV cache is already in place"})
        prefill_digest = None
    elif family.prefill == "token_by_token":
        # the prompt runs one token per pass: pass i reads a cache of i tokens
        passes = _one_token_passes(preset, model, scenario, np.arange(scenario.prompt, dtype=np.int64),
                                   tick=tick, keep_programs=timeline)
        prefill = Stats(passes.aggregate)
        prefill_digest = passes.digests[0]
        steps.append(("prompt token 1", passes.first))
    else:
        prefill, prefill_program, prefill_digest = lower_and_simulate(
            preset, model, Phase.prefill(scenario.batch, scenario.prompt), scenario.mapper)
        tick()
        steps.append(("prefill", prefill_program if timeline else None))
        del prefill_program
    digests: dict[str, Any] = {"prefill": prefill_digest, "decode": []}
    decode = None
    if contexts.size:
        passes = _one_token_passes(preset, model, scenario, contexts, 1 + scenario.draft_tokens,
                                   draft_modules, draft, tick, keep_programs=timeline)
        decode = passes.aggregate
        digests["decode"] = passes.digests
        last = passes.sampled[-1]
        steps.append((f"decode step {passes.sampled[0] + 1} (context {contexts[passes.sampled[0]]})",
                      passes.first))
        if passes.sampled.size > 1:
            steps.append((f"decode step {last + 1} (context {contexts[last]})", passes.last))
    by_kind, by_unit = _combine(prefill, decode)
    decode_s = decode["latency_s"] if decode else 0.0
    latency_s = prefill["latency_s"] + decode_s
    energy_J = prefill["energy_J"] + (decode["energy_J"] if decode else 0.0)
    tokens = scenario.batch * (scenario.gen - 1 if scenario.decode_only else scenario.gen)
    tpot_s = decode_s / (scenario.gen - 1) if contexts.size else 0.0
    for u in by_unit.values():
        u["util_pct"] = 100.0 * u["busy_s"] / latency_s if latency_s else 0.0
    stats = {
        "scenario": {**asdict(scenario), "overrides": dict(scenario.overrides),
                     "family": preset.family, "mapper": scenario.mapper or family.mapper},
        "model": {"num_params": model.num_params, "dtype": model.dtype,
                  "checkpoint_quantization": model.quantization or "none"},
        "latency_s": latency_s, "ttft_s": prefill["latency_s"], "tpot_s": tpot_s,
        "tokens_per_s": tokens / latency_s if latency_s else 0.0,
        "decode_tokens_per_s": scenario.batch / tpot_s if tpot_s else 0.0,
        "energy_J": energy_J, "energy_per_token_J": energy_J / tokens,
        "decode_energy_per_token_J": (decode["energy_J"] / ((scenario.gen - 1) * scenario.batch)
                                      if decode else 0.0),
        "by_op_kind": by_kind, "by_unit": by_unit,
        "per_chip": _per_chip(family, preset, scenario, prefill["latency_s"], tpot_s),
        "prefill": prefill.to_dict(),
        "decode": decode or {"steps": 0, "steps_simulated": 0, "latency_s": 0.0, "energy_J": 0.0},
    }
    if timeline and family.schedule is None:
        raise ConfigError([f"--trace: timelines are not available for family '{family.name}' yet"])
    timeline_steps = tuple((label, program, family.schedule(preset.spec, program))
                           for label, program in steps) if timeline else ()
    return RunResult(Stats(stats), preset, model, digests, timeline_steps)


def _with_chips(scenario: Scenario) -> dict:
    """The preset overrides, plus the chip count when the scenario sets one."""
    overrides = dict(scenario.overrides)
    if scenario.chips:
        from accsim.core.presets import load_merged
        family = families().get(str(load_merged(scenario.arch).get("family")))
        if not family.chips_field:
            raise ConfigError([f"chips: family '{family.name}' runs on one device; drop --chips"])
        overrides[family.chips_field] = scenario.chips
    return overrides


def _per_chip(family: Any, preset: Preset, scenario: Scenario, ttft_s: float, tpot_s: float) -> dict:
    """Throughput per chip (package), as serving papers report it."""
    chips = family.chips_per_report(preset.spec) if family.chips_per_report else 1
    prefill = scenario.batch * scenario.prompt / ttft_s / chips if ttft_s else 0.0
    decode = scenario.batch / tpot_s / chips if tpot_s else 0.0
    return {"chips": chips, "prefill_tokens_per_s": prefill, "decode_tokens_per_s": decode}

