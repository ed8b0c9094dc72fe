"""Sweep reliability: a point's id is its whole resolved scenario, databases say which specs
they hold, failed points can be retried and say why they failed, two sweeps can share one
database, and SIGTERM stops the workers with the database consistent."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from accsim.cli import main
from accsim.study.results import read_specs, read_table
from accsim.study.sweeps import parse_spec, plan_sweep

pytestmark = pytest.mark.unit

SPEC = {"base": {"arch": "t4", "model": "gpt2-small", "gen": 2, "decode_samples": 2},
        "axes": {"batch": [1, 2]}}


def ids(spec_raw):
    return [pid for _, _, pid in plan_sweep(parse_spec(spec_raw))[0]]


def test_a_point_id_covers_base_set_and_axes():
    base = ids(SPEC)
    assert ids(SPEC) == base                                   # deterministic
    assert ids({**SPEC, "base": {**SPEC["base"], "gen": 3}}) != base
    assert ids({**SPEC, "base": {**SPEC["base"], "set": {"memory.bandwidth_GBps": 100}}}) != base
    assert set(base) < set(ids({**SPEC, "axes": {"batch": [1, 2, 4]}}))   # more values: old ids kept


def test_a_point_id_covers_the_content_of_presets_and_models(tmp_path):
    from accsim.study.sweeps import model_content_digest, preset_content_digest
    preset = tmp_path / "mine.yaml"
    preset.write_text("family: gpu\nextends: t4\nmemory: {bandwidth_GBps: 300}\n")
    model = tmp_path / "tiny.json"
    model.write_text('{"model_type": "gpt2", "n_layer": 2, "n_embd": 64, "n_head": 4, "vocab_size": 100, '
                     '"n_positions": 128}')
    spec = {**SPEC, "base": {**SPEC["base"], "arch": str(preset), "model": str(model)}}
    first = ids(spec)
    preset.write_text("family: gpu\nextends: t4\nmemory: {bandwidth_GBps: 301}\n")
    preset_content_digest.cache_clear()
    second = ids(spec)
    model.write_text(model.read_text().replace('"n_layer": 2', '"n_layer": 3'))
    model_content_digest.cache_clear()
    third = ids(spec)
    assert len({tuple(first), tuple(second), tuple(third)}) == 3


def test_a_preset_named_by_another_is_part_of_its_content(monkeypatch):
    """csd composes a GPU preset by name: editing that GPU preset changes the csd points' ids."""
    from accsim.core import presets
    from accsim.study.sweeps import preset_content_digest
    before = preset_content_digest("instinfer-a6000-1csd")
    real = presets.load_merged
    monkeypatch.setattr(presets, "load_merged", lambda name, *a: {**real(name, *a), "edited": True}
                        if name == "a6000" else real(name, *a))
    preset_content_digest.cache_clear()
    try:
        assert preset_content_digest("instinfer-a6000-1csd") != before
    finally:
        preset_content_digest.cache_clear()


def test_an_edited_spec_runs_new_points_and_the_database_keeps_both_specs(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    assert main(["sweep", str(spec), "--jobs", "1", "--quiet"]) == 0
    edited = {**SPEC, "base": {**SPEC["base"], "set": {"memory.bandwidth_GBps": 100}}}
    spec.write_text(yaml.safe_dump(edited))
    capsys.readouterr()
    assert main(["sweep", str(spec), "--jobs", "1", "--quiet"]) == 0
    assert "0 already stored, 2 ok" in capsys.readouterr().out
    db = tmp_path / "s.db"
    specs = read_specs(db)
    assert len(specs) == 2 and [s["ok"] for s in specs] == [2, 2]
    columns, rows = read_table(db)
    assert len(rows) == 4
    newest = specs[-1]["spec_id"]
    _, rows_latest = read_table(db, newest)
    tpot = columns.index("tpot_s")
    slow = sorted(r[tpot] for r in rows_latest)
    fast = sorted(r[tpot] for r in read_table(db, specs[0]["spec_id"])[1])
    assert all(s > f for s, f in zip(slow, fast))       # 100 GB/s is slower than the T4's 320
    assert main(["results", str(db), "--spec", "latest", "--csv", str(tmp_path / "l.csv")]) == 0
    assert len((tmp_path / "l.csv").read_text().splitlines()) == 3


def test_failed_points_say_why_and_run_again_only_when_asked(tmp_path, capsys):
    spec = tmp_path / "f.yaml"
    spec.write_text(yaml.safe_dump({"base": {"arch": "t4", "gen": 2, "decode_samples": 2},
                                    "axes": {"prompt": [16, 2000, 3000]}}))
    assert main(["sweep", str(spec), "--jobs", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "1 ok, 2 failed" in out
    assert main(["sweep", str(spec), "--jobs", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "3 already stored" in out and "2 points stored as failed were not run again" in out
    assert main(["sweep", str(spec), "--jobs", "1", "--quiet", "--retry-failed"]) == 0
    assert "1 already stored, 0 ok, 2 failed" in capsys.readouterr().out
    assert main(["results", str(tmp_path / "f.db")]) == 0
    out = capsys.readouterr().out
    assert "why points failed" in out and "max_position_embeddings" in out
    assert out.count("max_position_embeddings") == 1     # one reason for both points


def test_two_sweeps_into_one_fresh_database_both_finish_without_loss_or_duplicates(tmp_path):
    spec = tmp_path / "c.yaml"
    spec.write_text(yaml.safe_dump({"base": {"arch": "t4", "gen": 2, "decode_samples": 2},
                                    "axes": {"batch": [1, 2, 3, 4, 5, 6], "prompt": [16, 32]}}))
    db = tmp_path / "c.db"
    cmd = [sys.executable, "-m", "accsim.cli", "sweep", str(spec), "--db", str(db), "--jobs", "1", "--quiet"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    rows = sqlite3.connect(db).execute("SELECT point_id, status FROM points").fetchall()
    assert len(rows) == 12 and len({r[0] for r in rows}) == 12 and {r[1] for r in rows} == {"ok"}
    assert len(read_specs(db)) == 1


def test_sigterm_stops_the_workers_and_keeps_the_database_consistent(tmp_path):
    spec = tmp_path / "t.yaml"
    spec.write_text(yaml.safe_dump({"base": {"arch": "t4", "model": "gpt2-xl", "gen": 12, "decode_samples": 0},
                                    "axes": {"prompt": list(range(16, 16 * 17, 16))}}))
    db = tmp_path / "t.db"
    proc = subprocess.Popen([sys.executable, "-m", "accsim.cli", "sweep", str(spec), "--jobs", "2", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not _stored(db):
        time.sleep(0.1)
    workers = _children(proc.pid)
    assert workers, "no worker processes seen"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM" in out and "Traceback" not in err
    time.sleep(0.5)
    assert not [pid for pid in workers if _alive(pid)], "workers left running after SIGTERM"
    stored = sqlite3.connect(db).execute("SELECT COUNT(*), COUNT(DISTINCT point_id) FROM points").fetchone()
    assert 1 <= stored[0] == stored[1] < 16
    assert main(["sweep", str(spec), "--jobs", "2", "--quiet"]) == 0     # and it resumes
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM points").fetchone()[0] == 16


def _stored(db):
    try:
        return sqlite3.connect(db).execute("SELECT COUNT(*) FROM points").fetchone()[0] >= 1
    except sqlite3.Error:
        return False


def _children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_python_api_sweep_and_dataframe(tmp_path):
    import accsim
    pytest.importorskip("pandas")
    summary = accsim.sweep(SPEC, db=tmp_path / "api.db")
    assert (summary.ok, summary.failed, summary.db) == (2, 0, str(tmp_path / "api.db"))
    frame = accsim.results.load(tmp_path / "api.db")
    assert list(frame["batch"]) == [1, 2] and frame["tpot_s"].gt(0).all()
    assert frame.attrs["axes"] == ["batch"] and frame.attrs["specs"][0]["spec_id"] == summary.spec_id
    assert accsim.sweep(SPEC, db=tmp_path / "api.db").skipped == 2


def test_the_example_notebook_runs(tmp_path):
    """examples/sweep-notebook.ipynb executes top to bottom in a real Jupyter kernel."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from pathlib import Path
    notebook = nbformat.read(Path(__file__).parent.parent / "examples" / "sweep-notebook.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)      # the plot rendered
    assert (tmp_path / "notebook-sweep.db").exists()
