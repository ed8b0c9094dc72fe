"""Validation: run every published case through the simulator and compare, honestly.

A case file (``published/*.yaml``) names a system, a family and cases; each case has an id, a
citation (``source``), a ``metric`` (the core's ``CORE_METRICS`` or a family's ``Family.metrics``), the ``scenario`` the metric
needs, the published value (``published``) or range (``published_range: [low, high]``) and a
``tolerance_pct``. The published number is only ever compared with, never read by a model.
"""
from __future__ import annotations

import json
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from accsim.config import read_yaml
from accsim.errors import AccsimError, ConfigError, ProblemList, did_you_mean
from accsim.scenario import RUN_KEYS, default
from accsim.units import unit_of

PUBLISHED_DIR = Path(__file__).parent / "published"
CASE_KEYS = ("id", "source", "metric", "scenario", "published", "published_range", "tolerance_pct", "note",
             "curve", "show")


@dataclass(frozen=True)
class Case:
    id: str
    system: str
    source: str
    metric: str
    scenario: Mapping[str, Any]
    published: float | None
    published_range: tuple[float, float] | None
    tolerance_pct: float
    note: str = ""
    # optional: {over: scenario key, values: [...], stat: dotted stat} printed as a curve
    curve: Mapping[str, Any] | None = None
    show: str = ""          # optional: a dotted stat of the case's own run, printed with it


@dataclass(frozen=True)
class Outcome:
    case: Case
    simulated: float | None
    error_pct: float | None
    within: bool
    failure: str | None = None
    curve: tuple = ()          # ((value, stat), ...) when the case asks for a curve
    shown: Mapping[str, Any] | None = None   # the stat the case asks to show

    def as_row(self) -> dict[str, Any]:
        c = self.case
        return {"id": c.id, "system": c.system, "metric": c.metric, "unit": case_unit(c), "source": c.source,
                "published": c.published if c.published is not None else None,
                "published_range": list(c.published_range) if c.published_range else None,
                "tolerance_pct": c.tolerance_pct, "simulated": self.simulated,
                "error_pct": self.error_pct, "within": self.within, "failure": self.failure,
                "curve": [list(point) for point in self.curve], "shown": self.shown}


# metrics whose name is not a stat name (a stat's unit is its name's suffix: accsim.units)
METRIC_UNITS = {"speedup": "ratio", "stat_ratio": "ratio", "eager_kernels_per_step": "kernels",
                "gemm_cycles": "cycles"}


def case_unit(case: Case) -> str:
    """The unit of a case's published and simulated figures, from its metric or stat name."""
    if case.metric in METRIC_UNITS:
        return METRIC_UNITS[case.metric]
    if "unit" in case.scenario:          # a figure whose name carries no unit suffix
        return str(case.scenario["unit"])
    return unit_of(str(case.scenario.get("stat", case.metric))) or "count"


# ---- metrics ------------------------------------------------------------------------------
def model_path(model: Any, tmp: Path, name: str) -> str:
    """A model name as is; an inline HF-style config written to a temporary config file."""
    if isinstance(model, str):
        return model
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(model))
    return str(path)


_RUNS: dict[str, Any] = {}     # simulations are pure: cases sharing a scenario share its run


def _run(scenario: Mapping[str, Any], tmp: Path, **extra: Any) -> Any:
    import accsim
    args = {k: v for k, v in scenario.items() if k in RUN_KEYS}
    args.update(extra)
    model = extra.get("model", scenario.get("model", default("model")))
    key = json.dumps({**args, "model": model}, sort_keys=True, default=str)
    if key not in _RUNS:
        _RUNS[key] = accsim.run(**{**args, "model": model_path(model, tmp, "model")})
    return _RUNS[key]


def metric_stat(scenario: Mapping[str, Any], tmp: Path) -> float:
    """A stat of one run (``stat``: dotted path), times ``scale`` (default 1)."""
    return float(_run(scenario, tmp)[scenario["stat"]]) * float(scenario.get("scale", 1.0))


def metric_speedup(scenario: Mapping[str, Any], tmp: Path) -> float:
    """baseline stat / system stat for a cost-like ``stat`` (default tpot_s: a speed-up; with
    decode_energy_per_token_J: an energy-efficiency ratio). ``baseline`` overrides scenario keys."""
    stat = scenario.get("stat", "tpot_s")
    system = _run(scenario, tmp)[stat]
    baseline = _run({**scenario, **scenario["baseline"]}, tmp)[stat]
    return float(baseline) / float(system)


def metric_stat_ratio(scenario: Mapping[str, Any], tmp: Path) -> float:
    """``stat`` of this run over ``baseline_stat`` of the ``baseline`` run (two different
    figures, e.g. experts one system holds over experts another holds resident)."""
    system = _run(scenario, tmp)[scenario["stat"]]
    baseline = _run({**scenario, **scenario["baseline"]}, tmp)[scenario["baseline_stat"]]
    return float(system) / float(baseline)


def metric_decode_time_per_layer_ms(scenario: Mapping[str, Any], tmp: Path) -> float:
    """Least-squares slope of TPOT over the number of layers of one model shape."""
    layers = list(scenario["layers"])
    tpots = []
    for n in layers:
        model = model_path({**scenario["model"], "n_layer": n}, tmp, f"model{n}")
        tpots.append(_run(scenario, tmp, model=model, gen=2)["tpot_s"])
    return float(np.polyfit(layers, tpots, 1)[0] * 1e3)


_SERVED: dict[str, Any] = {}


def metric_serve_stat(scenario: Mapping[str, Any], tmp: Path) -> float:
    """A figure of a serving run (``accsim serve``): the machine from the run keys, the serve
    options from ``serve``, the figure from ``stat`` (a flat name such as
    ``throughput_tokens_per_s_per_chip`` or ``search.batch_per_chip``)."""
    from accsim.scenario import Scenario
    from accsim.serving.options import serve_options
    from accsim.serving.run import flat_figures, run_serve
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
    "decode_time_per_layer_ms": metric_decode_time_per_layer_ms,
}


def metrics() -> dict[str, Callable[[Mapping[str, Any], Path], float]]:
    """The core's metrics plus every registered family's (``Family.metrics``)."""
    from accsim.registry import families
    found = dict(CORE_METRICS)
    for family in families().values():
        for name, fn in family.metrics.items():
            if name in found:
                raise ConfigError([f"validation metric '{name}' of family {family.name} is "
                                   "already defined"])
            found[name] = fn
    return found

# ---- loading and running --------------------------------------------------------------------
def load_cases(directory: Path = PUBLISHED_DIR) -> list[Case]:
    """Every case of every case file, checked (unknown keys, metric names, values)."""
    problems = ProblemList()
    cases: list[Case] = []
    known_metrics = metrics()
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = read_yaml(path)
        except ConfigError as exc:
            problems.problems += exc.problems
            continue
        for i, raw in enumerate(data.get("cases", [])):
            where = f"{path.name}: cases[{i}]"
            for key in raw:
                if key not in CASE_KEYS:
                    problems.add(where, f"unknown key '{key}'{did_you_mean(key, CASE_KEYS)}")
            if raw.get("metric") not in known_metrics:
                problems.add(where, f"metric {raw.get('metric')!r}: expected one of {', '.join(known_metrics)}")
            if (raw.get("published") is None) == (raw.get("published_range") is None):
                problems.add(where, "give exactly one of published or published_range")
            _check_published(raw, where, problems)
            if not raw.get("source"):
                problems.add(where, "every case needs its source (paper, table or figure)")
            _check_curve(raw.get("curve"), f"{where}.curve", problems)
            rng = raw.get("published_range")
            cases.append(Case(str(raw.get("id", f"{path.stem}-{i}")), str(data.get("system", path.stem)),
                              str(raw.get("source", "")), str(raw.get("metric")), raw.get("scenario") or {},
                              raw.get("published"), tuple(rng) if rng else None,
                              float(raw.get("tolerance_pct", 20)), str(raw.get("note", "")),
                              raw.get("curve"), str(raw.get("show", ""))))
    problems.raise_if_any()
    ids = [c.id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError([f"duplicate case ids: {', '.join(duplicates)}"])
    return cases


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_published(raw: Mapping[str, Any], where: str, problems: ProblemList) -> None:
    """Published figures are numbers (any notation, 1.5e9 included)."""
    value, rng = raw.get("published"), raw.get("published_range")
    if value is not None and not _is_number(value):
        problems.add(where, f"published: expected a number, got {value!r}")
    if rng is not None and not (isinstance(rng, list) and len(rng) == 2 and all(map(_is_number, rng))
                                and rng[0] <= rng[1]):
        problems.add(where, f"published_range: expected [low, high] numbers with low <= high, got {rng!r}")
    if not _is_number(raw.get("tolerance_pct", 20)) or raw.get("tolerance_pct", 20) < 0:
        problems.add(where, f"tolerance_pct: expected a number >= 0, got {raw.get('tolerance_pct')!r}")


def _check_curve(curve: Any, where: str, problems: ProblemList) -> None:
    """A curve re-runs the case's scenario over one run key: a typo must not silently re-run
    the same scenario."""
    if curve is None:
        return
    if not isinstance(curve, dict) or set(curve) != {"over", "values", "stat"}:
        problems.add(where, "expected {over: run key, values: [...], stat: dotted stat}")
    elif curve["over"] not in RUN_KEYS:
        problems.add(where, f"over: {curve['over']!r} is not a run key{did_you_mean(str(curve['over']), RUN_KEYS)}; "
                            f"known: {', '.join(RUN_KEYS)}")


def compare(case: Case, simulated: float) -> tuple[float, bool]:
    """(signed error %, within tolerance). For a range: distance to the nearest bound."""
    if case.published is not None:
        error = 100.0 * (simulated - case.published) / case.published
    else:
        low, high = case.published_range
        if low <= simulated <= high:
            error = 0.0
        else:
            bound = low if simulated < low else high
            error = 100.0 * (simulated - bound) / bound
    return error, abs(error) <= case.tolerance_pct


def run_case(case: Case) -> Outcome:
    """Simulate one case; a failure to run is an outcome with its reason, not an exception."""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            simulated = metrics()[case.metric](case.scenario, Path(tmp))
            curve = _curve(case, Path(tmp))
            shown = _run(case.scenario, Path(tmp))[case.show] if case.show else None
    except AccsimError as exc:
        return Outcome(case, None, None, False, str(exc))
    except Exception:
        return Outcome(case, None, None, False, traceback.format_exc(limit=3))
    error, within = compare(case, simulated)
    shown = shown.to_dict() if hasattr(shown, "to_dict") else shown
    return Outcome(case, simulated, error, within, curve=curve, shown=shown)


def _curve(case: Case, tmp: Path) -> tuple:
    """The case's scenario re-run at each value of one key, one stat per value."""
    if not case.curve:
        return ()
    over, stat = case.curve["over"], case.curve["stat"]
    return tuple((v, float(_run({**case.scenario, over: v}, tmp)[stat])) for v in case.curve["values"])


def run_all(select: str | None = None, on_case: Callable[[int, int], None] | None = None) -> list[Outcome]:
    """Every (selected) case; ``on_case(done, total)`` after each (for a progress display)."""
    every = load_cases()
    cases = [c for c in every if not select or select in c.id]
    if not cases:
        groups = sorted({c.id.split("-")[0] for c in every})
        raise AccsimError(f"-k {select}: no case id contains it; ids start with {', '.join(groups)} "
                          "(see 'accsim validate --help')")
    outcomes = []
    for case in cases:
        outcomes.append(run_case(case))
        if on_case:
            on_case(len(outcomes), len(cases))
    return outcomes


def markdown_table(outcomes: list[Outcome]) -> str:
    lines = ["| case | metric | unit | published | simulated | error % | within tolerance | source |",
             "|---|---|---|---:|---:|---:|---|---|"]
    for o in outcomes:
        c = o.case
        pub = f"{c.published:g}" if c.published is not None else f"{c.published_range[0]:g}-{c.published_range[1]:g}"
        sim = f"{o.simulated:.4g}" if o.simulated is not None else "failed to run"
        err = f"{o.error_pct:+.1f}" if o.error_pct is not None else "-"
        verdict = "yes" if o.within else ("no (miss)" if o.failure is None else "no (failed)")
        source = c.source.replace("|", "/").replace("\n", " ")
        lines.append(f"| {c.id} | {c.metric} | {case_unit(c)} | {pub} | {sim} | {err} | "
                     f"{verdict} (±{c.tolerance_pct:g}%) | {source} |")
    return "\n".join(lines) + "\n"
