"""Broken preset YAML files: refused with the file, line or field path, and the fix."""
import pytest

pytestmark = [pytest.mark.unit, pytest.mark.badinput]

GPU = "family: gpu\nextends: t4\n"
DRAM = "family: dram\nextends: gddr6-14gbps\n"
NPU = "family: npu\nextends: systolic-32x32\n"

CASES = [
    # the file itself
    ("", "expected a mapping of preset keys"),
    ("- 1\n- 2\n", "expected a mapping of preset keys"),
    ("just text\n", "expected a mapping of preset keys"),
    ("family: gpu\nmemory: [1\n", ("p.yaml:3", "invalid YAML")),
    ("family: gpu\n\tmemory: 1\n", ("p.yaml:2", "invalid YAML")),
    ("family: gpu\nfamily: gpu\n", ("p.yaml:2", "duplicate key 'family' (first at line 1)")),
    (GPU + "memory:\n  bandwidth_GBps: 1\n  bandwidth_GBps: 2\n", ("p.yaml:5", "duplicate key 'bandwidth_GBps'")),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefg", "bcdefgh")),
     "aliases expand to"),
    ("a: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ("family: !!python/object:os.system x\n", "could not determine a constructor"),
    ("[1, 2]: x\n", "a key must be a name"),
    (b"family: gpu\ndescription: \xff\xfe\n", "not a text file"),
    ("description: x\n", "family: missing"),
    ("family: tpu\n", "unknown family 'tpu'"),
    ("family: gpu\nextends: t5\n", "unknown preset 't5'"),
    ("family: gpu\nextends: [t4]\n", "extends: expected a preset name"),
    ("family: gpu\nextends: p.yaml\n", "extends cycle"),
    ("family: gpu\nextends: _hf-eager\n", "missing required field"),
    # fields
    (GPU + "memroy: {bandwidth_GBps: 1}\n", ("memroy", "did you mean 'memory'")),
    (GPU + "memory: {bandwith_GBps: 1}\n", ("memory.bandwith_GBps", "did you mean 'bandwidth_GBps'")),
    (GPU + "memory: {bandwidth_GBps: fast}\n", ("memory.bandwidth_GBps", "expected a number")),
    (GPU + "memory: {bandwidth_GBps: -1}\n", ("memory.bandwidth_GBps", "> 0")),
    (GPU + "memory: {bandwidth_GBps: 0}\n", ("memory.bandwidth_GBps", "> 0")),
    (GPU + "memory: {bandwidth_GBps: .inf}\n", ("memory.bandwidth_GBps", "finite")),
    (GPU + "memory: {efficiency: .nan}\n", ("memory.efficiency", "finite")),
    (GPU + "memory: {efficiency: 1.5}\n", ("memory.efficiency", "<= 1")),
    (GPU + "memory: {bandwidth_GBps: true}\n", ("memory.bandwidth_GBps", "expected a number")),
    (GPU + "memory: 400\n", ("memory", "expected a mapping")),
    (GPU + "compute: {sms: true}\n", ("compute.sms", "expected an integer")),
    (GPU + "compute: {sms: 40.5}\n", ("compute.sms", "expected an integer")),
    (GPU + "compute: {sms: '40'}\n", ("compute.sms", "expected an integer")),
    (GPU + "compute: {peak_TFLOPS: [1, 2]}\n", ("compute.peak_TFLOPS", "expected a mapping")),
    (GPU + "devices: 0\n", "devices"),
    (GPU + "framework: {mode: turbo}\n", ("framework.mode", "expected one of")),
    (GPU + "sources: [a]\n", ("sources", "expected a mapping")),
    (GPU + "sources: {memory.bandwith_GBps: datasheet}\n", ("sources.memory.bandwith_GBps", "names no field")),
    (GPU + "sources: {memory.bandwidth_GBps: ''}\n", ("sources.memory.bandwidth_GBps", "non-empty")),
    (GPU + "sources: {memory.bandwidth_GBps: 12}\n", ("sources.memory.bandwidth_GBps", "non-empty")),
    (DRAM + "dram: {standard: GDDR9}\n", "GDDR9"),
    (DRAM + "dram: {organization: {banks_per_group: 3}}\n", "not a power of two"),
    (DRAM + "dram: {organization: {pseudochannels: 2}}\n", "GDDR6 has none"),
    (DRAM + "dram: {controller: {row_policy: half-open}}\n", "dram.controller.row_policy"),
    (DRAM + "dram: {controller: {address_mapping: RoBaXxCoCh}}\n", "address_mapping"),
    (DRAM + "dram: {timing: {nREFI: 10}}\n", "dram.timing.nREFI"),
    (DRAM + "dram: {timing: {tCK_ps: 0}}\n", "dram.timing.tCK_ps"),
    (NPU + "array: {dataflow: xs}\n", "array.dataflow"),
]


@pytest.mark.parametrize("text, expect", CASES, ids=[f"{i}:{str(t)[-40:]}" for i, (t, _) in enumerate(CASES)])
def test_bad_preset_is_refused(refused, text, expect):
    refused(["show-preset", "p.yaml"], expect, files={"p.yaml": text}, lines=None)


def test_missing_preset_file(refused):
    refused(["run", "--arch", "nowhere.yaml", "--quiet"], "nowhere.yaml: no such preset file")


def test_base_preset_is_not_a_machine(refused):
    refused(["run", "--arch", "_hf-eager", "--quiet"], "is a base for other presets")


def test_oversized_preset_is_refused_unread(refused):
    refused(["show-preset", "big.yaml"], "a configuration file is at most",
            files={"big.yaml": "family: gpu\n" + "# padding\n" * 2_000_000})
