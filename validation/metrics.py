"""Validation metrics: how a case's scenario becomes one simulated figure.

A metric is ``f(scenario, tmp) -> float``; the core's are below, a family adds its own
(``Family.metrics``). Runs are pure, so cases that share a scenario share its run. A scenario
(or its ``baseline``) may carry ``best_over: {key: [values]}``: the stat is taken at each value
and the best kept (``better``: lower, or higher for rates such as tokens/s); a value that does
not fit the machine is skipped, as the paper's system would run out of memory there. What was
picked is noted with the case's outcome.
"""
from __future__ import annotations

import contextvars
import json
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from accsim.core.capacity import CapacityError
from accsim.core.errors import AccsimError, ConfigError
from accsim.core.units import unit_of
from accsim.simulation.scenario import RUN_KEYS, default

# rates are better high; every other figure a case picks a best of (time, energy) is better low
HIGHER_IS_BETTER_UNITS = ("tokens/s", "GB/s")
# what the metrics of the case being run noted (best_over picks); set by the harness per case
NOTES: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("validation_notes", default=None)


def _note(text: str) -> None:
    notes = NOTES.get()
    if notes is not None and text not in notes:
        notes.append(text)


def model_path(model: Any, tmp: Path, name: str) -> str:
    """A model name as is; an inline HF-style config written to a temporary config file."""
    if isinstance(model, str):
        return model
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(model))
    return str(path)


_RUNS: dict[str, Any] = {}     # simulations are pure: cases sharing a scenario share its run


def run_scenario(scenario: Mapping[str, Any], tmp: Path, **extra: Any) -> Any:
    """The stats of one run of the scenario's run keys (memoised)."""
    import accsim
    args = {k: v for k, v in scenario.items() if k in RUN_KEYS}
    args.update(extra)
    model = extra.get("model", scenario.get("model", default("model")))
    key = json.dumps({**args, "model": model}, sort_keys=True, default=str)
    if key not in _RUNS:
        _RUNS[key] = accsim.run(**{**args, "model": model_path(model, tmp, "model")})
    return _RUNS[key]


def better_of(scenario: Mapping[str, Any], stat: str) -> str:
    """lower or higher: the scenario's ``better``, else from the stat's unit."""
    if "better" in scenario:
        return str(scenario["better"])
    return "higher" if unit_of(stat) in HIGHER_IS_BETTER_UNITS else "lower"


def stat_of(scenario: Mapping[str, Any], tmp: Path, stat: str, side: str = "system") -> float:
    """One stat of the scenario's run, or the best over its ``best_over`` list."""
    best = scenario.get("best_over")
    if not best:
        return float(run_scenario(scenario, tmp)[stat])
    (key, values), = best.items()
    tried, skipped = [], []
    for value in values:
        try:
            tried.append((float(run_scenario({**scenario, key: value}, tmp)[stat]), value))
        except CapacityError:
            skipped.append(value)
    if not tried:
        raise AccsimError(f"{side}: no {key} of {values} fits the machine")
    pick = max if better_of(scenario, stat) == "higher" else min
    figure, chosen = pick(tried, key=lambda t: t[0])
    _note(f"{side}: best {key} {chosen} of {values}" + (f" ({key} {', '.join(map(str, skipped))} do not fit)"
                                                         if skipped else ""))
    return figure


def baseline_of(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline's scenario: the case's, less the system's own best_over, with the baseline's keys."""
    system = {k: v for k, v in scenario.items() if k not in ("best_over", "baseline")}
    return {**system, **scenario["baseline"]}


def metric_stat(scenario: Mapping[str, Any], tmp: Path) -> float:
    """A stat of one run (``stat``: dotted path), times ``scale`` (default 1)."""
    return stat_of(scenario, tmp, scenario["stat"]) * float(scenario.get("scale", 1.0))


def metric_speedup(scenario: Mapping[str, Any], tmp: Path) -> float:
    """How much better the system is than the ``baseline`` (scenario keys it overrides) on
    ``stat`` (default tpot_s): baseline / system for a cost (time, energy: an energy-efficiency
    ratio with decode_energy_per_token_J), system / baseline for a rate (tokens/s)."""
    stat = scenario.get("stat", "tpot_s")
    system = stat_of(scenario, tmp, stat)
    baseline = stat_of(baseline_of(scenario), tmp, stat, side="baseline")
    return system / baseline if better_of(scenario, stat) == "higher" else baseline / system


def metric_stat_ratio(scenario: Mapping[str, Any], tmp: Path) -> float:
    """``stat`` of this run over ``baseline_stat`` of the ``baseline`` run (two different
    figures, e.g. experts one system holds over experts another holds resident)."""
    system = stat_of(scenario, tmp, scenario["stat"])
    return system / stat_of(baseline_of(scenario), tmp, scenario["baseline_stat"], side="baseline")


def metric_largest_fitting(scenario: Mapping[str, Any], tmp: Path) -> float:
    """The largest value of ``over`` (a run key, ``values`` ascending) at which the scenario runs
    without a capacity error: where a system runs out of memory (0 when none fits)."""
    key, values = scenario["over"], list(scenario["values"])
    if values != sorted(values):
        raise ConfigError([f"scenario.values: expected ascending values of {key}, got {values}"])
    largest = 0.0
    for value in values:
        try:
            run_scenario({**scenario, key: value}, tmp)
        except CapacityError:
            break
        largest = float(value)
    return largest


def metric_share(scenario: Mapping[str, Any], tmp: Path) -> float:
    """Percent of a breakdown that some of its parts take (what dominates a step): ``of`` a
    dotted breakdown of the run ({part: {field: value}}, e.g. decode.by_op_kind), ``parts`` the
    parts counted, ``field`` (default exposed_s); ``total`` a dotted stat to divide by instead of
    the breakdown's sum (a unit's busy time over the latency)."""
    breakdown = run_scenario(scenario, tmp)[scenario["of"]]
    field = scenario.get("field", "exposed_s")
    parts = list(scenario["parts"])
    unknown = [p for p in parts if p not in breakdown]
    if unknown:
        raise ConfigError([f"scenario.parts: {', '.join(unknown)} not in {scenario['of']} "
                           f"(it has {', '.join(breakdown)})"])
    part = sum(float(breakdown[p][field]) for p in parts)
    total = (float(run_scenario(scenario, tmp)[scenario["total"]]) if "total" in scenario
             else sum(float(v[field]) for v in breakdown.values()))
    return 100.0 * part / total


def metric_decode_time_per_layer_ms(scenario: Mapping[str, Any], tmp: Path) -> float:
    """Least-squares slope of TPOT over the number of layers of one model shape."""
    layers = list(scenario["layers"])
    tpots = []
    for n in layers:
        model = model_path({**scenario["model"], "n_layer": n}, tmp, f"model{n}")
        tpots.append(run_scenario(scenario, tmp, model=model, gen=2)["tpot_s"])
    return float(np.polyfit(layers, tpots, 1)[0] * 1e3)


_SERVED: dict[str, Any] = {}


def metric_serve_stat(scenario: Mapping[str, Any], tmp: Path) -> float:
    """A figure of a serving run (``accsim serve``): the machine from the run keys, the serve
    options from ``serve``, the figure from ``stat`` (a flat name such as
    ``throughput_tokens_per_s_per_chip`` or ``search.batch_per_chip``)."""
    from accsim.serving.options import serve_options
    from accsim.serving.run import flat_figures, run_serve
    from accsim.simulation.scenario import Scenario
    machine = {k: v for k, v in scenario.items() if k in RUN_KEYS}
    key = json.dumps({**machine, "serve": scenario["serve"]}, sort_keys=True, default=str)
    if key not in _SERVED:
        model = model_path(scenario.get("model", default("model")), tmp, "model")
        _SERVED[key] = flat_figures(run_serve(Scenario(**{**machine, "model": model}),
                                              serve_options(scenario["serve"], "scenario.serve")))
    return float(_SERVED[key][scenario["stat"]])


CORE_METRICS: dict[str, Callable[[Mapping[str, Any], Path], float]] = {
    "stat": metric_stat,
    "serve_stat": metric_serve_stat,
    "speedup": metric_speedup,
    "stat_ratio": metric_stat_ratio,
    "share": metric_share,
    "largest_fitting": metric_largest_fitting,
    "decode_time_per_layer_ms": metric_decode_time_per_layer_ms,
}


def metrics() -> dict[str, Callable[[Mapping[str, Any], Path], float]]:
    """The core's metrics plus every registered family's (``Family.metrics``)."""
    from accsim.core.registry import families
    found = dict(CORE_METRICS)
    for family in families().values():
        for name, fn in family.metrics.items():
            if name in found:
                raise ConfigError([f"validation metric '{name}' of family {family.name} is "
                                   "already defined"])
            found[name] = fn
    return found
