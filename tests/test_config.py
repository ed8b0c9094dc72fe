"""Config schema loading, presets, sources and overrides."""
from dataclasses import dataclass

import pytest

from accsim.core import config
from accsim.core.errors import ConfigError, ProblemList, UnknownNameError
from accsim.core.presets import load_merged, parse_set_options, preset_names, resolve_preset

pytestmark = pytest.mark.unit


@dataclass(frozen=True, kw_only=True)
class Timing:
    nRCD: int = config.param("cycles", "ACT to RD", gt=0)
    tCK_ps: float = config.param("ps", "clock period", gt=0)


@dataclass(frozen=True, kw_only=True)
class Toy:
    name: str = config.param("", "a name", choices=("a", "b"))
    timing: Timing = config.section(Timing, "timing")
    table: dict[str, int] = config.param("", "a table", default={})


def test_build_valid():
    toy = config.build(Toy, {"name": "a", "timing": {"nRCD": 3, "tCK_ps": 500}})
    assert toy.timing.nRCD == 3 and toy.timing.tCK_ps == 500.0 and toy.table == {}


def test_all_problems_are_collected_with_paths_and_suggestions():
    with pytest.raises(ConfigError) as info:
        config.build(Toy, {"name": "c", "timing": {"nRCD": -1, "tCK_pss": 1, "tCK_ps": "x"}, "extra": 1})
    problems = info.value.problems
    assert "timing.nRCD: expected a value > 0, got -1" in problems
    assert any(p.startswith("timing.tCK_pss: unknown key (did you mean 'tCK_ps'?)") for p in problems)
    assert "timing.tCK_ps: expected a number, got 'x'" in problems
    assert any(p.startswith("name: expected one of a, b, got 'c'") for p in problems)
    assert any(p.startswith("extra: unknown key") for p in problems)
    assert len(problems) == 5


def test_missing_field_names_unit_and_help():
    with pytest.raises(ConfigError) as info:
        config.build(Toy, {"name": "a", "timing": {"nRCD": 1}})
    assert info.value.problems == ["timing.tCK_ps: missing required field [ps]: clock period"]


def test_bool_is_not_an_int():
    with pytest.raises(ConfigError, match="expected an integer, got True"):
        config.build(Timing, {"nRCD": True, "tCK_ps": 1})


def test_overrides_check_paths_against_schema():
    problems = ProblemList()
    data = config.apply_overrides(Toy, {"timing": {"nRCD": 1}}, {"timing.nRCD": 7, "timing.nRDC": 2,
                                                                   "table.x": 3}, problems)
    assert data["timing"]["nRCD"] == 7 and data["table"] == {"x": 3}
    assert problems.problems == ["timing.nRDC: unknown key 'nRDC' in timing (did you mean 'nRCD'?)"]


def test_describe_lists_every_leaf_with_unit():
    paths = {i.path: i.unit for i in config.describe(Toy)}
    assert paths == {"name": "", "timing.nRCD": "cycles", "timing.tCK_ps": "ps", "table": ""}


@pytest.mark.parametrize("name", preset_names())
def test_every_shipped_preset_loads(name):
    preset = resolve_preset(name)
    if preset.family == "gpu":
        assert preset.spec.memory.bandwidth_GBps > 0
    elif preset.family == "npu":
        assert preset.spec.array.rows > 0 and preset.spec.buffers.word_bytes > 0
    elif preset.family == "rdu":
        assert preset.spec.pcu.count > 0 and preset.spec.hbm.devices > 0
    elif preset.family == "flash":
        assert preset.spec.flash.page_bytes >= 512 and preset.spec.flash.dies > 0
    elif preset.family == "csd":
        assert preset.spec.gpu_spec().memory.capacity_GiB > 0 and preset.spec.host.memory_GiB > 0
    else:
        assert preset.family in ("dram", "pim")
        preset.spec.dram.check()
        assert preset.spec.dram.organization.tx_bytes in (32, 64, 256)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_number_has_a_source(name):
    data = load_merged(name)
    sources = data["sources"]

    def leaves(node, prefix=""):
        for k, v in node.items():
            path = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict) and path not in ("compute.peak_TFLOPS", "framework.kernels_per_op",
                                                    "dram.timing"):
                yield from leaves(v, path)
            else:
                yield path
    body = {k: v for k, v in data.items() if k not in ("family", "extends", "description", "sources")}
    missing = [p for p in leaves(body)
               if not any(".".join(p.split(".")[:i]) in sources for i in range(1, p.count(".") + 2))
               and not isinstance(_value(data, p), str)]
    assert missing == []


def test_unknown_preset_suggests_and_lists():
    with pytest.raises(UnknownNameError, match=r"unknown preset 't5'.*Known: a100-80gb"):
        resolve_preset("t5")
    with pytest.raises(UnknownNameError, match="did you mean 'h200'"):
        resolve_preset("h20")


def test_base_preset_is_not_runnable():
    with pytest.raises(ConfigError, match="is a base for other presets"):
        resolve_preset("_hf-eager")


def test_override_is_applied_and_recorded():
    preset = resolve_preset("t4", {"memory.bandwidth_GBps": 400})
    assert preset.spec.memory.bandwidth_GBps == 400.0
    assert preset.sources["memory.bandwidth_GBps"] == "override (--set)"
    assert preset.resolved_config()["overrides"] == {"memory.bandwidth_GBps": 400}


def test_bad_override_and_bad_value_reported_together():
    with pytest.raises(ConfigError) as info:
        resolve_preset("t4", {"memory.bandwith_GBps": 1, "compute.efficiency": 2})
    assert len(info.value.problems) == 2


def test_extends_chain_merges(tmp_path):
    child = tmp_path / "fast-t4.yaml"
    child.write_text("family: gpu\nextends: t4\nmemory: {bandwidth_GBps: 640}\n"
                     "sources: {memory.bandwidth_GBps: 'assumed: what-if'}\n")
    preset = resolve_preset(str(child))
    assert preset.spec.memory.bandwidth_GBps == 640 and preset.spec.memory.capacity_GiB == 15.0


def test_bad_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("family: gpu\nmemory: {bandwidth_GBps: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: invalid YAML"):
        resolve_preset(str(bad))


def test_unknown_source_path_is_an_error(tmp_path):
    child = tmp_path / "x.yaml"
    child.write_text("family: gpu\nextends: t4\nsources: {memory.bandwith_GBps: 'x'}\n")
    with pytest.raises(ConfigError, match="sources.memory.bandwith_GBps: names no field"):
        resolve_preset(str(child))


def test_extends_cycle_detected(tmp_path):
    (tmp_path / "a.yaml").write_text(f"family: gpu\nextends: {tmp_path / 'b.yaml'}\n")
    (tmp_path / "b.yaml").write_text(f"family: gpu\nextends: {tmp_path / 'a.yaml'}\n")
    with pytest.raises(ConfigError, match="extends cycle"):
        resolve_preset(str(tmp_path / "a.yaml"))


def test_parse_set_options():
    assert parse_set_options(["a.b=3", "c=x", "d=[1, 2]"]) == {"a.b": 3, "c": "x", "d": [1, 2]}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_set_options(["oops"])


def _value(data, path):
    for part in path.split("."):
        data = data[part]
    return data


def test_set_options_read_scientific_notation_as_numbers():
    assert parse_set_options(["a=1e-9", "b=2E+3", "c=5.5e2", "d=e5", "e=1e"]) == {
        "a": 1e-9, "b": 2000.0, "c": 550.0, "d": "e5", "e": "1e"}


def test_numbers_in_any_notation_are_numbers(tmp_path):
    """1e3, 3.2E2, 1_000 and 0x10 are numbers in presets and in --set (YAML 1.1 reads 1e3 as a
    string); an integral float is accepted where an integer is asked."""
    from accsim.core.config import parse_yaml
    from accsim.core.presets import parse_set_options, resolve_preset
    assert parse_yaml("a: 1e3\nb: 3.2E2\nc: 1_000\nd: 0x10\ne: '1e3'\n", "x.yaml") == {
        "a": 1000.0, "b": 320.0, "c": 1000, "d": 16, "e": "1e3"}
    preset = tmp_path / "p.yaml"
    preset.write_text("family: gpu\nextends: t4\nmemory: {bandwidth_GBps: 3.2e2}\ncompute: {sms: 4e1}\n")
    spec = resolve_preset(str(preset)).spec
    assert spec.memory.bandwidth_GBps == 320.0 and spec.compute.sms == 40 and isinstance(spec.compute.sms, int)
    assert parse_set_options(["memory.bandwidth_GBps=1e30", "compute.sms=8E1"]) == {
        "memory.bandwidth_GBps": 1e30, "compute.sms": 80.0}


def test_yaml_reads_booleans_as_yaml_1_2_does():
    """on/off/yes/no stay the words typed (mapper.fusion=off, dram.controller.refresh=off);
    only true/false are booleans, and a boolean field refuses the words with the fix."""
    assert config.parse_yaml("a: off\nb: yes\nc: true\nd: False\ne: on\nf: NO", "x") == {
        "a": "off", "b": "yes", "c": True, "d": False, "e": "on", "f": "NO"}
    assert parse_set_options(["mapper.fusion=off", "x=true"]) == {"mapper.fusion": "off", "x": True}
    assert resolve_preset("sn40l-node8", {"mapper.fusion": "off"}).spec.mapper.fusion == "off"
    assert resolve_preset("gddr6-14gbps", parse_set_options(["dram.controller.refresh=off"])).spec.dram.controller.refresh == "off"
    with pytest.raises(ConfigError, match="flash.multiplane: expected true or false, got 'yes'"):
        resolve_preset("instinfer-csd-flash", parse_set_options(["flash.multiplane=yes"]))
