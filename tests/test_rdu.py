"""The rdu family (SN40L-style): pipeline invariants, tiers, fusion, orchestration, placement."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accsim
from accsim.arch.rdu import model as M
from accsim.arch.rdu.checker import check_schedule
from accsim.arch.rdu.ir import D2D, DDR, HBM, PCU
from accsim.core.capacity import CapacityError
from accsim.core.errors import ConfigError
from accsim.core.presets import resolve_preset
from accsim.mappers.rdu import DOUBLE_BUFFER, lower, place_on_dies
from accsim.simulation.runner import step_graph
from accsim.workloads.graph import Phase
from accsim.workloads.model import load_model
from accsim.workloads.smoke import TINY_GPT2


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A two-layer GPT-2 shape as a config file (models are names or files)."""
    path = tmp_path_factory.mktemp("models") / "small.json"
    path.write_text(json.dumps({**TINY_GPT2, "n_layer": 2}))
    return str(path)


def program(arch="sn40l", model="gpt2-small", phase=Phase.decode(2, 64), **overrides):
    preset = resolve_preset(arch, overrides)
    return preset.spec, lower(step_graph(preset, load_model(model), phase), preset.spec)


def sections(spec, prog):
    for lo, hi in M._sections(prog):
        cols, ptr, idx = M._local(prog, lo, hi)
        yield cols, ptr, idx, M.run_section(spec, cols, ptr, idx)


@pytest.mark.parametrize("phase", [Phase.prefill(2, 48), Phase.decode(2, 64)])
@pytest.mark.parametrize("fusion", ["on", "off"])
def test_schedules_obey_dependencies_units_and_credits(phase, fusion, small):
    """Every task starts after what it depends on; a stage runs one step at a time; a tier
    serves one transfer at a time; no stage holds more than its buffer's tiles."""
    spec, prog = program(model=small, phase=phase, **{"mapper.fusion": fusion})
    assert check_schedule(spec, prog) == []


def test_the_checker_catches_a_broken_schedule(small):
    """Drop the credit edges of one section: the checker must notice tiles overrunning a buffer."""
    spec, prog = program(model=small, phase=Phase.prefill(4, 64), **{"mapper.max_steps": 8})
    lo, hi = M._sections(prog)[1]
    cols, ptr, idx = M._local(prog, lo, hi)
    keep = [list(idx[ptr[t]:ptr[t + 1]]) for t in range(hi - lo)]
    unit, stage, step = cols["unit"], cols["stage"], cols["step"]
    pcu_of = {(int(stage[t]), int(step[t])): t for t in range(hi - lo) if unit[t] == PCU}
    for t in range(hi - lo):      # a load no longer waits for its buffer slot
        if unit[t] in (HBM, DDR) and step[t] >= DOUBLE_BUFFER:
            keep[t] = [d for d in keep[t] if d != pcu_of.get((int(stage[t]), int(step[t]) - DOUBLE_BUFFER))]
    new_ptr = np.concatenate(([0], np.cumsum([len(k) for k in keep]))).astype(np.int64)
    new_idx = np.array([d for k in keep for d in k], np.int32)
    from accsim.arch.rdu.checker import _check_section
    run = M.run_section(spec, cols, new_ptr, new_idx)
    assert any("before tile" in p for p in _check_section(1, cols, new_ptr, new_idx, run))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers=st.integers(1, 2), heads=st.sampled_from([2, 4, 8]), width=st.sampled_from([32, 64]),
       decode=st.booleans(), batch=st.integers(1, 4), tokens=st.integers(1, 96),
       fusion=st.sampled_from(["on", "off"]), sockets=st.sampled_from([1, 2]),
       hbm=st.integers(1, 4), pmus=st.sampled_from([64, 1040]), max_steps=st.sampled_from([4, 64]),
       dies=st.sampled_from([1, 2, 3]), d2d_GBps=st.sampled_from([1.0, 1000.0]))
def test_random_mappings_give_legal_schedules(tmp_path_factory, layers, heads, width, decode, batch,
                                              tokens, fusion, sockets, hbm, pmus, max_steps, dies, d2d_GBps):
    path = tmp_path_factory.mktemp("m") / "m.json"
    path.write_text(json.dumps({**TINY_GPT2, "n_layer": layers, "n_head": heads, "n_embd": heads * width}))
    phase = Phase.decode(batch * sockets, tokens) if decode else Phase.prefill(batch * sockets, tokens)
    try:
        spec, prog = program(model=str(path), phase=phase, **{
            "mapper.fusion": fusion, "system.sockets": sockets, "hbm.devices": hbm,
            "pmu.count": pmus, "mapper.max_steps": max_steps, "die.count": dies, "die.link_GBps": d2d_GBps})
    except ConfigError as exc:          # a section too big for the PMUs is refused, clearly
        assert "does not fit one socket's PMUs" in str(exc)
        return
    assert check_schedule(spec, prog) == []
    stats = M.simulate(spec, prog)
    assert sum(v["exposed_s"] for v in stats["by_op_kind"].values()) == pytest.approx(stats["latency_s"])


@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)), min_size=1, max_size=40),
       st.integers(1, 4))
def test_stages_fill_the_dies_in_program_order_each_taking_its_share(units, dies):
    pcus, pmus = [u for u, _ in units], [m for _, m in units]
    die = place_on_dies(pcus, pmus, dies)
    assert die == sorted(die) and 0 <= min(die) and max(die) < dies
    sizes = [p + m for p, m in units]
    for d in range(dies):             # a die holds its share, give or take the stage at its edge
        assert sum(u for u, x in zip(sizes, die) if x == d) <= sum(sizes) / dies + max(sizes)


def test_streams_between_dies_cross_the_die_link_and_only_those():
    """Prefill of a fused layer on two dies: every tile a stage streams to a consumer on the
    other die is a d2d task of the sending die; the schedule stays legal; one die has none."""
    spec, prog = program(model="llama2-7b", phase=Phase.prefill(1, 512))
    unit, die = prog.column("unit"), prog.column("die")
    d2d = unit == D2D
    assert d2d.any() and set(die[d2d].tolist()) == {0}        # stages run die 0 -> die 1
    assert set(die[unit == PCU].tolist()) == {0, 1}
    assert check_schedule(spec, prog) == []
    spec1, prog1 = program(model="llama2-7b", phase=Phase.prefill(1, 512), **{"die.count": 1})
    assert not (prog1.column("unit") == D2D).any()


def test_a_slower_die_link_never_speeds_a_section_up():
    times = [accsim.run("sn40l", "llama2-7b", batch=1, prompt=2048, gen=1,
                        overrides={"die.link_GBps": bw})["ttft_s"] for bw in (5000, 200, 20)]
    assert times[0] <= times[1] <= times[2]
    assert times[2] > 1.01 * times[0]           # at 20 GB/s the crossing shows


def test_two_dies_need_a_die_link_bandwidth():
    with pytest.raises(ConfigError, match="die.link_GBps"):
        program(**{"die.link_GBps": 0})


def test_identical_sections_reuse_is_exact():
    spec, prog = program(model="llama2-7b", arch="sn40l-node8", phase=Phase.decode(1, 512))
    reused = M.simulate(spec, prog)
    fresh = M.simulate(spec, prog, reuse=False)
    assert reused["sections_simulated"] < fresh["sections_simulated"] == fresh["kernel_calls"]
    same = lambda s: {k: v for k, v in s.to_dict().items() if k != "sections_simulated"}
    assert same(reused) == same(fresh)


def test_decode_is_bound_by_the_hbm_tier():
    """Decode streams weights: halving the HBM stacks slows it ~2x; the PCUs are mostly idle."""
    full = accsim.run("sn40l", "llama2-7b", batch=1, prompt=256, gen=2)
    half = accsim.run("sn40l", "llama2-7b", batch=1, prompt=256, gen=2, overrides={"hbm.devices": 2})
    assert 1.7 < half["tpot_s"] / full["tpot_s"] < 2.1
    assert full["decode"]["by_unit"]["hbm"]["busy_s"] > 0.7 * full["tpot_s"]


def test_compute_bound_prefill_follows_the_pcus_not_hbm():
    base = accsim.run("sn40l", "llama2-7b", batch=1, prompt=2048, gen=1)
    more_hbm = accsim.run("sn40l", "llama2-7b", batch=1, prompt=2048, gen=1, overrides={"hbm.devices": 8})
    fewer_pcus = accsim.run("sn40l", "llama2-7b", batch=1, prompt=2048, gen=1, overrides={"pcu.count": 520})
    assert more_hbm["ttft_s"] > 0.9 * base["ttft_s"]
    assert fewer_pcus["ttft_s"] > 1.5 * base["ttft_s"]


def test_fusion_cuts_kernel_calls_and_time():
    runs = {f: accsim.run("sn40l-node8", "llama2-7b", batch=1, prompt=1024, gen=2,
                          overrides={"mapper.fusion": f}) for f in ("on", "off")}
    assert runs["off"]["prefill"]["kernel_calls"] > 10 * runs["on"]["prefill"]["kernel_calls"]
    assert runs["off"]["tpot_s"] > 1.5 * runs["on"]["tpot_s"]
    assert runs["off"]["ttft_s"] > runs["on"]["ttft_s"]
    # unfused, every operator's output goes through HBM
    assert runs["off"]["prefill"]["hbm_bytes_per_socket"] > runs["on"]["prefill"]["hbm_bytes_per_socket"]


def test_software_orchestration_pays_host_calls_per_kernel():
    runs = {o: accsim.run("sn40l-node8", "llama2-7b", batch=1, prompt=512, gen=2,
                          overrides={"runtime.orchestration": o}) for o in ("hardware", "software")}
    hw, sw = runs["hardware"]["decode"], runs["software"]["decode"]
    extra = sw["by_op_kind"]["kernel_launch"]["exposed_s"] - hw["by_op_kind"]["kernel_launch"]["exposed_s"]
    spec = resolve_preset("sn40l-node8").spec
    calls = runs["hardware"]["decode"]["steps"] * resolve_kernel_calls("sn40l-node8", "llama2-7b", 512)
    # two host calls per kernel (argument load, launch), minus the AGCU's own launch
    assert extra == pytest.approx(calls * (2 * spec.runtime.host_call_us * 1e-6), rel=0.05)
    assert sw["latency_s"] > hw["latency_s"]


def resolve_kernel_calls(arch, model, prompt):
    spec, prog = program(arch=arch, model=model, phase=Phase.decode(1, prompt))
    return len(M._sections(prog))


def test_what_hbm_cannot_hold_spills_to_ddr_lowest_traffic_first():
    spec, prog = program(model="llama2-70b", arch="sn40l", phase=Phase.decode(1, 128))
    placement = prog.meta["placement"]
    assert placement["hbm_bytes"] <= spec.hbm.capacity_GiB * 2**30
    assert placement["ddr_bytes"] > 0
    assert placement["ddr_symbols"][0] == "embed.tok.weight" or "embed.tok.weight" in placement["ddr_symbols"]
    stats = M.simulate(spec, prog)
    assert stats["ddr_bytes_per_socket"] > 0
    # the DDR tier (~200 GB/s) sets the pace of the spilled layers
    assert stats["by_unit"]["ddr"]["busy_s"] > 0.5 * stats["latency_s"]


def test_tiers_come_from_the_dram_component_and_agree_with_its_cycle_level_controller():
    """The characterised rate the model uses equals the DRAM controller's cycle-level service
    of the same pattern (one channel; the socket scales by channels x devices)."""
    from accsim.arch.dram.tier import characterise, pattern_requests, serve
    from accsim.arch.rdu.tiers import dram_config, tier_rates
    spec = resolve_preset("sn40l").spec
    rates = tier_rates(spec)
    for unit, tier in ((HBM, spec.hbm), (DDR, spec.ddr)):
        config = dram_config(tier.dram)
        one = dataclasses.replace(config, organization=dataclasses.replace(config.organization, channels=1))
        for pattern, rate in (("streaming", rates.bytes_per_cycle), ("random", rates.random_bytes_per_cycle)):
            c = characterise(config, pattern)
            assert rate[unit] == pytest.approx(c.bandwidth_GBps * tier.devices * 1e9 / spec.clock_hz)
            addr, is_write = pattern_requests(one, pattern, 8000, 0.0, 1)
            done = serve(one, addr, is_write)
            served_GBps = addr.size * one.organization.tx_bytes / (done.max() * one.tCK_ps * 1e-12) / 1e9
            assert served_GBps == pytest.approx(c.per_channel_GBps, rel=0.05)


def test_sn40l_peak_is_the_published_product_of_pcus_lanes_stages_and_clock():
    spec = resolve_preset("sn40l").spec
    assert 2 * spec.macs_per_cycle * spec.pcu.count * spec.clock_hz / 1e12 == pytest.approx(638, rel=0.01)


def test_rdu_refuses_int8_and_a_tier_that_is_not_dram(small):
    with pytest.raises(ConfigError, match="dtype: the rdu family runs"):
        accsim.run("sn40l", small, dtype="int8", gen=2)
    with pytest.raises(ConfigError, match="hbm.dram: 't4' is a gpu preset"):
        accsim.run("sn40l", small, gen=2, overrides={"hbm.dram": "t4"})
    with pytest.raises(ConfigError, match="hbm.dram"):
        accsim.run("sn40l", small, gen=2, overrides={"hbm.dram": "hbm9"})


def test_a_layer_too_big_for_the_pmus_splits_into_sections_that_fit(small):
    """Fused sections are cut where the PMUs' SRAM runs out (not only the PCU count): with 2 or
    3 PMUs a layer becomes several sections (more kernel calls, each planned to fit), fewer
    PMUs split it finer; an op that fits no PMUs alone names the fix."""
    whole = accsim.run("sn40l", small, gen=2)
    calls = lambda pmus: accsim.run("sn40l", small, gen=2, overrides={"pmu.count": pmus, "pcu.count": 40})[
        "decode.last_step.kernel_calls"]
    assert whole["decode.last_step.kernel_calls"] < calls(3) < calls(2)
    with pytest.raises(ConfigError, match="section matmul \\(1 stages\\) does not fit one socket's PMUs"):
        accsim.run("sn40l", small, gen=2, overrides={"pmu.count": 2, "pcu.count": 40, "pmu.capacity_KiB": 4})


def test_too_big_for_both_tiers_is_a_capacity_error():
    with pytest.raises(CapacityError, match="ddr.capacity_GiB"):
        accsim.run("sn40l", "llama3.1-405b", gen=2, overrides={"ddr.capacity_GiB": 64})


def test_tensor_parallel_all_reduces_run_on_the_peer_links():
    stats = accsim.run("sn40l-node8", "llama2-7b", batch=1, prompt=256, gen=2)
    assert stats["decode"]["by_unit"]["link"]["busy_s"] > 0
    assert stats["prefill"]["link_bytes_per_socket"] > 0
    one = accsim.run("sn40l", "llama2-7b", batch=1, prompt=256, gen=2)
    assert one["prefill"]["link_bytes_per_socket"] == 0


@pytest.mark.parametrize("overrides, bound", [({}, DDR), ({"hbm.devices": 1, "ddr.devices": 64}, HBM)])
def test_a_ddr_to_hbm_copy_streams_at_the_slower_tier(overrides, bound):
    from accsim.arch.rdu.tiers import tier_rates
    spec = resolve_preset("sn40l", overrides).spec
    nbytes = 256 * 2**20
    cycles = M.copy_cycles(spec, nbytes)
    assert cycles == pytest.approx(nbytes / tier_rates(spec).bytes_per_cycle[bound], rel=0.02)


@pytest.mark.validation
def test_the_sn40l_case_file_loads_and_a_table_iv_case_runs():
    from accsim.validation.harness import load_cases, run_case
    cases = {c.id: c for c in load_cases() if c.id.startswith("sn40l-")}
    assert len(cases) >= 18
    outcome = run_case(cases["sn40l-llama31-8b-decode"])
    assert outcome.failure in (None, "") and outcome.simulated > 0


@pytest.mark.slow
@pytest.mark.validation
def test_every_sn40l_case_runs():
    from accsim.validation.harness import load_cases, run_case
    outcomes = [run_case(c) for c in load_cases() if c.id.startswith("sn40l-")]
    assert [o.case.id for o in outcomes if o.failure] == []


def test_a_unit_budget_of_zero_is_refused_not_looped_on(small):
    with pytest.raises(ConfigError, match="mapper.unit_fraction: .* leaves no unit"):
        accsim.run("sn40l", small, gen=2, overrides={"mapper.unit_fraction": 0.0001})
    with pytest.raises(ConfigError, match="leaves no unit"):
        accsim.run("sn40l", small, gen=2, overrides={"pcu.count": 1})


@pytest.mark.parametrize("arch, model_name", [("sn40l-node8", "mixtral-8x7b"), ("sn40l-node16", "deepseek-r1")])
def test_moe_decode_reads_only_the_active_experts(arch, model_name):
    """A decode step's stages load the routed experts' weights, not every expert's (the graph's
    bytes_read of an expert op); the step's tier traffic is those weights plus cache and spills."""
    from accsim.mappers.rdu import parallelism, touched_bytes
    from accsim.workloads import build_graph
    spec = resolve_preset(arch).spec
    model = load_model(model_name).with_dtype("bf16")
    graph = build_graph(model, Phase.decode(1, 512), parallelism(spec, model))
    active = sum(touched_bytes(op, t) for op in graph.ops() for t in op.inputs if t.role == "weight")
    cache = sum(t.bytes for op in graph.ops() for t in op.inputs if t.role == "kv_cache")
    assert active < 0.5 * graph.weight_bytes()
    step = accsim.run(arch=arch, model=model_name, batch=1, prompt=512, gen=2, dtype="bf16")["decode.last_step"]
    moved = step["hbm_bytes_per_socket"] + step["ddr_bytes_per_socket"]
    assert active <= moved <= 1.05 * (active + cache)
