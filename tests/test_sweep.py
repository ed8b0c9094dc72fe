"""Sweeps: spec checking, expansion, storage, resume after a real kill, Dask equivalence."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import accsim

from accsim.cli import main
from accsim.core.errors import ConfigError
from accsim.study.results import export_csv, export_parquet, read_table
from accsim.study.sweeps import expand_points, load_spec, parse_spec, plan_sweep, point_scenario, run_sweep
from accsim.view.plots import pareto_front

pytestmark = pytest.mark.unit

ISSUE_SPEC = """
base: {arch: t4, model: gpt2-small, batch: 1, prompt: 64, gen: 4}
axes:
  batch: [1, 2, 4, 8, 16, 32]
  prompt: [64, 128, 256, 512, 1024]
constraints: ["batch * prompt <= 16384"]
"""


def test_issue_spec_expands_as_written():
    spec = parse_spec(yaml.safe_load(ISSUE_SPEC))
    points = expand_points(spec)
    assert len(points) == 29 and {"batch": 32, "prompt": 1024} not in points
    assert points[0] == {"batch": 1, "prompt": 64}


def test_value_forms():
    spec = parse_spec({"base": {"arch": "t4"}, "seed": 3, "axes": {
        "prompt": {"range": [64, 256, 64]}, "batch": {"log": [1, 64, 4]},
        "memory.bandwidth_GBps": {"uniform": [100.0, 400.0], "n": 3},
        "compute.efficiency": {"lin": [0.5, 0.9, 3]}}})
    assert spec.axes["prompt"] == (64, 128, 192, 256)
    assert spec.axes["batch"] == (1, 4, 16, 64)
    assert spec.axes["compute.efficiency"] == pytest.approx((0.5, 0.7, 0.9))
    again = parse_spec({"base": {"arch": "t4"}, "seed": 3, "axes": {
        "memory.bandwidth_GBps": {"uniform": [100.0, 400.0], "n": 3}}})
    assert again.axes["memory.bandwidth_GBps"] == spec.axes["memory.bandwidth_GBps"]
    assert all(100 <= v <= 400 for v in spec.axes["memory.bandwidth_GBps"])


def test_random_mode_is_seeded():
    raw = {"axes": {"batch": [1, 2, 4, 8], "prompt": [16, 32, 64]}, "mode": "random", "samples": 5, "seed": 9}
    a, b = expand_points(parse_spec(raw)), expand_points(parse_spec(raw))
    assert a == b and 1 <= len(a) <= 5


@pytest.mark.parametrize("raw, message", [
    ({"axes": {"bacth": [1]}}, "axes.bacth: unknown axis (did you mean 'batch'?)"),
    ({"axes": {"memory.bandwith_GBps": [1]}}, "(did you mean 'bandwidth_GBps'?)"),
    ({"axes": {"batch": [0]}}, "axes.batch[0]: expected an integer >= 1, got 0"),
    ({"axes": {"memory.bandwidth_GBps": [-1]}}, "axes.memory.bandwidth_GBps[0]: memory.bandwidth_GBps: expected a value > 0"),
    ({"axes": {"batch": [1]}, "constraints": ["bacth < 2"]}, "constraints[0]: unknown name 'bacth' (did you mean 'batch'?)"),
    ({"axes": {"batch": [1]}, "constraints": ["__import__('os')"]}, "uses Call"),
    ({"axes": {"batch": [1]}, "constraint": []}, "constraint: unknown key (did you mean 'constraints'?)"),
    ({"base": {"arch": "t5"}, "axes": {"batch": [1]}}, "base.arch: unknown preset 't5'"),
    ({"base": {"bandwidth": 3}, "axes": {"batch": [1]}}, "base.bandwidth: unknown key"),
    ({"axes": {"batch": {"range": [4, 1, 1]}}}, "axes.batch: range: expected start <= stop"),
    ({"axes": {}}, "axes: expected a mapping of at least one axis"),
])
def test_bad_specs_fail_before_anything_runs(raw, message):
    with pytest.raises(ConfigError) as info:
        parse_spec(raw)
    assert any(message in p for p in info.value.problems), info.value.problems


def test_sweep_cli_stores_exports_and_plots(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(ISSUE_SPEC)
    assert main(["sweep", str(spec), "--jobs", "2", "--quiet"]) == 0
    db = tmp_path / "s.db"
    columns, rows = read_table(db)
    assert len(rows) == 29 and "batch" in columns and "prompt" in columns and "tpot_s" in columns
    status = {(r[columns.index("batch")], r[columns.index("prompt")]): r[columns.index("status")] for r in rows}
    assert status[(1, 64)] == "ok"
    failed = [r for r in rows if r[columns.index("status")] == "failed"]
    assert failed and all("max_position_embeddings" in r[columns.index("error")] for r in failed)
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert export_csv(db, tmp_path / "s.csv") == 29
    assert export_parquet(db, tmp_path / "s.parquet") == 29
    assert main(["plot", str(db), "--x", "batch", "--y", "tokens_per_s", "--pareto", "--color", "prompt",
                 "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 10_000
    # a second run finds everything stored and runs nothing
    capsys.readouterr()
    assert main(["sweep", str(spec), "--quiet"]) == 0
    assert "29 already stored, 0 ok, 0 failed" in capsys.readouterr().out


def test_bad_spec_writes_no_database(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text("axes: {batch: [1], memory.bandwith_GBps: [3]}\n")
    assert main(["sweep", str(spec)]) == 1
    assert "did you mean 'bandwidth_GBps'" in capsys.readouterr().err
    assert not (tmp_path / "bad.db").exists()


def test_pareto_front():
    xs, ys = [1, 2, 3, 4, 2.5], [1, 3, 2, 5, 4]
    assert pareto_front(xs, ys, "min", "max").tolist() == [0, 1, 4, 3]
    assert pareto_front(xs, ys, "min", "min").tolist() == [0]


def _rows(db):
    columns, rows = read_table(db)
    skip = {columns.index("elapsed_s"), columns.index("finished_at")}
    return sorted(tuple(v for i, v in enumerate(r) if i not in skip) for r in rows)


def test_200_point_sweep_local_and_dask_cluster_agree(tmp_path):
    pytest.importorskip("distributed")
    from distributed import LocalCluster
    raw = {"base": {"arch": "t4", "model": "gpt2-small", "gen": 2, "decode_samples": 2},
           "axes": {"batch": [1, 2, 4, 8, 16], "prompt": [16, 32, 64, 128, 256],
                    "memory.bandwidth_GBps": [160, 320, 640, 1280],
                    "framework.launch_overhead_us": [10, 20]}}
    spec = parse_spec(raw)
    assert len(expand_points(spec)) == 200
    local = run_sweep(spec, tmp_path / "local.db", jobs=2)
    assert (local.ok, local.failed) == (200, 0)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = run_sweep(spec, tmp_path / "dask.db", scheduler=cluster.scheduler_address)
    assert remote.ok == 200
    assert _rows(tmp_path / "local.db") == _rows(tmp_path / "dask.db")
    assert export_csv(tmp_path / "local.db", tmp_path / "local.csv") == 200


def test_killed_sweep_resumes_with_every_point_once(tmp_path):
    spec = tmp_path / "k.yaml"
    spec.write_text(yaml.safe_dump({"base": {"arch": "t4", "model": "gpt2-medium", "gen": 3},
                                    "axes": {"batch": list(range(1, 11)), "prompt": [16, 32, 48, 64, 80, 96]}}))
    db = tmp_path / "k.db"
    cmd = [sys.executable, "-m", "accsim.cli", "sweep", str(spec), "--jobs", "1", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    stored = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if db.exists():
            try:
                stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM points").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if stored >= 5:
                break
    assert proc.poll() is None, "the sweep finished before it could be killed; make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = sqlite3.connect(db).execute("SELECT COUNT(*) FROM points").fetchone()[0]
    assert 5 <= before < 60
    assert subprocess.run(cmd, cwd=tmp_path, capture_output=True).returncode == 0
    ids = [r[0] for r in sqlite3.connect(db).execute("SELECT point_id FROM points")]
    assert len(ids) == 60 and len(set(ids)) == 60


def test_200_point_pim_sweep_on_two_workers(tmp_path):
    """Issue check: a 200-point sweep over a PIM preset on 2 local workers finishes and exports."""
    model = tmp_path / "tiny.json"
    model.write_text('{"model_type": "gpt2", "n_layer": 2, "n_embd": 256, "n_head": 4, '
                     '"vocab_size": 1000, "n_positions": 256}')
    spec = parse_spec({"base": {"arch": "pim-gpt", "model": str(model), "prompt": 2, "gen": 2,
                                "decode_samples": 2},
                       "axes": {"dram.organization.channels": [2, 4, 8, 16, 32],
                                "dram.timing.nRCDRDMAC": {"range": [40, 76, 4]},
                                "asic.vector_lanes": [64, 128, 256, 512]}})
    assert len(expand_points(spec)) == 200
    summary = run_sweep(spec, tmp_path / "pim.db", jobs=2)
    assert (summary.ok, summary.failed) == (200, 0)
    assert export_csv(tmp_path / "pim.db", tmp_path / "pim.csv") == 200
    columns, rows = read_table(tmp_path / "pim.db")
    tpot = {(r[columns.index("dram.organization.channels")], r[columns.index("dram.timing.nRCDRDMAC")],
             r[columns.index("asic.vector_lanes")]): r[columns.index("tpot_s")] for r in rows}
    assert tpot[(2, 40, 256)] > tpot[(16, 40, 256)]        # more channels, faster
    assert tpot[(8, 76, 256)] > tpot[(8, 40, 256)]         # slower activation, slower


def test_plot_series_facets_and_labels_from_names(tmp_path):
    """Discrete colours get a legend (lines per series), facets get panels, labels carry units."""
    db = tmp_path / "p.db"
    run_sweep(parse_spec({"base": {"arch": "t4", "gen": 2, "decode_samples": 2},
                          "axes": {"batch": [1, 2], "prompt": [16, 32]}}, "p.yaml"), db)
    out = tmp_path / "p.svg"
    assert main(["plot", str(db), "--x", "prompt", "--y", "tokens_per_s", "--color", "batch", "--lines",
                 "--facet", "batch", "--out", str(out)]) == 0
    svg = out.read_text()
    for text in ("throughput [tokens/s]", "batch = 1", "batch = 2", "sweep of p.yaml: 4 points"):
        assert text in svg, text


@pytest.mark.parametrize("spec_path", sorted((Path(__file__).parent.parent / "examples").glob("sweep-*.yaml")),
                         ids=lambda p: p.name)
def test_every_example_sweep_plans(spec_path):
    """The shipped specs parse, expand within the point limit and plan (ids for every point)."""
    planned, spec_id = plan_sweep(load_spec(spec_path))
    assert planned and len({pid for _, _, pid in planned}) == len(planned) and spec_id


def test_the_1000_point_example_fits_at_its_largest_point():
    """examples/sweep-h100-design.yaml is all-valid: its largest KV cache (batch 64 x 2048
    tokens) still fits the H100 beside the weights, at the lowest bandwidth of the grid."""
    spec = load_spec(Path(__file__).parent.parent / "examples" / "sweep-h100-design.yaml")
    points = expand_points(spec)
    assert len(points) == 1000
    largest = max(points, key=lambda p: (p["batch"] * p["prompt"], -p["memory.bandwidth_GBps"]))
    stats = accsim.run(**point_scenario(spec, largest))
    assert stats["decode_tokens_per_s"] > 0
