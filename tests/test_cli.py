"""The accsim command line: output, stats.json, and one-line errors with exit codes."""
import json

import pytest

from accsim.cli import main
from accsim.core.program import Program
from contract import assert_breakdown_sums

pytestmark = pytest.mark.unit


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_prints_tpot_and_writes_stats(capsys, tmp_path):
    path = tmp_path / "out.json"
    code, out, err = run_cli(capsys, "run", "--arch", "t4", "--model", "gpt2-small", "--gen", "16",
                             "--json", str(path))
    assert code == 0 and err == ""
    assert "TPOT" in out and "tokens/s" in out and "where the time goes" in out
    payload = json.loads(path.read_text())
    assert payload["accsim_version"] and len(payload["program_digests"]["prefill"]) == 64
    assert payload["resolved_config"]["preset"] == "t4"
    assert payload["resolved_config"]["sources"]["memory.bandwidth_GBps"].startswith("NVIDIA T4")
    stats = payload["stats"]
    assert stats["decode"]["steps"] == 15
    assert_breakdown_sums(stats)


def test_run_without_arguments_uses_defaults(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "run")
    assert code == 0 and (tmp_path / "stats.json").exists() and "gpt2-small on t4" in out


@pytest.mark.parametrize("argv, code, message", [
    (["run", "--arch", "t5"], 1, "error: unknown preset 't5'. Known: a100-80gb"),
    (["run", "--bach", "3"], 2, "error: No such option '--bach'"),
    (["run", "--gen", "0"], 2, "error: Invalid value for '--gen'"),
    (["run", "--set", "memory.bandwith_GBps=1"], 1,
     "error: memory.bandwith_GBps: unknown key 'bandwith_GBps' in memory (did you mean 'bandwidth_GBps'?)"),
    (["run", "--set", "oops"], 1, "error: --set: expected KEY=VALUE"),
    (["run", "--model", "llama2-70b"], 1, "error: memory.capacity_GiB: llama2-70b needs"),
    (["run", "--decode-samples", "1"], 1, "error: decode_samples: 1 cannot span"),
    (["frobnicate"], 2, "error: No such command 'frobnicate'"),
])
def test_bad_input_is_one_clear_line_and_nonzero(capsys, tmp_path, argv, code, message):
    rc, out, err = run_cli(capsys, *argv, *(["--json", str(tmp_path / "s.json")] if argv[0] == "run" and "--bach" not in argv else []))
    assert rc == code
    assert err.startswith(message)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.json").exists()


def test_list_shows_everything(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for word in ("gpu", "gpu-kernels", "t4", "dgx-h100", "xeon-8380", "deepseek-r1", "671.026"):
        assert word in out


def test_show_graph(capsys):
    code, out, _ = run_cli(capsys, "show-graph", "--model", "llama2-7b", "--phase", "prefill",
                           "--tokens", "32", "--layers", "1")
    assert code == 0 and "L0.attn.score" in out and "L1.attn.score" not in out and "6.738 B weight" in out


def test_show_program_saves_a_loadable_program(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "show-program", "--arch", "t4", "--model", "gpt2-small",
                           "--save", str(tmp_path / "p"), "--limit", "3")
    assert code == 0 and "gpu Program:" in out
    assert Program.load(tmp_path / "p").n_tasks > 100


def test_show_preset_lists_sources(capsys):
    code, out, _ = run_cli(capsys, "show-preset", "h200")
    assert code == 0 and "4800" in out and "H200 datasheet" in out


def test_model_folder_holding_config_json_is_a_model(capsys, tmp_path):
    from accsim.workloads.model import CONFIG_DIR
    snapshot = tmp_path / "gpt2-snapshot"
    snapshot.mkdir()
    (snapshot / "config.json").write_text((CONFIG_DIR / "gpt2-small.json").read_text())
    code, out, err = run_cli(capsys, "run", "--model", str(snapshot), "--gen", "2", "--quiet",
                             "--json", str(tmp_path / "s.json"))
    assert code == 0 and err == ""
    assert json.loads((tmp_path / "s.json").read_text())["stats"]["model"]["num_params"] == 124_439_808
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "run", "--model", str(empty), "--gen", "2", "--quiet")
    assert code == 1 and "must hold a config.json" in err and "Traceback" not in err


def test_results_csv_dash_writes_the_table_to_stdout(capsys, tmp_path, monkeypatch):
    from accsim.study.sweeps import parse_spec, run_sweep
    db = tmp_path / "s.db"
    run_sweep(parse_spec({"base": {"arch": "t4", "gen": 2}, "axes": {"batch": [1, 2]}}), db, jobs=1)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "results", str(db), "--csv", "-")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3 and "batch" in lines[0].split(",")
    assert "2 rows" in err and not (tmp_path / "-").exists()


def test_gemm_dataflow_is_recorded_in_resolved_config(capsys, tmp_path):
    path = tmp_path / "g.json"
    code, _, _ = run_cli(capsys, "gemm", "--arch", "systolic-32x32", "--dataflow", "ws", "--m", "64",
                         "--k", "64", "--n", "64", "--json", str(path))
    payload = json.loads(path.read_text())
    assert code == 0 and payload["gemms"][0]["dataflow"] == "ws"
    assert payload["resolved_config"]["spec"]["array"]["dataflow"] == "ws"


def test_decode_only_shows_no_ttft(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "run", "--decode-only", "--gen", "3", "--json", str(tmp_path / "s.json"))
    assert code == 0 and "n/a (decode only: no prefill)" in out and "TTFT" in out


def test_the_readme_example_sweep_runs_every_point(tmp_path):
    from pathlib import Path

    from accsim.study.sweeps import load_spec, run_sweep
    spec = load_spec(Path(__file__).parent.parent / "examples" / "sweep-t4.yaml")
    summary = run_sweep(spec, tmp_path / "t4.db", jobs=2)
    assert summary.total == 24 and (summary.ok, summary.failed) == (24, 0)


@pytest.mark.parametrize("words, expected", [
    ("accsim run --arch h1", {"h100-sxm"}),
    ("accsim run --model llama3", {"llama3.1-8b", "llama3.1-70b", "llama3.1-405b"}),
    ("accsim dram --standard hbm3", {"hbm3-6400", "hbm3-7200"}),
    ("accsim show-preset sn40", {"sn40l", "sn40l-node8", "sn40l-node16"}),
])
def test_shell_completion_completes_preset_and_model_names(words, expected):
    import os
    import subprocess
    import sys
    env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1),
           "_ACCSIM_COMPLETE": "bash_complete"}
    out = subprocess.run([sys.executable, "-m", "accsim.cli"], env=env, capture_output=True, text=True,
                         timeout=60).stdout.split()
    names = {line.split(",", 1)[1] for line in out if line.startswith("plain,")}
    assert names == expected and f"file,{words.split()[-1]}" in out     # paths complete too


@pytest.mark.parametrize("argv", [["dram", "--standard", "gddr6-14gbps"], ["flash", "--preset", "instinfer-csd-flash"]])
def test_the_shipped_sample_trace_runs(argv, tmp_path):
    from pathlib import Path
    trace = Path(__file__).parent.parent / "examples" / "sample.trace"
    out = tmp_path / "s.json"
    assert main([*argv, "--trace", str(trace), "--json", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["stats"]["requests"] == 2000


def test_plot_breaks_a_run_down_per_phase_and_unit(tmp_path):
    stats = tmp_path / "run.json"
    assert main(["run", "--gen", "3", "--quiet", "--json", str(stats)]) == 0
    out = tmp_path / "b.svg"
    assert main(["plot", str(stats), "--out", str(out)]) == 0
    svg = out.read_text()
    for text in ("where the time goes", "busy time per unit", "prefill", "decode", "launch"):
        assert text in svg, text


def test_progress_appears_only_for_work_over_a_second_and_gives_an_eta(monkeypatch):
    import io
    import time

    from rich.console import Console

    from accsim.cli import common
    shown = io.StringIO()
    monkeypatch.setattr(common, "console", Console(file=shown, force_terminal=True, width=100))
    with common.progress_bar("quick work", quiet=False) as report:
        report(1, 2)
    assert shown.getvalue() == ""
    with common.progress_bar("long work", quiet=False) as report:
        report(1, 4)
        time.sleep(common.SHOW_AFTER_S + 0.5)
    assert "long work" in shown.getvalue() and "eta" in shown.getvalue()
    shown.truncate(0)
    with common.progress_bar("quiet work", quiet=True) as report:
        time.sleep(common.SHOW_AFTER_S + 0.2)
    assert shown.getvalue().strip("\x00") == ""


def test_show_program_lists_one_task_per_row(capsys):
    from accsim.cli import main
    assert main(["show-program", "--arch", "sn40l-node8", "--model", "llama2-7b", "--dtype", "bf16",
                 "--tokens", "64", "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert "first 5 of" in out and "task 0" not in out          # not the transposed layout
    assert "other columns:" in out and "--save writes every column" in out


def test_piped_long_work_prints_progress_lines_on_standard_error(tmp_path, capsys, monkeypatch):
    """Without a terminal a sweep (or a validate, a run) says how far it is, on standard error."""
    from accsim.cli import common, main
    monkeypatch.setattr(common, "PIPED_EVERY_S", 0.0)
    spec = tmp_path / "s.yaml"
    spec.write_text("base: {arch: t4, gen: 2, decode_samples: 2}\naxes: {batch: [1, 2, 3]}\n")
    assert main(["sweep", str(spec), "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert "sweep points: 3/3 after" in err
    assert main(["validate", "-k", "scalesim-g1"]) == 0
    assert "validating cases: 2/4 after" in capsys.readouterr().err
