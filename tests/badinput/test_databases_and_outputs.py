"""Results databases that are not one, and output paths that must not be written: refused
with the path named, the target (a device, a FIFO, a folder, a symlink) left exactly as it was."""
import os
import shutil
import sqlite3

import pytest

from accsim.study.sweeps import parse_spec, run_sweep

pytestmark = [pytest.mark.unit, pytest.mark.badinput]


@pytest.fixture(scope="module")
def results_db(tmp_path_factory):
    """A small real database holding two specs."""
    db = tmp_path_factory.mktemp("db") / "r.db"
    for gen in (2, 3):
        run_sweep(parse_spec({"base": {"arch": "t4", "gen": gen, "decode_samples": 2},
                              "axes": {"batch": [1, 2]}}, f"spec{gen}.yaml"), db)
    return db


def copy_of(db):
    return lambda path: shutil.copy(db, path)


def other_sqlite(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.commit()
    conn.close()


DATABASES = [
    (["results", "r.db"], "not a results database", {"r.db": "just text\n"}),
    (["results", "r.db"], "not a results database", {"r.db": b"\x00" * 4096}),
    (["results", "r.db"], "not a results database", {"r.db": ""}),
    (["results", "r.db"], "not a results database", {"r.db": other_sqlite}),
    (["results", "r.db"], "File 'r.db' is a directory", {"r.db/x": ""}),
    (["results", "r.db", "--csv", "o.csv"], "not a results database", {"r.db": "text\n"}),
    (["results", "r.db", "--parquet", "o.parquet"], "not a results database", {"r.db": "text\n"}),
    (["plot", "r.db", "--x", "batch", "--y", "tpot_s"], "not a results database", {"r.db": "text\n"}),
    (["report", "r.db", "--html", "o.html"], "not a results database", {"r.db": "text\n"}),
    (["report", "r.db", "--html", "o.html"], "holds no sweep spec", {"r.db": other_sqlite}),
    (["report", "r.json", "--html", "o.html"], "not the stats of 'accsim run'", {"r.json": "{}"}),
    (["report", "r.json", "--html", "o.html"], "not the stats of 'accsim run'", {"r.json": "[1, 2"}),
    (["plot", "r.json", "--roofline"], "not the stats of 'accsim run'", {"r.json": '{"stats": 1}'}),
    (["sweep", "s.yaml", "--db", "r.db", "--quiet"], "not a usable results database", {"r.db": "text\n"}),
    (["sweep", "s.yaml", "--db", "r.db", "--quiet"], "not a usable results database", {"r.db": b"\xff" * 512}),
    (["sweep", "s.yaml", "--db", "d", "--quiet"], "File 'd' is a directory", {"d/x": ""}),
    (["sweep", "s.yaml", "--db", "no/r.db", "--quiet"], "folder 'no' does not exist", {}),
    (["sweep", "s.yaml", "--db", "fifo", "--quiet"], "is not a regular file", {"fifo": lambda p: os.mkfifo(p)}),
]


@pytest.mark.parametrize("argv, expect, files", DATABASES, ids=[f"{i}:{' '.join(a)}" for i, (a, _, _) in enumerate(DATABASES)])
def test_a_bad_database_is_refused_and_left_alone(refused, argv, expect, files):
    refused(argv, expect, files={"s.yaml": "base: {gen: 2}\naxes: {batch: [1]}\n", **files})


@pytest.mark.parametrize("argv, expect", [
    (["results", "r.db", "--spec", "ffffff"], ("--spec ffffff: matches no spec", "spec2.yaml", "spec3.yaml")),
    (["results", "r.db", "--spec", ""], "--spec : matches several specs"),
    (["plot", "r.db", "--x", "batch", "--y", "tpot"], "tpot"),
    (["plot", "r.db", "--x", "bacth", "--y", "tpot_s"], "bacth"),
    (["report", "r.db", "--html", "o.html", "--spec", "ffffff"], "--spec ffffff: matches no spec"),
    (["plot", "r.db", "--x", "batch", "--y", "tpot_s", "--roofline"], "--roofline plots a run's STATS.json"),
])
def test_a_bad_selection_in_a_good_database(refused, results_db, argv, expect):
    refused(argv, expect, files={"r.db": copy_of(results_db)})


# every command that writes a file, with the option that names it
WRITERS = [
    ["run", "--quiet", "--json"],
    ["run", "--quiet", "--json", "ok.json", "--trace"],
    ["validate", "-k", "scalesim", "--json"],
    ["validate", "-k", "scalesim", "--markdown"],
    ["results", "r.db", "--csv"],
    ["results", "r.db", "--parquet"],
    ["dram", "--standard", "gddr6-14gbps", "--trace", "t.trace", "--json"],
    ["dram", "--standard", "gddr6-14gbps", "--trace", "t.trace", "--dump-commands"],
    ["gemm", "--m", "8", "--k", "8", "--n", "8", "--json"],
    ["flash", "--preset", "samsung-980pro-flash", "--trace", "t.trace", "--json"],
    ["report", "r.db", "--html"],
]
FIGURE_WRITERS = [["validate", "-k", "scalesim", "--plot"], ["plot", "r.db", "--x", "batch", "--y", "tpot_s", "--out"]]
BAD_TARGETS = [
    ("sub", "sub: is a folder"),
    ("nodir/out.x", "folder 'nodir' does not exist"),
    ("fifo", "fifo: is a FIFO, not a regular file"),
    (os.devnull, f"{os.devnull}: is a character device"),
    ("dangling", "does not exist"),
    ("loop", "cannot be an output file"),
    ("x" * 300, "cannot be an output file"),
    ("", "an output path is empty"),
    ("plain.txt/out.x", "folder 'plain.txt' does not exist"),
]
TARGET_FILES = {"sub/keep": "kept", "fifo": lambda p: os.mkfifo(p), "plain.txt": "kept",
                "dangling": lambda p: p.symlink_to("/nonexistent-folder/out.json"),
                "loop": lambda p: (p.symlink_to(p.with_name("loop2")), p.with_name("loop2").symlink_to(p)),
                "t.trace": "LD 0x40\n"}


@pytest.mark.parametrize("writer", WRITERS + FIGURE_WRITERS, ids=lambda w: " ".join(w[:1] + w[-1:]))
@pytest.mark.parametrize("target, expect", BAD_TARGETS, ids=[t[:12] or "empty" for t, _ in BAD_TARGETS])
def test_a_bad_output_path_is_refused_before_any_work(refused, results_db, writer, target, expect):
    refused(writer + [target], expect, files={**TARGET_FILES, "r.db": copy_of(results_db)})


@pytest.mark.parametrize("writer", FIGURE_WRITERS, ids=lambda w: w[0])
def test_a_figure_needs_a_known_format(refused, results_db, writer):
    refused(writer + ["fig.xyz"], ("fig.xyz: the suffix names the format", ".png, .svg, .pdf"),
            files={"r.db": copy_of(results_db)})


@pytest.fixture(scope="module")
def run_payload(tmp_path_factory):
    """The JSON of a real small run (what 'accsim run --json' writes)."""
    import json
    from accsim.cli import main
    path = tmp_path_factory.mktemp("run") / "stats.json"
    assert main(["run", "--gen", "2", "--quiet", "--json", str(path)]) in (0, None)
    return json.loads(path.read_text())


HAND_EDITS = [
    (lambda d: d["stats"].__setitem__("latency_s", "fast"), "stats.latency_s: expected a number, got 'fast'"),
    (lambda d: d["stats"]["decode"].__setitem__("by_op_kind", [1, 2]), "stats.decode.by_op_kind: expected a mapping"),
    (lambda d: d["stats"]["decode"]["by_op_kind"].__setitem__("matmul", {"exposed_s": "x"}),
     "stats.decode.by_op_kind.matmul: expected {exposed_s: a number"),
    (lambda d: d["stats"]["prefill"]["by_unit"].__setitem__("device", 5), "stats.prefill.by_unit.device"),
    (lambda d: d.__setitem__("roofs", "x"), "roofs: expected a list of roofs, got str"),
    (lambda d: d["roofs"][0].pop("bandwidth_Bps"), "roofs[0]: expected {name, peak_flops_per_s, bandwidth_Bps}"),
    (lambda d: d.pop("stats"), "not the stats of 'accsim run'"),
]


@pytest.mark.parametrize("edit, expect", HAND_EDITS, ids=range(len(HAND_EDITS)))
@pytest.mark.parametrize("command", [["report", "e.json", "--html", "e.html"], ["plot", "e.json", "--out", "e.png"],
                                     ["plot", "e.json", "--roofline", "--out", "e.png"]], ids=["report", "plot", "roofline"])
def test_a_hand_edited_run_json_names_its_wrong_field(refused, run_payload, edit, expect, command):
    import copy
    import json
    payload = copy.deepcopy(run_payload)
    edit(payload)
    refused(command, expect, {"e.json": json.dumps(payload)})
