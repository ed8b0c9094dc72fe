"""Step latencies for the serving layer, from the family's own cycle-level simulator.

Every pass a scheduler asks for is lowered by the family's mapper and simulated by the
family's model (``runner.lower_and_simulate``), through the family contract only, and
memoised. An iteration's batch is ragged (prompt chunks and decoding sequences, each with
its own cached context); it is costed as the one uniform pass (n' sequences of q' new tokens
on c' cached) with the same new tokens (what the linear layers process), the same cached
tokens read (the attention's KV traffic) and the same attention pairs (``StepModel.pass_s``).
A decode batch becomes decode(B, mean context), equal prompts their own prefill pass, and a
chunked-prefill iteration one fused pass, as the engines that batch them run it.

Families whose prompt runs one token per pass (``prefill: token_by_token``) cost a prompt
of L tokens on a cache of c as L one-token passes at context c + (L-1)/2, exact where a
pass's time is linear in its context.

With data parallelism a pass's batch is padded to a multiple of the data-parallel groups
(each group runs its share). ``exact`` memoises each distinct pass. ``grid`` simulates on a
grid (``per_octave`` points per doubling on every axis) and interpolates multilinearly, for
long runs; ``grid_error`` simulates a sample of the points actually asked for exactly and
reports how far the interpolation was.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from accsim.core.capacity import CapacityError
from accsim.core.errors import ConfigError
from accsim.core.presets import Preset, resolve_preset
from accsim.core.registry import families
from accsim.simulation.runner import _with_chips, family_mapper, load_named, lower_and_simulate, step_graph
from accsim.simulation.scenario import Scenario
from accsim.workloads.graph import Parallelism, Phase
from accsim.workloads.model import ModelConfig

MAX_PROBE_TOKENS = 1 << 30     # the KV-capacity search stops at 1G tokens a group


@dataclass(frozen=True)
class Machine:
    """What the serving layer runs on: a preset, a model, and how a pass splits."""

    scenario: Scenario
    preset: Preset
    model: ModelConfig
    dp: int                      # data-parallel groups
    tp: int                      # tensor-parallel degree (a device holds 1/tp of a token's KV)
    batch_unit: int              # a pass's batch is a multiple of this (data-parallel groups x the
                                 # fewest sequences a group's pass takes, e.g. one per microbatch)
    token_by_token: bool         # the prompt runs one token per pass
    new_tokens: int              # tokens a decode pass appends per sequence (1 + draft tokens)

    @property
    def tokens_per_step(self) -> float:
        return self.scenario.tokens_per_step


def load_machine(scenario: Scenario) -> Machine:
    """The machine of a scenario's arch/model/dtype/overrides/chips/mapper/draft fields."""
    scenario.check()
    problems = [f"{name}: not available in serving ({why})" for name, value, why in (
        ("coe", scenario.coe, "a composition of experts has its own router; serve one expert"),
        ("draft_model", scenario.draft_model, "a separate draft model; use the model's MTP modules"))
        if value]
    if problems:
        raise ConfigError(problems)
    preset = resolve_preset(scenario.arch, _with_chips(scenario))
    model = load_named(scenario.model, "model").with_dtype(scenario.dtype).with_routing_skew(scenario.routing_skew)
    if scenario.draft_tokens > model.mtp_layers:
        raise ConfigError([f"draft_tokens: {model.name} has {model.mtp_layers} multi-token-prediction "
                           f"module(s); --draft-tokens {scenario.draft_tokens} needs as many"])
    family = families().get(preset.family)
    mapper = family_mapper(preset, scenario.mapper or None)
    parallel = mapper.parallelism(preset.spec, model) if mapper.parallelism else Parallelism()
    return Machine(scenario, preset, model, parallel.dp, parallel.tp, smallest_batch(preset, model, scenario.mapper, parallel.dp),
                   family.prefill == "token_by_token", 1 + scenario.draft_tokens)


def lower_decode(preset: Preset, model: ModelConfig, mapper_name: str, batch: int, context: int) -> None:
    """Lower (only) a one-token decode pass: the mapper's own errors, capacity ones included."""
    mapper = family_mapper(preset, mapper_name or None)
    mapper.lower(step_graph(preset, model, Phase.decode(batch, context), mapper_name or None), preset.spec)


def lowers(preset: Preset, model: ModelConfig, mapper_name: str, batch: int) -> None:
    """Lower a one-token decode pass of ``batch`` sequences; the mapper's ConfigError if it
    refuses the batch (a CapacityError is not a refusal: the KV search says how much fits)."""
    try:
        lower_decode(preset, model, mapper_name, batch, 1)
    except CapacityError:
        pass


def smallest_batch(preset: Preset, model: ModelConfig, mapper_name: str, dp: int) -> int:
    """The smallest batch, in whole data-parallel groups, that the mapper lowers: dp, 2dp, 4dp,
    ... (a family may need several sequences per group, one per microbatch); the mapper's own
    error if none up to 64 per group is accepted."""
    per_group = 1
    while True:
        try:
            lowers(preset, model, mapper_name, dp * per_group)
            return dp * per_group
        except ConfigError:
            if per_group >= 64:
                raise
            per_group *= 2


def grid_bracket(x: float, per_octave: int, lowest: int) -> tuple[int, int]:
    """The grid points around ``x`` (equal when x is one): ``lowest`` (0 or 1), then
    round(2^(k/per_octave)) for k = 0, 1, ... (distinct integers)."""
    if x <= lowest:
        return lowest, lowest
    if x < 1:                        # between 0 and 1 on a context axis
        return 0, 1
    k = math.log2(x) * per_octave
    lo, hi = round(2 ** (math.floor(k + 1e-9) / per_octave)), round(2 ** (math.ceil(k - 1e-9) / per_octave))
    lo = min(lo, math.floor(x))
    hi = max(hi, math.ceil(x))
    return lo, hi


class StepModel:
    """Latency of the passes a scheduler asks for (seconds), memoised."""

    def __init__(self, machine: Machine, grid_per_octave: int = 0) -> None:
        if grid_per_octave < 0:
            raise ConfigError([f"--grid-per-octave: expected >= 1 (0 = exact), got {grid_per_octave}"])
        self.machine = machine
        self.per_octave = grid_per_octave
        self.passes: dict[tuple, float] = {}     # (kind, groups, tokens, context) -> simulated seconds
        self.asked: dict[tuple, None] = {}       # points asked for in grid mode (in order)

    # ---- the passes ----------------------------------------------------------------------

    def _simulate(self, key: tuple) -> float:
        if key not in self.passes:
            kind, groups, tokens, context = key
            m = self.machine
            batch = groups * m.batch_unit
            if kind == "decode":         # with multi-token prediction its modules draft next
                phase = Phase.decode(batch, context, tokens, m.scenario.draft_tokens)
            elif context == 0:
                phase = Phase.prefill(batch, tokens)
            else:               # a prompt chunk on top of cached tokens
                phase = Phase.decode(batch, context, tokens)
            stats, _, _ = lower_and_simulate(m.preset, m.model, phase, m.scenario.mapper or None)
            self.passes[key] = float(stats["latency_s"])
        return self.passes[key]

    def _lookup(self, kind: str, groups: float, tokens: float, context: float) -> float:
        """One pass, exact (rounded to integers) or interpolated on the grid."""
        exact = (kind, max(1, round(groups)), max(1, round(tokens)), max(0, round(context)))
        if not self.per_octave:
            return self._simulate(exact)
        self.asked.setdefault((kind, groups, tokens, context), None)
        try:
            return self._interpolate(kind, groups, tokens, context)
        except ConfigError:        # a grid point beyond the pass does not fit the memory or the
            return self._simulate(exact)    # model's positions: the exact pass (its own error if any)

    def _interpolate(self, kind: str, groups: float, tokens: float, context: float) -> float:
        axes = [grid_bracket(groups, self.per_octave, 1), grid_bracket(tokens, self.per_octave, 1),
                grid_bracket(context, self.per_octave, 0)]
        total = 0.0
        for corner in range(8):
            weight, point = 1.0, []
            for axis, (lo, hi), x in zip(range(3), axes, (groups, tokens, context)):
                pick_hi = corner >> axis & 1
                if lo == hi:
                    if pick_hi:
                        weight = 0.0
                    point.append(lo)
                    continue
                frac = (x - lo) / (hi - lo)
                weight *= frac if pick_hi else 1 - frac
                point.append(hi if pick_hi else lo)
            if weight:
                total += weight * self._simulate((kind, *point))
        return total

    def groups(self, batch: int) -> float:
        """Data-parallel groups' share of a batch, padded up to a whole sequence per group."""
        return math.ceil(batch / self.machine.batch_unit)

    def decode_s(self, contexts: np.ndarray) -> float:
        """One decode pass over sequences with these cached-token counts."""
        return self.pass_s(np.zeros(0), np.zeros(0), contexts)

    def prefill_s(self, tokens: np.ndarray, contexts: np.ndarray | None = None) -> float:
        """One pass appending prompt tokens (``tokens[i]`` on ``contexts[i]`` cached; none: whole
        prompts)."""
        return self.pass_s(tokens, np.zeros(tokens.size) if contexts is None else contexts, np.zeros(0))

    def pass_s(self, chunk_tokens: np.ndarray, chunk_contexts: np.ndarray, decode_contexts: np.ndarray) -> float:
        """One pass over a ragged batch: prompt chunks (``chunk_tokens`` on ``chunk_contexts``
        cached) and decoding sequences (one step's tokens on ``decode_contexts``). It is costed
        as the uniform pass of n' sequences of q' new tokens on c' cached with the ragged batch's
        new tokens T = n'q', cached-token reads S = n'(c' + q') and attention pairs
        P = n'q'(c' + q'): q' = P/S, n' = T/q', c' = S/n' - q' (rounded). A pure decode or
        equal-prompt batch gives its own uniform pass."""
        m = self.machine
        if m.token_by_token and chunk_tokens.size:
            # prompts run one token per pass: a chunk of k tokens is k passes, side by side for
            # the chunks of one iteration, at the chunks' mean middle context
            decode = self.pass_s(np.zeros(0), np.zeros(0), decode_contexts) if decode_contexts.size else 0.0
            middle = float((chunk_contexts + (chunk_tokens - 1) / 2).mean())
            return decode + round(float(chunk_tokens.mean())) * self._lookup(
                "decode", self.groups(chunk_tokens.size), 1, middle)
        tokens = np.concatenate([chunk_tokens.astype(float), np.full(decode_contexts.size, float(m.new_tokens))])
        kv = np.concatenate([chunk_contexts, decode_contexts]) + tokens
        new, reads, pairs = float(tokens.sum()), float(kv.sum()), float((tokens * kv).sum())
        q = max(1, round(pairs / reads))
        n = max(1, round(new / q))
        # whole prompts (nothing cached) stay a prefill pass: rounding n' must not turn into a
        # made-up cached context (a third grid axis)
        context = max(0, round(reads / n - q)) if decode_contexts.size or chunk_contexts.any() else 0
        if not chunk_tokens.size:
            return self._lookup("decode", self.groups(n), q, context)
        return self._lookup("prefill", self.groups(n), q, context)

    # ---- how good the grid is ------------------------------------------------------------

    def grid_error(self, samples: int, seed: int = 0) -> dict:
        """Interpolated vs exactly simulated latency on ``samples`` of the points asked for."""
        if not self.per_octave or not self.asked or samples == 0:
            return {}
        asked = list(self.asked)
        rng = np.random.default_rng(seed)
        picks = rng.choice(len(asked), size=min(samples, len(asked)), replace=False)
        exact = StepModel(self.machine, 0)
        exact.passes = self.passes                 # grid points are exact points too
        errors = []
        for i in sorted(picks):
            kind, groups, tokens, context = asked[i]
            grid_s = self._lookup(kind, groups, tokens, context)
            exact_s = exact._lookup(kind, groups, tokens, context)
            errors.append(abs(grid_s - exact_s) / exact_s)
        return {"points_checked": len(errors), "max_rel_error": float(max(errors)),
                "mean_rel_error": float(np.mean(errors))}


def largest_passing(test: Callable[[int], bool], most: int) -> int:
    """The largest n in [1, most] with test(n), for a test that holds at 1 and, once it fails,
    fails for every larger n: doubling, then bisection."""
    lo, hi = 1, 2
    while hi <= most and test(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, most + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if test(mid) else (lo, mid)
    return lo


PROBE_SEQUENCE_TOKENS = 4096     # the sequence length the KV-capacity search fills memory with


def max_context_tokens(model: ModelConfig) -> int | None:
    """The longest sequence the model takes (learned positions), or None (rotary: no limit)."""
    return model.max_positions if model.learned_positions else None


def kv_capacity_tokens(machine: Machine) -> int:
    """KV-cache tokens the whole machine holds beside the weights, found with the family's own
    capacity check (lowering a decode pass raises a CapacityError when it does not fit): the
    most sequences of PROBE_SEQUENCE_TOKENS (or the model's longest) that fit, in whole
    data-parallel groups, times their length; with fewer than one such sequence per group, the
    longest context one sequence per group may have. A machine that runs no larger batch (the
    mapper refuses it) holds what its largest batch holds."""
    length = min(PROBE_SEQUENCE_TOKENS, max_context_tokens(machine.model) or PROBE_SEQUENCE_TOKENS)

    def fits(groups: int, tokens: int) -> bool:
        try:
            lower_decode(machine.preset, machine.model, machine.scenario.mapper, groups * machine.batch_unit,
                         tokens - 1)
        except CapacityError:
            return False
        except ConfigError:
            if groups == 1:
                raise
            return False        # a batch the machine does not run (PIM-GPT runs one sequence)
        return True

    if not fits(1, 1):
        raise CapacityError([f"arch: {machine.model.name} does not fit on {machine.preset.name} even with a "
                             "one-token cache (see 'accsim run' for the capacity error and its fixes)"])
    if not fits(1, length):
        return largest_passing(lambda tokens: fits(1, tokens), length) * machine.batch_unit
    groups = largest_passing(lambda g: fits(g, length), MAX_PROBE_TOKENS // length)
    return groups * machine.batch_unit * length
