import pytest

from accsim.errors import UnknownNameError
from accsim.registry import DuplicateNameError, Registry, families, mappers

pytestmark = pytest.mark.unit


def test_duplicate_name_is_an_error():
    reg = Registry("widget")
    reg.register("a", 1)
    with pytest.raises(DuplicateNameError, match="duplicate widget name 'a'"):
        reg.register("a", 2)


def test_unknown_name_lists_known_and_suggests():
    reg = Registry("widget")
    for name in ("alpha", "beta"):
        reg.register(name, name)
    with pytest.raises(UnknownNameError, match=r"unknown widget 'alpah' \(did you mean 'alpha'\?\). Known: alpha, beta"):
        reg.get("alpah")


def test_builtin_family_and_mapper_are_registered_once():
    assert "gpu" in families() and "gpu-kernels" in mappers()
    assert mappers().get("gpu-kernels").family == "gpu"
    with pytest.raises(DuplicateNameError):
        families().register("gpu", families().get("gpu"))


def test_a_run_imports_only_its_own_familys_mapper():
    """Start-up: a gpu run finds its mapper in mappers/gpu.py alone (discovering every mapper
    costs tens of ms); listing the mappers afterwards still finds them all, once each."""
    import subprocess
    import sys
    script = ("import sys, accsim; accsim.run('t4', 'gpt2-small', prompt=4, gen=1); "
              "others = sorted(m for m in sys.modules if m.startswith('accsim.mappers.') and m != 'accsim.mappers.gpu'); "
              "from accsim.core.registry import mappers; print(others, len(mappers()))")
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    assert out.split("] ")[0] + "]" == "[]" and int(out.split("] ")[1]) >= 5


def test_installed_plugins_register_through_entry_points(monkeypatch, tmp_path):
    """A third-party family or mapper installs as a plugin: an entry point in the group
    accsim.families / accsim.mappers names its record (and the family may ship presets);
    anything else is refused by name."""
    import accsim.registry as registry
    from accsim.arch.gpu.spec import GpuSpec
    from accsim.presets import preset_names, resolve_preset

    (tmp_path / "toy-t4.yaml").write_text("family: toy\nextends: t4\ndescription: a plugin's preset\n")
    plugin = registry.Family(name="toy", spec=GpuSpec, description="a plugin family",
                             usage="toy-tool {preset}", presets=str(tmp_path))

    class EntryPoint:
        def __init__(self, name, value, obj):
            self.name, self.value, self._obj = name, value, obj

        def load(self):
            return self._obj

    points = {"accsim.families": [EntryPoint("toy", "toy_pkg:FAMILY", plugin)], "accsim.mappers": []}
    monkeypatch.setattr(registry, "_entry_points", lambda group: points[group])
    monkeypatch.setattr(registry, "FAMILIES", Registry("family"))
    monkeypatch.setattr(registry, "_DISCOVERED", set())
    found = registry.families()
    assert "toy" in found and {"gpu", "npu", "pim", "dram"} <= set(found.names())
    assert "toy-t4" in preset_names() and resolve_preset("toy-t4").family == "toy"
    # a broken plugin (not a record, or an import that fails) is said once, by name, and skipped:
    # every other command still works
    class Broken(EntryPoint):
        def load(self):
            raise ModuleNotFoundError("No module named 'gone_pkg'")

    points["accsim.mappers"] = [EntryPoint("bad", "bad_pkg:THING", object()), Broken("gone", "gone_pkg:MAPPER", None)]
    monkeypatch.setattr(registry, "MAPPERS", Registry("mapper"))
    monkeypatch.setattr(registry, "SKIPPED_PLUGINS", [])
    found = registry.mappers()
    assert "gpu-kernels" in found and "bad" not in found
    assert registry.SKIPPED_PLUGINS == [
        "plugin entry point 'bad' (bad_pkg:THING) in group accsim.mappers skipped: it is a object, not an accsim Mapper",
        "plugin entry point 'gone' (gone_pkg:MAPPER) in group accsim.mappers skipped: it does not load "
        "(ModuleNotFoundError: No module named 'gone_pkg')"]
