"""accsim report (self-contained HTML) and the roofline view: what the files hold, that they
are reproducible and offline, that they name a changed preset, and, in a real headless
Chromium, that the page runs without console errors and draws every point."""
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

import accsim
from accsim.cli import main
from accsim.view.report import source_of, write_report
from accsim.view.roofline import Roof, roof_points

pytestmark = pytest.mark.unit

SPEC = {"base": {"arch": "t4", "model": "gpt2-small", "gen": 2},
        "axes": {"batch": [1, 2], "prompt": [16, 32]}}


@pytest.fixture(scope="module")
def sweep_db(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    spec = folder / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    db = folder / "sweep.db"
    accsim.sweep(spec, db=db, jobs=1)
    return db


@pytest.fixture(scope="module")
def run_stats(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "stats.json"
    assert main(["run", "--arch", "t4", "--model", "gpt2-small", "--prompt", "16", "--gen", "3",
                 "--quiet", "--json", str(path)]) == 0
    return path


def _offline(page: str) -> None:
    """Nothing the page loads comes from elsewhere: no external script, style or link (outside
    the inlined plotly.js, whose strings name plotly.com for its own about-links)."""
    from plotly.offline import get_plotlyjs
    assert get_plotlyjs() in page
    page = page.replace(get_plotlyjs(), "")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page


def test_sweep_report_holds_plots_points_spec_and_sources(sweep_db, tmp_path):
    out = tmp_path / "r.html"
    assert write_report(sweep_db, out) == "sweep"
    page = out.read_text()
    _offline(page)
    assert page.count("Plotly.newPlot(") == 2                  # the explorer and the per-point breakdown
    assert len(re.findall(r"<tr><td class=\"num\" data-v=\"[12]\">", page)) == 4   # one row per point
    assert "NVIDIA T4 datasheet: boost clock 1590 MHz" in page    # a preset figure with its source
    assert "are the ones this sweep ran" in page
    assert 'id="explore-' in page and "throughput [tokens/s]" in page
    assert '"name":"prompt = 16"' in page and '"name":"prompt = 32"' in page    # a legend entry per value


def test_reports_are_reproducible_bytes(sweep_db, run_stats, tmp_path):
    for source in (sweep_db, run_stats):
        write_report(source, tmp_path / "a.html")
        write_report(source, tmp_path / "b.html")
        assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()


def test_sweep_report_says_when_a_preset_changed_since_the_sweep(tmp_path):
    preset = tmp_path / "my-t4.yaml"
    preset.write_text("extends: t4\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"base": {"arch": str(preset), "model": "gpt2-small", "gen": 2},
                                    "axes": {"batch": [1, 2]}}))
    db = tmp_path / "s.db"
    accsim.sweep(spec, db=db, jobs=1)
    write_report(db, tmp_path / "before.html")
    assert "are the ones this sweep ran" in (tmp_path / "before.html").read_text()
    preset.write_text("extends: t4\nmemory: {bandwidth_GBps: 400}\n")
    write_report(db, tmp_path / "after.html")
    after = (tmp_path / "after.html").read_text()
    assert "changed since this sweep ran" in after and "are the ones this sweep ran" not in after


def test_run_report_holds_results_breakdown_roofline_and_config(run_stats, tmp_path):
    out = tmp_path / "run.html"
    assert write_report(run_stats, out) == "run"
    page = out.read_text()
    _offline(page)
    assert page.count("Plotly.newPlot(") == 3                  # exposed time, busy time, roofline
    assert "roofline: gpt2-small on t4 (fp16), per device" in page
    stats = json.loads(run_stats.read_text())["stats"]
    assert f"{stats['tpot_s']:.4g}" in page
    assert "memory.bandwidth_GBps" in page and "NVIDIA T4 datasheet: 320+ GB/s" in page


def test_report_cli_writes_stdout_and_refuses_misuse(sweep_db, run_stats, tmp_path, capsys):
    assert main(["report", str(sweep_db), "--html", "-"]) == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")
    assert main(["report", str(run_stats), "--html", str(tmp_path / "x.html"), "--spec", "latest"]) != 0
    assert "--spec selects a spec of a sweep database" in capsys.readouterr().err
    empty = tmp_path / "empty.db"
    import sqlite3
    sqlite3.connect(empty).close()
    assert main(["report", str(empty), "--html", str(tmp_path / "y.html")]) != 0
    assert not (tmp_path / "y.html").exists()


def test_source_of_a_field_falls_back_to_its_section():
    sources = {"memory": "section source", "memory.bandwidth_GBps": "field source"}
    assert source_of("memory.bandwidth_GBps", sources) == "field source"
    assert source_of("memory.latency_ns", sources) == "section source"
    assert source_of("compute.sms", sources) == ""


def test_roof_points_place_each_kind_and_list_hidden_ones():
    stats = {"prefill": {"by_op_kind": {"matmul": {"flops": 400, "bytes": 100, "exposed_s": 2.0},
                                        "softmax": {"flops": 10, "bytes": 10, "exposed_s": 0.0},
                                        "launch": {"exposed_s": 1.0}}},
             "decode": {"by_op_kind": {"matmul": {"flops": 50, "bytes": 50, "exposed_s": 0.5}}}}
    points, hidden = roof_points(stats)
    assert [(p["phase"], p["kind"], p["intensity"], p["achieved_flops_per_s"]) for p in points] == \
        [("prefill", "matmul", 4.0, 200.0), ("decode", "matmul", 1.0, 100.0)]
    assert hidden == ["prefill softmax"]
    roof = Roof("r", peak_flops_per_s=1000.0, bandwidth_Bps=100.0)
    assert roof.ridge_flops_per_byte == 10.0
    assert roof.attainable_flops_per_s(1.0) == 100.0 and roof.attainable_flops_per_s(50.0) == 1000.0


def test_roofline_plot_writes_every_format(run_stats, tmp_path):
    for suffix in ("png", "svg", "pdf"):
        out = tmp_path / f"roof.{suffix}"
        assert main(["plot", str(run_stats), "--roofline", "--out", str(out)]) == 0
        assert out.stat().st_size > 1000
    assert main(["plot", str(run_stats.parent / "missing.db"), "--x", "a", "--y", "b", "--roofline"]) != 0


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it")
def test_reports_render_in_a_real_browser_without_errors(sweep_db, run_stats, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    from PIL import Image
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            for source, points in ((sweep_db, 4), (run_stats, None)):
                out = tmp_path / f"{Path(source).stem}.html"
                write_report(source, out)
                page = browser.new_page(viewport={"width": 1200, "height": 1600})
                problems = []
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: problems.append(str(e)))
                page.on("request", lambda r: problems.append(r.url) if not r.url.startswith(("file:", "data:"))
                        else None)
                page.goto(out.as_uri())
                page.wait_for_selector(".js-plotly-plot .main-svg")
                plots = page.locator(".js-plotly-plot").count()
                assert plots == (2 if points else 3)
                if points:       # the explorer draws every finished point; its menus and sorting run
                    explorer = page.locator(".js-plotly-plot").first
                    assert explorer.locator(".scatterlayer .point").count() == points
                    page.evaluate("""() => {
                        const gd = document.querySelector('.js-plotly-plot');
                        const b = gd.layout.updatemenus[1].buttons;      // y: the last column
                        return Plotly.update(gd, b[b.length - 1].args[0], b[b.length - 1].args[1]);
                    }""")
                    assert explorer.locator(".scatterlayer .point").count() == points
                    assert "ytitle" in explorer.inner_html()
                    page.locator("table.sortable th").nth(1).click()
                shot = tmp_path / f"{Path(source).stem}.png"
                page.screenshot(path=str(shot))
                colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
                assert colours is not None and len(colours) > 50, "the screenshot is blank"
                assert problems == []
                page.close()
        finally:
            browser.close()
