"""Validation that can fail: claims judged at their ends, calibration kept apart, best-against-
best, mechanism (share, order, trend) cases, tolerances that say why."""
import json

import pytest
import yaml

from accsim.cli import main
from accsim.core.errors import ConfigError
from accsim.validation.cases import (Case, Claim, Member, calibration_problems, load_cases, preset_sources,
                                     reused_calibration_figures)
from accsim.validation.harness import judge, run_case, trend_comparison

pytestmark = pytest.mark.unit

WHY = "figure-reading precision"


def _case(claim, kind="validation", **kw):
    base = dict(id="x-case", system="s", family="f", source="src", metric="stat", scenario={}, claim=claim,
                tolerance_pct=20.0, tolerance_why=WHY, kind=kind)
    base.update(kw)
    return Case(**base)


def _write_cases(tmp_path, cases, **file_keys):
    (tmp_path / "planted.yaml").write_text(yaml.safe_dump({"system": "planted", "family": "gpu",
                                                           **file_keys, "cases": cases}))
    return tmp_path


def _raw(**kw):
    base = {"id": "planted-a", "source": "planted", "metric": "stat", "tolerance_pct": 20, "tolerance_why": WHY,
            "scenario": {"arch": "t4", "model": "gpt2-small", "gen": 2, "stat": "tpot_s"}, "published": 1.0}
    base.update(kw)
    return base


# ---- judging --------------------------------------------------------------------------------
def test_a_figure_is_compared_with_its_error():
    [c] = judge(Claim("value", 100.0, 100.0), [("", 110.0)], 20.0)
    assert c.error_pct == pytest.approx(10.0) and c.within
    [c] = judge(Claim("value", 100.0, 100.0), [("", 130.0)], 20.0)
    assert not c.within


def test_a_value_inside_a_wide_range_is_not_an_error_of_zero():
    """One figure against a range: both ends are compared, so 100 inside 41-137 misses the low end."""
    low, high = judge(Claim("range", 41.0, 137.0), [("", 100.0)], 20.0)
    assert low.error_pct == pytest.approx(143.9, abs=0.1) and not low.within
    assert high.error_pct == pytest.approx(-27.0, abs=0.1) and not high.within
    assert all(c.error_pct != 0 for c in (low, high))


def test_a_narrow_range_of_one_quantity_passes_near_both_ends():
    low, high = judge(Claim("range", 1.0, 1.1), [("", 1.04)], 10.0)
    assert low.within and high.within


def test_a_set_is_judged_at_its_ends_by_its_least_and_greatest_members():
    values = [("small", 40.0), ("medium", 30.0), ("large", 10.0)]
    low, high = judge(Claim("range", 41.0, 137.0), values, 20.0)
    assert (low.member, low.simulated) == ("large", 10.0) and not low.within
    assert (high.member, high.simulated) == ("small", 40.0) and not high.within
    low, high = judge(Claim("range", 41.0, 137.0), [("a", 45.0), ("b", 120.0)], 20.0)
    assert low.within and high.within


def test_a_bound_holds_or_misses_with_its_signed_distance():
    claim = Claim("bound", 85.0, 85.0, bound="at_least")
    [miss] = judge(claim, [("", 65.2)], 0.0)
    assert not miss.within and miss.error_pct == pytest.approx(-23.3, abs=0.1)
    [ok] = judge(claim, [("", 91.0)], 0.0)
    assert ok.within and ok.error_pct > 0
    [ok] = judge(Claim("bound", 10.0, 10.0, bound="at_most"), [("", 10.5)], 5.0)
    assert ok.within


def test_an_order_holds_only_when_every_step_runs_the_stated_way():
    ok = judge(Claim("order", better="lower"), [("a", 1.0), ("b", 2.0), ("c", 3.0)], 0.0)
    assert [c.within for c in ok] == [True, True] and ok[0].simulated == pytest.approx(2.0)
    inverted = judge(Claim("order", better="lower"), [("t4", 3.0), ("cpu", 2.0)], 0.0)
    assert not inverted[0].within and inverted[0].label == "t4 better than cpu"
    assert judge(Claim("order", better="higher"), [("a", 3.0), ("b", 2.0)], 0.0)[0].within


def test_a_trend_runs_the_stated_way_by_more_than_the_tolerance():
    rising = [("1", 1.0), ("2", 1.5), ("3", 1.4), ("4", 2.0)]
    assert trend_comparison("increasing", rising, 20.0).within
    assert not trend_comparison("decreasing", rising, 20.0).within
    assert not trend_comparison("increasing", [("1", 2.0), ("2", 2.0)], 0.0).within
    nearly_flat = [("4", 8.74), ("16", 8.75), ("64", 8.75), ("256", 8.76)]
    flat = trend_comparison("increasing", nearly_flat, 20.0)
    assert not flat.within and 0 < flat.simulated < 1


def test_a_set_may_claim_its_trend_alone(tmp_path):
    raw = _raw(published=None, set={"over": "batch", "values": [1, 2, 4]}, trend="increasing",
               scenario={"arch": "t4", "model": "gpt2-small", "gen": 2, "stat": "decode_tokens_per_s"})
    [case] = load_cases(_write_cases(tmp_path, [raw]))
    outcome = run_case(case)
    assert case.claim.shape == "trend" and [c.label for c in outcome.comparisons] == ["trend increasing"]
    assert outcome.within        # the T4's batch-1 decode is launch-bound: batch 4 is ~4x the throughput


# ---- reading cases --------------------------------------------------------------------------
@pytest.mark.parametrize("raw, message", [
    (_raw(published_range=[1, 2]), "give exactly one of published"),
    (_raw(published=None, set={"over": "model", "values": ["gpt2-small", "gpt2-medium"]}, published_range=None),
     "give exactly one of"),
    (_raw(set={"over": "model", "values": ["gpt2-small", "gpt2-medium"]}), "a set is compared at its ends .* or member by member"),
    (_raw(published=None, published_range=[1, 2], trend="increasing"), "trend: expected one of .* on a set case"),
    (_raw(published=None, published_range=[2, 1]), "0 < low < high"),
    (_raw(tolerance_pct=40, tolerance_why=None), "tolerance_why: say why"),
    (_raw(published=None, order={"better": "faster", "members": [{"arch": "t4"}, {"arch": "a6000"}]}),
     "better: expected lower or higher"),
    (_raw(published=None, order={"better": "lower", "members": [{"arch": "t4"}]}), "at least 2"),
    (_raw(scenario={"arch": "t4", "stat": "tpot_s", "best_over": {"batchh": [1, 2]}}), "'batchh' is not a run key"),
    (_raw(metric="share", scenario={"arch": "t4", "best_over": {"batch": [1, 2]}}), "only with the metrics"),
    (_raw(set={"over": "modle", "values": [1, 2]}, published=None, published_range=[1, 2]), "did you mean 'model'"),
    (_raw(kind="fitted"), "kind: expected one of validation, calibration"),
    (_raw(tolerance=5), "unknown key 'tolerance'"),
])
def test_a_malformed_case_is_refused_naming_the_field(tmp_path, raw, message):
    with pytest.raises(ConfigError, match=message):
        load_cases(_write_cases(tmp_path, [raw]))


def test_a_wide_tolerance_needs_its_own_reason_not_the_files(tmp_path):
    directory = _write_cases(tmp_path, [_raw(tolerance_pct=30, tolerance_why=None)],
                             tolerance={"pct": 20, "why": WHY})
    with pytest.raises(ConfigError, match="over 25%: give this case's own tolerance_why"):
        load_cases(directory)
    (tmp_path / "planted.yaml").unlink()
    cases = load_cases(_write_cases(tmp_path, [_raw(tolerance_pct=None, tolerance_why=None)],
                                    tolerance={"pct": 20, "why": WHY}))
    assert (cases[0].tolerance_pct, cases[0].tolerance_why) == (20.0, WHY)


def test_every_shipped_case_gives_a_reason_for_its_tolerance():
    assert all(c.tolerance_why.strip() for c in load_cases())


def test_the_shipped_suite_holds_every_kind_of_claim():
    cases = load_cases()
    shapes = {(c.kind, c.claim.shape, c.is_set) for c in cases}
    assert {("validation", "value", False), ("validation", "range", True), ("validation", "bound", False),
            ("validation", "order", False), ("calibration", "value", False)} <= shapes
    assert any(c.metric == "share" for c in cases)
    assert any("best_over" in c.scenario for c in cases)


# ---- calibration kept apart -----------------------------------------------------------------
def test_the_shipped_presets_and_cases_agree_on_what_is_calibration():
    cases = load_cases()
    assert calibration_problems(cases, preset_sources()) == []
    calibration = {c.id for c in cases if c.kind == "calibration"}
    assert {"cm384-dispatch-latency-ep8", "cm384-dispatch-latency-ep256",
            "gpu-h200-eager-decode-ms-per-layer-768"} <= calibration


def test_a_calibration_figure_planted_as_validation_is_caught():
    fitted = _case(Claim("value", 116.0, 116.0), id="cm-dispatch-ep8")
    sources = {"planted-chip": {"system.fixed_us": "calibrated on case cm-dispatch-ep8 (Table 6)"}}
    [problem] = calibration_problems([fitted], sources)
    assert "names case cm-dispatch-ep8, which is kind validation" in problem
    assert calibration_problems([_case(Claim("value", 116.0, 116.0), id="cm-dispatch-ep8", kind="calibration")],
                                sources) == []


def test_a_fitted_value_that_names_no_case_is_caught():
    sources = {"planted-chip": {"framework.launch_us": "fitted to the H200 measurement"}}
    [problem] = calibration_problems([], sources)
    assert "says its value was calibrated or fitted but names no case" in problem


def test_a_calibration_case_no_preset_names_is_caught():
    orphan = _case(Claim("value", 1.0, 1.0), id="orphan-case", kind="calibration")
    [problem] = calibration_problems([orphan], {"chip": {"x": "datasheet"}})
    assert "calibration case orphan-case: no preset source names it" in problem


def test_a_validation_case_reusing_a_calibration_figure_is_caught(tmp_path):
    calibration = _case(Claim("value", 152.0, 152.0), id="fit-ep256", kind="calibration")
    reuse = _case(Claim("range", 116.0, 152.0), id="check-ep256")
    [problem] = reused_calibration_figures([calibration, reuse])
    assert "case check-ep256: its figure 152" in problem and "fit-ep256" in problem
    other_unit = _case(Claim("value", 152.0, 152.0), id="x", scenario={"stat": "latency_s"})
    assert reused_calibration_figures([calibration, other_unit]) == []
    directory = _write_cases(tmp_path, [_raw(id="fit", kind="calibration", published=0.38),
                                        _raw(id="check", published=0.38)])
    with pytest.raises(ConfigError, match="case check: its figure 0.38 s is calibration case fit's"):
        load_cases(directory)


# ---- running cases --------------------------------------------------------------------------
def _tpot():
    import accsim
    return accsim.run(arch="t4", model="gpt2-small", gen=2)["tpot_s"]


def test_a_planted_wide_range_case_misses_when_run():
    tpot = _tpot()
    case = _case(Claim("range", tpot / 3, tpot * 3), scenario={"arch": "t4", "model": "gpt2-small", "gen": 2,
                                                              "stat": "tpot_s"})
    outcome = run_case(case)
    assert outcome.failure is None and not outcome.within
    assert [round(c.error_pct) for c in outcome.comparisons] == [200, -67]
    assert outcome.as_row()["verdict"] == "miss"


def test_best_over_keeps_each_sides_best_and_skips_what_does_not_fit():
    scenario = {"arch": "t4", "model": "gpt2-small", "prompt": 1000, "gen": 2, "stat": "decode_tokens_per_s",
                "best_over": {"batch": [1, 8, 20000]},
                "baseline": {"arch": "xeon-gold-6154", "best_over": {"batch": [1, 2]}}}
    outcome = run_case(_case(Claim("value", 1.0, 1.0), metric="speedup", scenario=scenario))
    assert outcome.failure is None
    assert outcome.notes == ("system: best batch 8 of [1, 8, 20000] (batch 20000 do not fit)",
                             "baseline: best batch 2 of [1, 2]")
    import accsim
    best = accsim.run(arch="t4", model="gpt2-small", prompt=1000, gen=2, batch=8)["decode_tokens_per_s"]
    base = accsim.run(arch="xeon-gold-6154", model="gpt2-small", prompt=1000, gen=2, batch=2)["decode_tokens_per_s"]
    assert outcome.simulated == pytest.approx(best / base, rel=1e-12)


def test_best_over_the_system_does_not_leak_into_the_baseline():
    scenario = {"arch": "t4", "model": "gpt2-small", "gen": 2, "stat": "tpot_s", "best_over": {"batch": [1, 4]},
                "baseline": {"arch": "xeon-gold-6154"}}
    outcome = run_case(_case(Claim("value", 1.0, 1.0), metric="speedup", scenario=scenario))
    assert outcome.notes == ("system: best batch 1 of [1, 4]",)


def test_a_share_is_the_parts_over_the_breakdown():
    import accsim
    stats = accsim.run(arch="t4", model="gpt2-small", gen=2)
    kinds = stats["decode.by_op_kind"]
    expected = 100 * kinds["launch.exposed_s"] / sum(kinds[k]["exposed_s"] for k in kinds)
    scenario = {"arch": "t4", "model": "gpt2-small", "gen": 2, "of": "decode.by_op_kind", "parts": ["launch"]}
    outcome = run_case(_case(Claim("bound", 50.0, 50.0, bound="at_least"), metric="share", scenario=scenario))
    assert outcome.simulated == pytest.approx(expected, rel=1e-12) and outcome.within
    bad = run_case(_case(Claim("value", 1.0, 1.0), metric="share", scenario={**scenario, "parts": ["launchh"]}))
    assert "scenario.parts: launchh not in decode.by_op_kind" in bad.failure


def test_an_order_case_runs_each_member():
    scenario = {"model": "gpt2-small", "gen": 2, "stat": "tpot_s"}
    members = (Member("h100", {"arch": "h100-sxm"}), Member("t4", {"arch": "t4"}))
    outcome = run_case(_case(Claim("order", better="lower"), scenario=scenario, members=members))
    assert [label for label, _ in outcome.values] == ["h100", "t4"]
    assert outcome.within and outcome.simulated is None


@pytest.mark.validation
def test_validate_shows_calibration_apart_and_counts_per_family_and_kind(tmp_path, capsys):
    out, md = tmp_path / "v.json", tmp_path / "v.md"
    assert main(["validate", "-k", "gpu-h200", "--json", str(out), "--markdown", str(md)]) == 0
    text = capsys.readouterr().out
    assert "calibration (not counted" in text and "cases per kind, family and claim" in text
    assert "1 validation cases:" in text and "3 calibration cases:" in text
    payload = json.loads(out.read_text())
    kinds = {c["id"]: c["kind"] for c in payload["cases"]}
    assert kinds["gpu-h200-eager-kernels-gpt2-8x768"] == "validation"
    assert kinds["gpu-h200-eager-decode-ms-per-layer-768"] == "calibration"
    assert {"kind": "calibration", "family": "all", "claim": "all"}.items() <= next(
        r for r in payload["counts"] if r["kind"] == "calibration" and r["family"] == "all").items()
    markdown = md.read_text()
    assert markdown.index("## Validation") < markdown.index("## Calibration") < markdown.index("## Counts")


def test_largest_fitting_is_where_a_system_runs_out_of_memory():
    scenario = {"arch": "t4", "model": "gpt2-small", "prompt": 1000, "gen": 2, "over": "batch",
                "values": [1, 8, 20000, 40000]}
    outcome = run_case(_case(Claim("value", 8.0, 8.0), metric="largest_fitting", scenario=scenario))
    assert outcome.simulated == 8.0 and outcome.within
    unsorted = run_case(_case(Claim("value", 8.0, 8.0), metric="largest_fitting",
                              scenario={**scenario, "values": [8, 1]}))
    assert "expected ascending values of batch" in unsorted.failure
