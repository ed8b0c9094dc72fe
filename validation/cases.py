"""Validation cases: what a source states, how accsim is to reproduce it, and how close is close.

A case file (``published/*.yaml``) names a ``system``, a ``family`` and its ``cases``. A case has
an ``id``, a citation (``source``), a ``metric`` (the core's or a family's), the ``scenario`` the
metric runs, a ``tolerance_pct`` with the reason for it (``tolerance_why``; a file may give both
once under ``tolerance: {pct, why}``), and exactly one claim:

- ``published: x``: one figure;
- ``published_range: [low, high]``: two ends, each compared on its own. Over a ``set`` of
  workloads (the paper's range spans them) the simulated minimum is compared with ``low`` and the
  maximum with ``high``; without a set the one simulated figure is compared with both ends, so a
  value inside a wide band is never an error of 0;
- ``published_at_least: x`` / ``published_at_most: x``: a bound the source states ("over 85%"),
  over a ``set`` by every member;
- ``order: {better: lower|higher, members: [...]}``: the members from best to worst (A faster
  than B); no number.

``kind: calibration`` marks a figure a preset value was solved from: it is run and shown, never
counted. The preset's source line names the case; a validation case may not reuse its figure.
``set`` and ``order`` members are scenario overlays (``[{label: .., key: value}, ...]`` or
``{over: key, values: [...]}``); ``trend: increasing|decreasing`` adds the direction the source
states over a set's members in their order (alone, when the source gives no figure). ``best_over: {key: [values]}`` in a scenario (or in
its ``baseline``) runs each value and keeps the best (best-against-best comparisons).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from accsim.core.config import read_yaml
from accsim.core.errors import ConfigError, ProblemList, did_you_mean
from accsim.core.units import unit_of
from accsim.simulation.scenario import RUN_KEYS

PUBLISHED_DIR = Path(__file__).parent / "published"
FILE_KEYS = ("system", "family", "source", "tolerance", "cases")
CASE_KEYS = ("id", "kind", "source", "metric", "scenario", "published", "published_range",
             "published_at_least", "published_at_most", "order", "set", "trend", "tolerance_pct",
             "tolerance_why", "note", "curve", "show")
CLAIM_KEYS = ("published", "published_range", "published_at_least", "published_at_most", "order")
KINDS = ("validation", "calibration")
TRENDS = ("increasing", "decreasing")
BETTER = ("lower", "higher")
# a tolerance this wide must carry its own reason, not the file's
WIDE_TOLERANCE_PCT = 25.0
# metrics that read one stat of a run and so can pick the best run of a best_over list
BEST_OVER_METRICS = ("stat", "speedup", "stat_ratio")
# metrics whose name is not a stat name (a stat's unit is its name's suffix: accsim.core.units)
METRIC_UNITS = {"speedup": "ratio", "stat_ratio": "ratio", "eager_kernels_per_step": "kernels",
                "gemm_cycles": "cycles", "share": "%", "largest_fitting": "value"}
# words in a preset's source line that say its value was solved from a published figure
CALIBRATION_WORDS = re.compile(r"calibrat|fitted|\bfit (?:to|on)\b|solved", re.IGNORECASE)


@dataclass(frozen=True)
class Member:
    """One scenario of a set or an order: an overlay on the case's scenario."""

    label: str
    overlay: Mapping[str, Any]


@dataclass(frozen=True)
class Claim:
    """What the source states: ``shape`` is value, range, bound, order or trend (a set's
    direction alone)."""

    shape: str
    low: float = 0.0            # value: low == high; bound: the bound
    high: float = 0.0
    bound: str = ""             # at_least | at_most
    better: str = ""            # order: lower | higher

    def text(self) -> str:
        if self.shape == "value":
            return f"{self.low:g}"
        if self.shape == "range":
            return f"{self.low:g}-{self.high:g}"
        if self.shape == "bound":
            return f"{'>=' if self.bound == 'at_least' else '<='} {self.low:g}"
        if self.shape == "trend":
            return "trend"
        return f"order ({self.better} is better)"

    def numbers(self) -> tuple[float, ...]:
        """The published figures a claim holds (none for an order)."""
        if self.shape in ("value", "bound"):
            return (self.low,)
        return (self.low, self.high) if self.shape == "range" else ()


@dataclass(frozen=True)
class Case:
    id: str
    system: str
    family: str
    source: str
    metric: str
    scenario: Mapping[str, Any]
    claim: Claim
    tolerance_pct: float
    tolerance_why: str
    kind: str = "validation"
    members: tuple[Member, ...] = ()       # a set's or an order's scenarios
    trend: str = ""                        # increasing | decreasing over the set's order
    note: str = ""
    curve: Mapping[str, Any] | None = None  # {over: run key, values: [...], stat: dotted stat}
    show: str = ""                         # a dotted stat of the case's own run, printed with it

    @property
    def published(self) -> float | None:
        return self.claim.low if self.claim.shape == "value" else None

    @property
    def published_range(self) -> tuple[float, float] | None:
        return (self.claim.low, self.claim.high) if self.claim.shape == "range" else None

    @property
    def is_set(self) -> bool:
        return bool(self.members) and self.claim.shape != "order"


def case_unit(case: Case) -> str:
    """The unit of a case's published and simulated figures, from its metric or stat name."""
    if "unit" in case.scenario:          # a figure whose name carries no unit suffix
        return str(case.scenario["unit"])
    if case.metric in METRIC_UNITS:
        return METRIC_UNITS[case.metric]
    return unit_of(str(case.scenario.get("stat", case.metric))) or "count"


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# ---- reading a case -----------------------------------------------------------------------
def _claim(raw: Mapping[str, Any], where: str, problems: ProblemList) -> Claim:
    given = [k for k in CLAIM_KEYS if raw.get(k) is not None]
    if not given and raw.get("trend") and raw.get("set") is not None:
        return Claim("trend")            # a direction only, the source giving no figure
    if len(given) != 1:
        problems.add(where, f"give exactly one of {', '.join(CLAIM_KEYS)} (got {', '.join(given) or 'none'})")
        return Claim("value", 1.0, 1.0)
    key = given[0]
    value = raw[key]
    if key == "order":
        better = value.get("better") if isinstance(value, dict) else None
        if better not in BETTER:
            problems.add(f"{where}.order", f"better: expected lower or higher, got {better!r}")
        return Claim("order", better=str(better))
    if key == "published_range":
        if not (isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))
                and 0 < value[0] < value[1]):
            problems.add(where, f"published_range: expected [low, high] numbers with 0 < low < high, got {value!r}"
                                " (one figure: published)")
            return Claim("range", 1.0, 2.0)
        return Claim("range", float(value[0]), float(value[1]))
    if not _is_number(value) or value == 0:
        problems.add(where, f"{key}: expected a non-zero number, got {value!r}")
        return Claim("value", 1.0, 1.0)
    if key == "published":
        return Claim("value", float(value), float(value))
    return Claim("bound", float(value), float(value), bound=key.removeprefix("published_"))


def _members(spec: Any, where: str, scenario: Mapping[str, Any], problems: ProblemList) -> tuple[Member, ...]:
    """Overlays from ``[{label, key: value}, ...]`` or ``{over: key, values: [...]}``."""
    if isinstance(spec, dict) and set(spec) == {"over", "values"}:
        over, values = spec["over"], spec["values"]
        known = set(RUN_KEYS) | {"model"} | set(scenario)
        if over not in known:
            problems.add(where, f"over: {over!r} is not a run key or a key of the scenario"
                                f"{did_you_mean(str(over), known)}")
        if not isinstance(values, list) or len(values) < 2:
            problems.add(where, f"values: expected a list of at least 2, got {values!r}")
            return ()
        return tuple(Member(str(v), {over: v}) for v in values)
    if isinstance(spec, list) and len(spec) >= 2 and all(isinstance(m, dict) and m for m in spec):
        return tuple(Member(str(m.get("label", i)), {k: v for k, v in m.items() if k != "label"})
                     for i, m in enumerate(spec))
    problems.add(where, "expected {over: key, values: [...]} or a list of at least 2 scenario overlays")
    return ()


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


def _check_best_over(scenario: Mapping[str, Any], metric: str, where: str, problems: ProblemList) -> None:
    """best_over on the system's side or the baseline's: one key, a list of values."""
    sides = [("scenario", scenario)]
    if isinstance(scenario.get("baseline"), dict):
        sides.append(("scenario.baseline", scenario["baseline"]))
    for name, side in sides:
        best = side.get("best_over")
        if best is None:
            continue
        if metric not in BEST_OVER_METRICS:
            problems.add(f"{where}.{name}.best_over", f"only with the metrics {', '.join(BEST_OVER_METRICS)}")
        if not (isinstance(best, dict) and len(best) == 1 and isinstance(next(iter(best.values())), list)
                and len(next(iter(best.values()))) >= 2):
            problems.add(f"{where}.{name}.best_over", f"expected {{key: [at least 2 values]}}, got {best!r}")
        elif next(iter(best)) not in RUN_KEYS:
            key = str(next(iter(best)))
            problems.add(f"{where}.{name}.best_over", f"{key!r} is not a run key{did_you_mean(key, RUN_KEYS)}")
    if scenario.get("better", "lower") not in BETTER:
        problems.add(f"{where}.scenario.better", f"expected lower or higher, got {scenario.get('better')!r}")


def _tolerance(raw: Mapping[str, Any], default: Mapping[str, Any], where: str,
               problems: ProblemList) -> tuple[float, str]:
    pct = raw["tolerance_pct"] if raw.get("tolerance_pct") is not None else default.get("pct")
    why = raw.get("tolerance_why") or default.get("why")
    if not _is_number(pct) or pct < 0:
        problems.add(where, f"tolerance_pct: expected a number >= 0 (here or in the file's tolerance), got {pct!r}")
        return 0.0, ""
    if not isinstance(why, str) or not why.strip():
        problems.add(where, "tolerance_why: say why the tolerance is what it is (figure-reading precision, "
                            "the spread the source reports, ...), here or in the file's tolerance")
    elif pct > WIDE_TOLERANCE_PCT and not raw.get("tolerance_why"):
        problems.add(where, f"tolerance_pct {pct:g} is over {WIDE_TOLERANCE_PCT:g}%: give this case's own tolerance_why")
    return float(pct), str(why or "")


def read_case(raw: Any, i: int, data: Mapping[str, Any], path: Path, known_metrics: Iterable[str],
              problems: ProblemList) -> Case | None:
    where = f"{path.name}: cases[{i}]"
    if not isinstance(raw, dict):
        problems.add(where, f"expected a mapping, got {raw!r}")
        return None
    for key in raw:
        if key not in CASE_KEYS:
            problems.add(where, f"unknown key '{key}'{did_you_mean(key, CASE_KEYS)}")
    if raw.get("metric") not in known_metrics:
        problems.add(where, f"metric {raw.get('metric')!r}: expected one of {', '.join(known_metrics)}")
    if not raw.get("source"):
        problems.add(where, "every case needs its source (paper, table or figure)")
    kind = raw.get("kind", "validation")
    if kind not in KINDS:
        problems.add(where, f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    scenario = raw.get("scenario") or {}
    if not isinstance(scenario, dict):
        problems.add(where, f"scenario: expected a mapping, got {scenario!r}")
        scenario = {}
    claim = _claim(raw, where, problems)
    members: tuple[Member, ...] = ()
    if claim.shape == "order":
        members = _members((raw["order"] or {}).get("members"), f"{where}.order.members", scenario, problems)
        if raw.get("set") is not None:
            problems.add(where, "an order lists its members under order.members, not set")
    elif raw.get("set") is not None:
        if claim.shape not in ("range", "bound", "trend"):
            problems.add(where, "a set is compared at its ends (published_range [low, high]) or member by "
                                "member with a bound (published_at_least / published_at_most)")
        members = _members(raw["set"], f"{where}.set", scenario, problems)
    trend = raw.get("trend", "")
    if trend and (trend not in TRENDS or raw.get("set") is None):
        problems.add(where, f"trend: expected one of {', '.join(TRENDS)} on a set case, got {trend!r}")
    _check_curve(raw.get("curve"), f"{where}.curve", problems)
    _check_best_over(scenario, str(raw.get("metric")), where, problems)
    pct, why = _tolerance(raw, data.get("tolerance") or {}, where, problems)
    return Case(str(raw.get("id", f"{path.stem}-{i}")), str(data.get("system", path.stem)),
                str(data.get("family", "")), str(raw.get("source", "")), str(raw.get("metric")), scenario,
                claim, pct, why, str(kind), members, str(trend), str(raw.get("note", "")), raw.get("curve"),
                str(raw.get("show", "")))


def load_cases(directory: Path = PUBLISHED_DIR, known_metrics: Iterable[str] | None = None) -> list[Case]:
    """Every case of every case file, checked (unknown keys, metrics, claims, tolerances); the
    shipped suite is also checked against the presets' calibration sources."""
    if known_metrics is None:
        from accsim.validation.metrics import metrics
        known_metrics = metrics()
    known_metrics = list(known_metrics)
    problems = ProblemList()
    cases: list[Case] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = read_yaml(path)
        except ConfigError as exc:
            problems.problems += exc.problems
            continue
        if not isinstance(data, dict):
            problems.add(path.name, "expected a mapping with system, family and cases")
            continue
        for key in data:
            if key not in FILE_KEYS:
                problems.add(path.name, f"unknown key '{key}'{did_you_mean(key, FILE_KEYS)}")
        for i, raw in enumerate(data.get("cases") or []):
            case = read_case(raw, i, data, path, known_metrics, problems)
            if case is not None:
                cases.append(case)
    ids = [c.id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        problems.add("", f"duplicate case ids: {', '.join(duplicates)}")
    for problem in reused_calibration_figures(cases):
        problems.add("", problem)
    if directory == PUBLISHED_DIR:
        for problem in calibration_problems(cases, preset_sources()):
            problems.add("", problem)
    problems.raise_if_any()
    return cases


# ---- calibration kept apart ---------------------------------------------------------------
def preset_sources() -> dict[str, dict[str, str]]:
    """Every shipped preset's own source lines (not its parents'): {preset: {field: source}}."""
    from accsim.core.presets import preset_files
    found = {}
    for name, path in preset_files().items():
        data = read_yaml(path)
        found[name] = {str(k): str(v) for k, v in ((data or {}).get("sources") or {}).items()}
    return found


def calibration_problems(cases: list[Case], sources: Mapping[str, Mapping[str, str]]) -> list[str]:
    """A preset value solved from a figure names its calibration case, the case it names is a
    calibration case, and every calibration case is named by the value it fixed."""
    by_id = {c.id: c for c in cases}
    id_pattern = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)+")
    problems, named = [], set()
    for preset, fields in sorted(sources.items()):
        for path, text in sorted(fields.items()):
            ids = [i for i in id_pattern.findall(text) if i in by_id]
            for i in ids:
                named.add(i)
                if by_id[i].kind != "calibration":
                    problems.append(f"preset {preset}: sources.{path} names case {i}, which is kind "
                                    f"{by_id[i].kind}: a figure a preset value was derived from is kind calibration")
            if CALIBRATION_WORDS.search(text) and not ids:
                problems.append(f"preset {preset}: sources.{path} says its value was calibrated or fitted but "
                                "names no case: add the figure as a 'kind: calibration' case and name its id")
    for case in cases:
        if case.kind == "calibration" and case.id not in named:
            problems.append(f"calibration case {case.id}: no preset source names it (name it in the source of "
                            "the value it fixed, or make it a validation case)")
    return problems


def reused_calibration_figures(cases: list[Case]) -> list[str]:
    """A validation case whose figure (same unit, same number) is a calibration case's figure
    checks the fit, not the model."""
    calibrated = {(case_unit(c), n): c.id for c in cases if c.kind == "calibration" for n in c.claim.numbers()}
    problems = []
    for case in cases:
        if case.kind != "validation":
            continue
        for n in case.claim.numbers():
            if (case_unit(case), n) in calibrated:
                problems.append(f"case {case.id}: its figure {n:g} {case_unit(case)} is calibration case "
                                f"{calibrated[(case_unit(case), n)]}'s: a figure a preset was solved from cannot "
                                "validate it (make it kind calibration, or cite an independent figure)")
    return problems
