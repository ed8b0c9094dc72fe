"""An output never replaces an input, nor another output of the same command: refused before
anything runs, naming both options, every file left as it was."""
import pytest

pytestmark = [pytest.mark.unit, pytest.mark.badinput]

TRACE = "LD 0\nST 4096\nLD 8192\n"
REQUESTS = "arrival_s,prompt_tokens,output_tokens\n0,16,4\n0.1,16,4\n"


@pytest.mark.parametrize("argv, expect, files", [
    (["run", "--gen", "2", "--json", "x.json", "--trace", "x.json"],
     ("--json and --trace both write x.json",), {}),
    (["run", "--gen", "2", "--json", "x.json", "--trace", "./sub/../x.json"],
     ("--json and --trace both write",), {"sub/keep": ""}),
    (["serve", "--arch", "t4", "--rate", "5", "--requests", "10", "--timeline", "serve.json"],
     ("--json and --timeline both write serve.json",), {}),
    (["serve", "--request-trace", "t.csv", "--requests-csv", "t.csv"],
     ("--requests-csv would overwrite t.csv, the input --request-trace",), {"t.csv": REQUESTS}),
    (["report", "s.json", "--html", "s.json"], ("--html would overwrite s.json, the input DB|STATS.json",),
     {"s.json": "{}"}),
    (["results", "r.db", "--csv", "r.db"], ("--csv would overwrite r.db, the input DB",), {"r.db": "x"}),
    (["results", "r.db", "--csv", "o.csv", "--parquet", "o.csv"], ("--csv and --parquet both write o.csv",),
     {"r.db": "x"}),
    (["validate", "-k", "scalesim-g1-32x32-os", "--json", "v.out", "--markdown", "v.out"],
     ("--json and --markdown both write v.out",), {}),
    (["dram", "--standard", "gddr6-14gbps", "--trace", "t.trace", "--json", "t.trace"],
     ("--json would overwrite t.trace, the input --trace",), {"t.trace": TRACE}),
    (["dram", "--standard", "gddr6-14gbps", "--trace", "t.trace", "--json", "o.json", "--dump-commands", "o.json"],
     ("--json and --dump-commands both write o.json",), {"t.trace": TRACE}),
    (["flash", "--preset", "instinfer-csd-flash", "--trace", "t.trace", "--json", "t.trace"],
     ("--json would overwrite t.trace, the input --trace",), {"t.trace": TRACE}),
])
def test_an_output_never_overwrites_an_input_or_another_output(refused, argv, expect, files):
    refused(argv, expect, files)


def test_a_hard_link_to_the_input_is_the_same_file(refused, tmp_path):
    import os
    (tmp_path / "t.trace").write_text(TRACE)
    os.link(tmp_path / "t.trace", tmp_path / "alias.json")
    refused(["flash", "--preset", "instinfer-csd-flash", "--trace", "t.trace", "--json", "alias.json"],
            ("--json would overwrite alias.json, the input --trace",))
