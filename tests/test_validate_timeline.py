"""accsim validate (honest misses, exit codes, outputs) and Chrome trace timelines."""
import json

import pytest

from accsim.cli import main
from accsim.validation.cases import load_cases

pytestmark = pytest.mark.unit


def test_every_case_has_a_source_and_a_known_metric():
    cases = load_cases()
    assert cases and all(c.source for c in cases)
    assert {c.id for c in cases} >= {"gpu-h200-eager-kernels-gpt2-8x768", "ramulator2-gddr6-rand-t-rd-done",
                                     "pimgpt-speedup-vs-t4"}


def test_a_curve_over_an_unknown_key_is_refused(tmp_path):
    import yaml
    from accsim.core.errors import ConfigError
    (tmp_path / "x.yaml").write_text(yaml.safe_dump({"system": "x", "cases": [{
        "id": "a", "source": "s", "metric": "stat", "published": 1,
        "scenario": {"arch": "t4", "model": "gpt2-small", "stat": "tpot_s"},
        "curve": {"over": "batchh", "values": [1], "stat": "tpot_s"}}]}))
    with pytest.raises(ConfigError, match="curve: over: 'batchh' is not a run key .did you mean 'batch'"):
        load_cases(tmp_path)


@pytest.mark.validation
def test_validate_reports_misses_without_failing(tmp_path, capsys):
    """The gpu cases include a known miss (a calibration case: shown, and --strict fails on it);
    the full table runs in the slow layer below."""
    out = tmp_path / "v.json"
    code = main(["validate", "-k", "gpu-h200", "--json", str(out), "--markdown", str(tmp_path / "v.md"),
                 "--plot", str(tmp_path / "v.png")])
    text = capsys.readouterr().out
    cases = json.loads(out.read_text())["cases"]
    misses = [c for c in cases if not c["within"]]
    assert code == 0 and "published vs simulated" in text
    assert len(cases) == 4 and misses
    assert all(c["simulated"] is not None for c in cases)
    assert (tmp_path / "v.png").exists() and "| case |" in (tmp_path / "v.md").read_text()
    missed = next(c["id"] for c in misses) if misses else None
    if missed:
        assert main(["validate", "--strict", "-k", missed]) == 1
    assert main(["validate", "--strict", "-k", "gpu-h200-eager-kernels"]) == 0


@pytest.mark.slow
@pytest.mark.validation
def test_every_published_case_runs(tmp_path):
    out = tmp_path / "all.json"
    assert main(["validate", "--json", str(out)]) == 0
    cases = json.loads(out.read_text())["cases"]
    assert len(cases) == len(load_cases()) and all(c["failure"] is None for c in cases)


def test_validate_filter_selects_cases(tmp_path, capsys):
    out = tmp_path / "v.json"
    assert main(["validate", "-k", "kernels", "--json", str(out)]) == 0
    assert [c["id"] for c in json.loads(out.read_text())["cases"]] == ["gpu-h200-eager-kernels-gpt2-8x768"]


def test_timeline_is_a_chrome_trace(tmp_path):
    path = tmp_path / "t.json"
    assert main(["run", "--gen", "6", "--quiet", "--json", str(tmp_path / "s.json"), "--trace", str(path)]) == 0
    trace = json.loads(path.read_text())
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert trace["otherData"]["steps"] == ["prefill", "decode step 1 (context 64)", "decode step 5 (context 68)"]
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in events)
    assert {e["tid"] for e in events} >= {0, 1}
    stats = json.loads((tmp_path / "s.json").read_text())["stats"]
    prefill_end = max(e["ts"] + e["dur"] for e in events if e["pid"] == 0)
    assert prefill_end == pytest.approx(stats["ttft_s"] * 1e6, rel=1e-9)


def test_timeline_aggregates_big_steps(tmp_path):
    path = tmp_path / "t.json"
    assert main(["run", "--model", "llama2-7b", "--arch", "h100-sxm", "--gen", "2", "--quiet",
                 "--json", str(tmp_path / "s.json"), "--trace", str(path), "--trace-max-events", "300"]) == 0
    trace = json.loads(path.read_text())
    assert len([e for e in trace["traceEvents"] if e["ph"] == "X"]) <= 300 + 8
    assert trace["otherData"]["aggregation"]["prefill"]["tasks_per_event"] > 1


@pytest.mark.validation
def test_validate_shows_what_a_case_asks_for(tmp_path, capsys):
    """PIM-GPT cases print their latency breakdown; cases sharing a scenario share its run."""
    out = tmp_path / "v.json"
    assert main(["validate", "-k", "pimgpt-asic-share", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "by_op_kind = pim_mac" in text and "activation_refresh" in text
    shown = json.loads(out.read_text())["cases"][0]["shown"]
    assert set(shown) >= {"pim_mac", "activation_refresh", "data_movement", "asic"}


def test_parity_plot_has_a_panel_per_unit_and_draws_ranges_at_their_ends(tmp_path):
    """A range's ends are two points joined; calibration cases and orders are not drawn; only
    misses are labelled, in a numbered key; SVG works too."""
    from accsim.view.plots import parity_marks, plot_parity

    def row(id, unit, comparisons, kind="validation"):
        return {"id": id, "unit": unit, "kind": kind, "within": all(c["within"] for c in comparisons),
                "comparisons": comparisons}
    rows = [row("a-cycles", "cycles", [{"published": 100.0, "simulated": 110.0, "within": True}]),
            row("b-wide-range", "ratio", [{"published": 41.0, "simulated": 10.0, "within": False},
                                          {"published": 137.0, "simulated": 40.0, "within": False}]),
            row("c-ratio", "ratio", [{"published": 3.0, "simulated": 3.1, "within": True}]),
            row("d-fit", "ratio", [{"published": 5.0, "simulated": 5.0, "within": True}], kind="calibration"),
            row("e-order", "ratio", [{"published": None, "simulated": 1.2, "within": True}])]
    marks = parity_marks(rows)
    assert [m["id"] for m in marks] == ["a-cycles", "b-wide-range", "c-ratio"]
    assert marks[1]["points"] == [(41.0, 10.0), (137.0, 40.0)]
    assert plot_parity(rows, tmp_path / "p.svg") == 3
    svg = (tmp_path / "p.svg").read_text()
    assert "cycles: 1 of 1 within" in svg and "ratio: 1 of 2 within" in svg
    assert "2 within tolerance, 1 misses" in svg and "b-wide-range" in svg and "a-cycles" not in svg


def test_markdown_table_gives_unit_source_and_both_ends_of_a_range():
    from accsim.validation.cases import Case, Claim
    from accsim.validation.harness import judge, markdown_table, Outcome
    case = Case("x-range", "s", "f", "a paper, Table 2", "stat", {"stat": "tpot_s"}, Claim("range", 41.0, 137.0),
                20.0, "why")
    outcome = Outcome(case, (("", 100.0),), tuple(judge(case.claim, [("", 100.0)], 20.0)))
    text = markdown_table([outcome])
    header = next(line for line in text.splitlines() if line.startswith("| case |"))
    rows = [line for line in text.splitlines() if line.startswith("| x-range |")]
    assert "| unit |" in header and "| source |" in header
    assert len(rows) == 2 and "low end" in rows[0] and "high end" in rows[1] and "a paper, Table 2" in rows[0]
    assert "no (miss)" in rows[0] and "+143.9" in rows[0]
