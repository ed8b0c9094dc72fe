"""The family contract, checked over every registered family (present and future).

A family with a mapper runs its declared examples: the step stats come from step_stats, the
breakdown sums to the latency, reruns are bit-identical, the kernels give the same stats
without JIT, a saved and loaded Program simulates to the same stats, and a model that does
not fit raises a CapacityError naming the field. A family without a mapper points its presets
to the command that uses them. The core names no family.
"""
import ast
import dataclasses
import json
import re
from pathlib import Path

import click
import pytest

import accsim
from accsim.core.capacity import CapacityError
from accsim.core.errors import ConfigError
from accsim.core.presets import load_merged, preset_names, resolve_preset
from accsim.core.program import Program
from accsim.core.registry import families, mappers
from accsim.core.stats import StepStats
from accsim.simulation.runner import family_mapper, lower_and_simulate, step_graph
from accsim.view.roofline import machine_roofs
from accsim.workloads import Phase, load_model
from contract import assert_breakdown_sums, example_kwargs
from conftest import run_with_and_without_jit

pytestmark = pytest.mark.unit

ALL = families().names()
RUNNABLE = [f.name for f in families().values() if f.mapper]
CORE = Path(accsim.__file__).parent


def presets_of(family: str) -> list[str]:
    return [p for p in preset_names() if load_merged(p).get("family") == family]


@pytest.mark.parametrize("name", ALL)
def test_family_declares_what_the_core_needs(name):
    family = families().get(name)
    assert dataclasses.is_dataclass(family.spec) and family.description
    assert presets_of(name), f"family {name} ships no preset"
    for preset in presets_of(name):          # every preset builds and passes the spec's own checks
        assert resolve_preset(preset).family == name
    for command in family.commands.values():
        assert isinstance(command.load(), click.Command)
    for metric in family.metrics.values():
        assert callable(metric.load() if hasattr(metric, "load") else metric)
    if family.mapper:
        assert mappers().get(family.mapper).family == name
        for example in family.examples.values():
            assert load_merged(example["arch"])["family"] == name
    else:
        assert family.simulate is None and "{preset}" in family.usage


@pytest.mark.parametrize("name", [n for n in ALL if not families().get(n).mapper])
def test_family_without_mapper_points_to_its_command(name):
    preset = presets_of(name)[0]
    with pytest.raises(ConfigError, match=re.escape(families().get(name).usage.format(preset=preset))):
        accsim.run(arch=preset, gen=2)


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    """Each runnable family's small example, run twice."""
    runs = {}
    for name in RUNNABLE:
        kwargs = example_kwargs(families().get(name).examples["small"], tmp_path_factory.mktemp(name))
        runs[name] = (kwargs, accsim.run(**kwargs), accsim.run(**kwargs))
    return runs


@pytest.mark.parametrize("name", RUNNABLE)
def test_breakdown_sums_to_latency_and_reruns_are_bit_identical(name, small_runs):
    _, first, again = small_runs[name]
    assert_breakdown_sums(first)
    assert first["latency_s"] == pytest.approx(first["ttft_s"] + first["decode.latency_s"], rel=1e-12)
    assert json.dumps(first.to_dict()) == json.dumps(again.to_dict())


@pytest.mark.parametrize("name", RUNNABLE)
def test_every_family_says_what_crossed_its_chips_pins(name, small_runs):
    """Off-chip bytes per pass, every family: a decode step at least moves something off chip
    (weights from memory, or a PIM's inputs and results) and never a negative count."""
    _, first, _ = small_runs[name]
    assert first["decode.last_step.offchip_bytes"] > 0


@pytest.mark.parametrize("name", RUNNABLE)
def test_model_too_big_is_a_capacity_error_naming_the_field(name, tmp_path):
    kwargs = example_kwargs(families().get(name).examples["too_big"], tmp_path)
    with pytest.raises(CapacityError) as err:
        accsim.run(**kwargs)
    field, _, advice = str(err.value).partition(": ")
    assert re.fullmatch(r"[a-z_]+(\.[A-Za-z_0-9]+)+", field), str(err.value)
    assert "use" in advice or "add" in advice


def _lowered(name: str, tmp_path: Path):
    kwargs = example_kwargs(families().get(name).examples["small"], tmp_path)
    preset = resolve_preset(kwargs["arch"], kwargs.get("overrides"))
    graph = step_graph(preset, load_model(kwargs["model"]), Phase.decode(1, kwargs["prompt"]))
    return preset, family_mapper(preset).lower(graph, preset.spec)


@pytest.mark.parametrize("name", RUNNABLE)
def test_step_stats_follow_the_contract_timeline_agrees_and_a_saved_program_simulates_the_same(name, tmp_path):
    preset, program = _lowered(name, tmp_path)
    simulate = families().get(name).simulate
    stats = simulate(preset.spec, program)
    assert isinstance(stats, StepStats)
    assert stats["latency_s"] == stats["latency_cycles"] / stats["clock_hz"] > 0
    assert_breakdown_sums(stats)
    assert all({"busy_s", "util_pct"} <= set(u) for u in stats["by_unit"].values())
    schedule = families().get(name).schedule(preset.spec, program)    # the timeline agrees
    assert schedule.start.shape == schedule.finish.shape == (program.n_tasks,)
    assert (schedule.finish >= schedule.start).all() and int(schedule.finish.max()) == stats["latency_cycles"]
    program.save(tmp_path / "prog")
    loaded = Program.load(tmp_path / "prog")
    assert loaded.digest() == program.digest()
    assert simulate(preset.spec, loaded).to_dict() == stats.to_dict()


@pytest.mark.parametrize("name", RUNNABLE)
def test_every_ops_work_lands_in_a_breakdown_kind_and_the_roofs_are_physical(name, tmp_path):
    """The roofline's FLOPs and bytes: each graph op's work is charged to a stats kind (its own,
    or the one the family says runs it), so the per-kind sums equal the graph's totals; the
    roofs the family declares are positive and finite."""
    kwargs = example_kwargs(families().get(name).examples["small"], tmp_path)
    preset = resolve_preset(kwargs["arch"], kwargs.get("overrides"))
    model = load_model(kwargs["model"])
    phase = Phase.decode(1, kwargs["prompt"])
    stats, _, _ = lower_and_simulate(preset, model, phase, None)
    graph = step_graph(preset, model, phase)
    kinds = stats["by_op_kind"].to_dict().values()
    assert sum(k.get("flops", 0) for k in kinds) == graph.total_flops() > 0
    assert sum(k.get("bytes", 0) for k in kinds) == graph.total_bytes() > 0
    roofs = machine_roofs(preset, model)
    assert roofs, f"family {name} declares no roofs"
    for roof in roofs:
        assert 0 < roof["peak_flops_per_s"] < 1e18 and 0 < roof["bandwidth_Bps"] < 1e15, roof


@pytest.mark.kernel
@pytest.mark.parametrize("name", RUNNABLE)
def test_kernels_give_the_same_stats_without_jit(name, tmp_path):
    kwargs = example_kwargs(families().get(name).examples["small"], tmp_path)
    script = ("import json, accsim; "
              f"print(json.dumps(accsim.run(**{kwargs!r}).to_dict()))")
    plain, jitted = run_with_and_without_jit(script)
    assert plain == jitted


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    return names | strings


def test_the_core_names_no_family_or_mapper():
    offenders = {}
    for path in sorted(CORE.rglob("*.py")):
        named = {m for m in _imported_modules(path)
                 if re.match(r"accsim\.(arch|mappers)\.\w", m) or m in ALL and f'"{m}"' in path.read_text()}
        if named:
            offenders[str(path.relative_to(CORE))] = sorted(named)
    assert not offenders, f"the core must reach families through the registry only: {offenders}"


def test_step_stats_refuse_a_breakdown_that_does_not_sum_to_the_latency():
    from accsim.core.stats import ContractError, step_stats
    ok = step_stats(latency_cycles=100, clock_hz=1e9, energy_J=0.0,
                    by_op_kind={"a": {"exposed_s": 6e-8}, "b": {"exposed_s": 4e-8}},
                    by_unit={"u": {"busy_s": 1e-7, "util_pct": 100.0}}, offchip_bytes=64, extra_figure=3)
    assert ok["latency_s"] == 1e-7 and ok["extra_figure"] == 3 and ok["offchip_bytes"] == 64
    with pytest.raises(ContractError, match="sum to 6e-08 s, not the latency 1e-07 s"):
        step_stats(latency_cycles=100, clock_hz=1e9, energy_J=0.0, by_op_kind={"a": {"exposed_s": 6e-8}},
                   by_unit={}, offchip_bytes=0)
    with pytest.raises(ContractError, match="by_unit.u: needs busy_s and util_pct"):
        step_stats(latency_cycles=0, clock_hz=1e9, energy_J=0.0, by_op_kind={}, by_unit={"u": {}}, offchip_bytes=0)
    with pytest.raises(ContractError, match="offchip_bytes: -1 is negative"):
        step_stats(latency_cycles=0, clock_hz=1e9, energy_J=0.0, by_op_kind={}, by_unit={}, offchip_bytes=-1)
    with pytest.raises(TypeError, match="offchip_bytes"):       # every family says what crossed its pins
        step_stats(latency_cycles=0, clock_hz=1e9, energy_J=0.0, by_op_kind={}, by_unit={})


def test_a_family_composes_components_and_never_imports_another_family():
    arch = CORE.parent / "arch" if (CORE.parent / "arch" / "__init__.py").exists() else CORE / "arch"
    components = {n for n in ALL if families().get(n).component}
    offenders = {}
    for name in ALL:
        for path in sorted((arch / name).rglob("*.py")):
            others = {m.split(".")[2] for m in _imported_modules(path) if re.match(r"accsim\.arch\.\w+", m)}
            bad = others - {name} - components
            if bad:
                offenders[f"{name}/{path.name}"] = sorted(bad)
    assert not offenders, f"families import other families: {offenders}"
