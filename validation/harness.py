"""Validation: run every published case through the simulator and judge it, honestly.

Cases and their claims are read by ``validation.cases``; the figures come from
``validation.metrics``. Here each claim is judged as a list of comparisons (a figure; a range's
two ends; a bound; each step of an order; a set's trend): a case is within tolerance when every
comparison is. Calibration cases are run and judged like the others but counted apart: a figure
a preset value was solved from cannot confirm the model.
"""
from __future__ import annotations

import tempfile
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from accsim.core.errors import AccsimError
from accsim.validation.cases import Case, Claim, case_unit, load_cases
from accsim.validation.metrics import NOTES, metrics, run_scenario


@dataclass(frozen=True)
class Comparison:
    """One published statement against what was simulated."""

    label: str                      # value, low end, high end, at least, a better than b, trend
    published: float | None         # the published figure (None for an order or a trend)
    simulated: float | None         # the simulated figure (an order: the ratio worse / better)
    error_pct: float | None         # signed error against the published figure
    within: bool
    member: str = ""                # the set member or members the simulated figure comes from

    def as_row(self) -> dict[str, Any]:
        return {"label": self.label, "published": self.published, "simulated": self.simulated,
                "error_pct": self.error_pct, "within": self.within, "member": self.member}


def _error_pct(simulated: float, published: float) -> float:
    return 100.0 * (simulated - published) / published


def _point(label: str, published: float, simulated: float, tolerance_pct: float, member: str = "") -> Comparison:
    error = _error_pct(simulated, published)
    return Comparison(label, published, simulated, error, abs(error) <= tolerance_pct, member)


def judge(claim: Claim, values: list[tuple[str, float]], tolerance_pct: float) -> list[Comparison]:
    """The comparisons a claim makes of the simulated (member, value) pairs."""
    if claim.shape == "value":
        return [_point("value", claim.low, v, tolerance_pct, m) for m, v in values]
    if claim.shape == "range":
        # a range's ends are compared one by one: the set's least with the low end, its greatest
        # with the high end (one figure: that figure with both ends), never "inside = 0"
        low_member, low = min(values, key=lambda mv: mv[1])
        high_member, high = max(values, key=lambda mv: mv[1])
        return [_point("low end", claim.low, low, tolerance_pct, low_member),
                _point("high end", claim.high, high, tolerance_pct, high_member)]
    if claim.shape == "bound":
        return [_bound(claim, m, v, tolerance_pct) for m, v in values]
    if claim.shape == "trend":
        return []                        # the case's trend comparison is all it claims
    return _order(claim.better, values)


def _bound(claim: Claim, member: str, value: float, tolerance_pct: float) -> Comparison:
    slack = tolerance_pct / 100.0 * abs(claim.low)
    ok = value >= claim.low - slack if claim.bound == "at_least" else value <= claim.low + slack
    return Comparison(claim.bound.replace("_", " "), claim.low, value, _error_pct(value, claim.low), ok, member)


def _order(better: str, values: list[tuple[str, float]]) -> list[Comparison]:
    """Each member better than the next (listed best first): the ratio worse / better > 1."""
    out = []
    for (a, va), (b, vb) in zip(values, values[1:]):
        ratio = vb / va if better == "lower" else va / vb
        out.append(Comparison(f"{a} better than {b}", None, ratio, None, bool(ratio > 1.0), f"{a} | {b}"))
    return out


def trend_comparison(trend: str, values: list[tuple[str, float]], tolerance_pct: float) -> Comparison:
    """The direction the source states over a set's members, in their order: the least-squares
    line's change from the first member to the last, relative to the mean, must run that way by
    more than the tolerance (a change within the tolerance is flat)."""
    ys = np.array([v for _, v in values], dtype=float)
    slope = float(np.polyfit(np.arange(len(ys)), ys, 1)[0])
    mean = float(np.mean(np.abs(ys)))
    change_pct = 100.0 * slope * (len(ys) - 1) / mean if mean else 0.0
    holds = change_pct > tolerance_pct if trend == "increasing" else change_pct < -tolerance_pct
    return Comparison(f"trend {trend}", None, change_pct, None, bool(holds), " -> ".join(m for m, _ in values))


@dataclass(frozen=True)
class Outcome:
    case: Case
    values: tuple[tuple[str, float], ...] = ()      # (member, simulated figure); member '' alone
    comparisons: tuple[Comparison, ...] = ()
    failure: str | None = None
    notes: tuple[str, ...] = ()                      # what the run picked (best_over)
    curve: tuple = ()                                # ((value, stat), ...) when the case asks for a curve
    shown: Mapping[str, Any] | None = None           # the stat the case asks to show

    @property
    def within(self) -> bool:
        return self.failure is None and bool(self.comparisons) and all(c.within for c in self.comparisons)

    @property
    def simulated(self) -> float | None:
        """The simulated figure of a one-scenario case (a set or an order has several)."""
        return self.values[0][1] if len(self.values) == 1 else None

    @property
    def error_pct(self) -> float | None:
        """The comparison furthest from its published figure (signed)."""
        errors = [c.error_pct for c in self.comparisons if c.error_pct is not None]
        return max(errors, key=abs) if errors else None

    @property
    def verdict(self) -> str:
        return "failed to run" if self.failure else ("within" if self.within else "miss")

    def as_row(self) -> dict[str, Any]:
        c = self.case
        return {"id": c.id, "system": c.system, "family": c.family, "kind": c.kind, "metric": c.metric,
                "unit": case_unit(c), "source": c.source, "claim": c.claim.shape, "published_text": c.claim.text(),
                "published": c.published, "published_range": list(c.published_range) if c.published_range else None,
                "tolerance_pct": c.tolerance_pct, "tolerance_why": c.tolerance_why,
                "simulated": self.simulated, "values": [list(v) for v in self.values],
                "error_pct": self.error_pct, "within": self.within, "verdict": self.verdict,
                "failure": self.failure, "comparisons": [x.as_row() for x in self.comparisons],
                "notes": list(self.notes), "curve": [list(point) for point in self.curve], "shown": self.shown}


def _members(case: Case) -> list[tuple[str, Mapping[str, Any]]]:
    if not case.members:
        return [("", case.scenario)]
    return [(m.label, {**case.scenario, **m.overlay}) for m in case.members]


def run_case(case: Case) -> Outcome:
    """Simulate one case; a failure to run is an outcome with its reason, not an exception."""
    notes: list[str] = []
    token = NOTES.set(notes)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            metric = metrics()[case.metric]
            values = [(label, float(metric(scenario, Path(tmp)))) for label, scenario in _members(case)]
            curve = _curve(case, Path(tmp))
            shown = run_scenario(case.scenario, Path(tmp))[case.show] if case.show else None
    except AccsimError as exc:
        return Outcome(case, failure=str(exc), notes=tuple(notes))
    except Exception:
        return Outcome(case, failure=traceback.format_exc(limit=3), notes=tuple(notes))
    finally:
        NOTES.reset(token)
    comparisons = judge(case.claim, values, case.tolerance_pct)
    if case.trend:
        comparisons.append(trend_comparison(case.trend, values, case.tolerance_pct))
    shown = shown.to_dict() if hasattr(shown, "to_dict") else shown
    return Outcome(case, tuple(values), tuple(comparisons), None, tuple(notes), curve, shown)


def _curve(case: Case, tmp: Path) -> tuple:
    """The case's scenario re-run at each value of one key, one stat per value."""
    if not case.curve:
        return ()
    over, stat = case.curve["over"], case.curve["stat"]
    return tuple((v, float(run_scenario({**case.scenario, over: v}, tmp)[stat])) for v in case.curve["values"])


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


# ---- reporting ------------------------------------------------------------------------------
def counts(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """Cases, within, misses and failures per (kind, family, claim), then per kind."""
    rows: dict[tuple[str, str, str], Counter] = {}
    for o in outcomes:
        shape = o.case.claim.shape + ("+trend" if o.case.trend and o.case.claim.shape != "trend" else "")
        for key in ((o.case.kind, o.case.family or o.case.system, shape),
                    (o.case.kind, "all", "all")):
            rows.setdefault(key, Counter())[o.verdict] += 1
    return [{"kind": k, "family": f, "claim": c, "cases": sum(n.values()), "within": n["within"],
             "misses": n["miss"], "failed": n["failed to run"]}
            for (k, f, c), n in sorted(rows.items(), key=lambda kv: (kv[0][0] != "validation", kv[0][1] == "all",
                                                                     kv[0]))]


def summary_line(outcomes: list[Outcome], kind: str) -> str:
    mine = [o for o in outcomes if o.case.kind == kind]
    within = sum(o.within for o in mine)
    failed = sum(o.failure is not None for o in mine)
    return (f"{len(mine)} {kind} cases: {within} within tolerance, {len(mine) - within - failed} misses, "
            f"{failed} failed to run")


def comparison_rows(outcome: Outcome) -> list[dict[str, str]]:
    """Table rows of one case: one per comparison (a failure is one row)."""
    c = outcome.case
    base = {"case": c.id, "metric": c.metric, "unit": case_unit(c), "tolerance": f"±{c.tolerance_pct:g}%",
            "source": c.source.replace("|", "/").replace("\n", " ")}
    if outcome.failure:
        return [{**base, "comparison": c.claim.shape, "published": c.claim.text(), "simulated": "failed to run",
                 "error": "-", "verdict": "failed"}]
    return [{**base, **_comparison_cells(c, x)} for x in outcome.comparisons]


def _comparison_cells(case: Case, x: Comparison) -> dict[str, str]:
    verdict = "yes" if x.within else "no (miss)"
    if x.published is None:           # an order's step (ratio worse / better) or a trend (slope)
        if x.label.startswith("trend"):
            return {"comparison": x.label, "published": f"beyond ±{case.tolerance_pct:g}%",
                    "simulated": f"{x.simulated:+.3g}% over the set", "error": "-", "verdict": verdict,
                    "tolerance": "-"}
        return {"comparison": x.label, "published": "holds", "simulated": f"ratio {x.simulated:.3g}",
                "error": "-", "verdict": verdict, "tolerance": "-"}
    member = f" ({x.member})" if case.is_set and x.member else ""
    return {"comparison": x.label, "published": f"{x.published:g}", "simulated": f"{x.simulated:.4g}{member}",
            "error": f"{x.error_pct:+.1f}", "verdict": verdict}


def tolerance_note(row: Mapping[str, str]) -> str:
    """' (±20%)' after a verdict; nothing for an order or a trend, which have no tolerance."""
    return "" if row["tolerance"] == "-" else f" ({row['tolerance']})"


def markdown_table(outcomes: list[Outcome]) -> str:
    """Validation and calibration cases apart, one row per comparison, then the counts."""
    out = []
    for kind, title in (("validation", "Validation"), ("calibration", "Calibration (not counted: a preset value was solved from these figures)")):
        mine = [o for o in outcomes if o.case.kind == kind]
        if not mine:
            continue
        out += [f"## {title}", "", summary_line(outcomes, kind), "",
                "| case | comparison | metric | unit | published | simulated | error % | within tolerance | source |",
                "|---|---|---|---|---:|---:|---:|---|---|"]
        for o in mine:
            for r in comparison_rows(o):
                out.append(f"| {r['case']} | {r['comparison']} | {r['metric']} | {r['unit']} | {r['published']} | "
                           f"{r['simulated']} | {r['error']} | {r['verdict']}{tolerance_note(r)} | {r['source']} |")
        notes = [f"- {o.case.id}: {n}" for o in mine for n in o.notes]
        out += ([""] + notes if notes else []) + [""]
    out += ["## Counts", "", "| kind | family | claim | cases | within | misses | failed |", "|---|---|---|---:|---:|---:|---:|"]
    out += [f"| {r['kind']} | {r['family']} | {r['claim']} | {r['cases']} | {r['within']} | {r['misses']} | {r['failed']} |"
            for r in counts(outcomes)]
    return "\n".join(out) + "\n"
