"""Bad command-line options of every command: refused before any work, the option named."""
import pytest

pytestmark = [pytest.mark.unit, pytest.mark.badinput]

RUN = ["run", "--quiet", "--json", "out.json"]

CASES = [
    # accsim run: scenario fields
    (RUN + ["--batch", "0"], "--batch"),
    (RUN + ["--batch", "-3"], "--batch"),
    (RUN + ["--batch", "two"], "--batch"),
    (RUN + ["--batch", "1e400"], "--batch"),
    (RUN + ["--prompt", "0"], "--prompt"),
    (RUN + ["--gen", "0"], "--gen"),
    (RUN + ["--dtype", "fp7"], "--dtype"),
    (RUN + ["--decode-samples", "1"], "decode_samples: 1 cannot span"),
    (RUN + ["--decode-samples", "-1"], "--decode-samples"),
    (RUN + ["--decode-samples", "0", "--gen", "1000000"], "decode_samples: 0 simulates every one of 999,999"),
    (RUN + ["--acceptance", "1.5"], "--acceptance"),
    (RUN + ["--acceptance", "nan"], "acceptance: expected a finite number"),
    (RUN + ["--acceptance", "0.5"], "acceptance: set only with draft_tokens"),
    (RUN + ["--draft-model", "gpt2-small"], "draft_model: set draft_tokens"),
    (RUN + ["--draft-tokens", "-1"], "--draft-tokens"),
    (RUN + ["--chips", "-2"], "--chips"),
    (RUN + ["--coe", "lots"], "coe: expected 'NxMODEL'"),
    (RUN + ["--coe", "0xgpt2-small"], "coe: expected 'NxMODEL'"),
    (RUN + ["--decode-only", "--gen", "1"], "decode_only: needs gen >= 2"),
    (RUN + ["--arch", "t5"], "unknown preset 't5'"),
    (RUN + ["--arch", "a100"], ("unknown preset 'a100'", "did you mean")),
    (RUN + ["--arch", ""], "unknown preset"),
    (RUN + ["--model", "gpt2-smol"], ("unknown model 'gpt2-smol'", "did you mean 'gpt2-small'")),
    (RUN + ["--mapper", "nope"], "nope"),
    (RUN + ["--trace-max-events", "5"], "--trace-max-events"),
    (RUN + ["--bogus"], "No such option '--bogus'"),
    (RUN + ["--batch"], "--batch"),
    # --set on any command
    (RUN + ["--set", "memory.bandwidth_GBps"], "--set: expected KEY=VALUE"),
    (RUN + ["--set", "=400"], "--set: expected KEY=VALUE"),
    (RUN + ["--set", "memory.bandwith_GBps=400"], ("memory.bandwith_GBps", "did you mean 'bandwidth_GBps'")),
    (RUN + ["--set", "memory.bandwidth_GBps=fast"], ("memory.bandwidth_GBps", "expected a number")),
    (RUN + ["--set", "memory.bandwidth_GBps=-5"], ("memory.bandwidth_GBps", "> 0")),
    (RUN + ["--set", "memory.bandwidth_GBps=.inf"], ("memory.bandwidth_GBps", "finite")),
    (RUN + ["--set", "memory.bandwidth_GBps=-.inf"], ("memory.bandwidth_GBps", "finite")),
    (RUN + ["--set", "memory.bandwidth_GBps=.nan"], ("memory.bandwidth_GBps", "finite")),
    (RUN + ["--set", "memory.bandwidth_GBps=[1"], ("--set memory.bandwidth_GBps", "invalid YAML")),
    (RUN + ["--set", "memory.bandwidth_GBps={a: 1, a: 2}"], "duplicate key"),
    (RUN + ["--set", "compute.sms=true"], ("compute.sms", "expected an integer")),
    (RUN + ["--set", "compute.sms=2.5"], ("compute.sms", "expected an integer")),
    (RUN + ["--set", "memory=3"], ("memory", "is a section")),
    (RUN + ["--set", "memory.bandwidth_GBps.x=1"], "is a value, not a section"),
    (RUN + ["--set", "framework.mode=turbo"], ("framework.mode", "expected one of")),
    # other commands
    (["rnu"], "No such command 'rnu'"),
    (["dram", "--standard", "gddr6-14gbps"], "Missing option '--trace'"),
    (["dram", "--standard", "t4", "--trace", "x.trace"], ("--standard", "not a DRAM standard")),
    (["dram", "--standard", "gddr6-14gbps", "--trace", "x.trace", "--format", "csv"], "--format"),
    (["dram", "--standard", "gddr6-14gbps", "--trace", "x.trace", "--max-commands", "-1"], "--max-commands"),
    (["flash", "--preset", "t4", "--trace", "x.trace"], "not a flash array"),
    (["gemm", "--m", "64"], "give --m, --k and --n"),
    (["gemm", "--m", "0", "--k", "8", "--n", "8"], "--m"),
    (["gemm", "--arch", "t4", "--m", "8", "--k", "8", "--n", "8"], "not an npu core"),
    (["gemm", "--m", "8", "--k", "8", "--n", "8", "--dtype", "bf16"], ("--dtype", "systolic presets count words")),
    (["gemm", "--arch", "ascend-910b", "--m", "8", "--k", "8", "--n", "8", "--dataflow", "ws"],
     ("--dataflow", "a cube has no dataflow")),
    (["gemm", "--m", "8", "--k", "8", "--n", "8", "--dataflow", "zz"], "--dataflow"),
    (["show-preset", "t5"], "unknown preset 't5'"),
    (["show-graph", "--model", "nope"], "unknown model 'nope'"),
    (["show-graph", "--phase", "both"], "--phase"),
    (["show-graph", "--tp", "0"], "--tp"),
    (["show-program", "--arch", "nope"], "unknown preset 'nope'"),
    (["validate", "-k", "no-such-case"], "-k no-such-case: no case id contains it"),
    (["sweep", "missing.yaml"], "missing.yaml: cannot read"),
    (["sweep", "s.yaml", "--jobs", "0"], "--jobs"),
    (["sweep", "s.yaml", "--max-points", "0"], "--max-points"),
    (["results", "missing.db"], "missing.db: no such results database"),
    (["plot", "missing.db", "--x", "a", "--y", "b"], "missing.db"),
]


@pytest.mark.parametrize("argv, expect", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_option_is_refused(refused, argv, expect):
    refused(argv, expect, files={"s.yaml": "axes: {batch: [1]}\n", "x.trace": "LD 0x40\n"})
