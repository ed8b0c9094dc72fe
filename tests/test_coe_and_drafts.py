"""Compositions of experts and speculative decoding with a draft model (any family)."""
from __future__ import annotations

import pytest

import accsim
from accsim.core.capacity import CapacityError
from accsim.core.errors import ConfigError

COE = dict(coe="150xllama2-7b", dtype="bf16", prompt=32, gen=4, decode_samples=2)


@pytest.fixture(scope="module")
def coe_runs():
    return {(arch, b): accsim.run(arch, batch=b, **COE)
            for arch in ("sn40l-node8", "dgx-a100") for b in (1, 4)}


def test_coe_time_is_router_plus_switches_plus_experts(coe_runs):
    for s in coe_runs.values():
        c = s["coe"]
        assert s["latency_s"] == pytest.approx(c["router_s"] + c["switching_s"] + c["experts_s"])
        assert sum(v["exposed_s"] for v in s["by_op_kind"].values()) == pytest.approx(s["latency_s"])
        assert c["switching_s"] == pytest.approx(c["expected_switches"] * c["switch_s"])


def test_coe_switch_copies_the_expert_over_the_slow_tier_path(coe_runs):
    sn, dgx = coe_runs[("sn40l-node8", 1)]["coe"], coe_runs[("dgx-a100", 1)]["coe"]
    # DDR -> HBM on 8 sockets at once against one PCIe Gen4 host link
    assert sn["copy_GBps"] > 20 * dgx["copy_GBps"]
    assert dgx["switch_s"] == pytest.approx(dgx["expert_bytes"] / 31.5e9, rel=0.01)
    assert sn["experts_held"] > 4 * dgx["experts_held"]
    # a node's HBM holds ~40 of the 150; the rest wait in DDR
    assert 30 < sn["experts_resident"] < 45


def test_coe_batches_route_to_distinct_experts(coe_runs):
    one, four = coe_runs[("sn40l-node8", 1)]["coe"], coe_runs[("sn40l-node8", 4)]["coe"]
    assert (one["distinct_experts"], four["distinct_experts"]) == (1, 4)
    assert four["experts_s"] == pytest.approx(4 * one["experts_s"], rel=0.05)
    assert four["expected_switches"] == pytest.approx(4 * one["expected_switches"])


def test_coe_that_fits_nowhere_is_a_capacity_error():
    with pytest.raises(CapacityError, match="host_memory_GiB: 900 experts"):
        accsim.run("dgx-a100", coe="900xllama2-7b", gen=2)
    with pytest.raises(CapacityError, match="ddr.capacity_GiB"):
        accsim.run("sn40l-node8", coe="2000xllama2-7b", gen=2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(coe="150 llama2-7b"), "coe: expected 'NxMODEL'"),
    (dict(coe="0xllama2-7b"), "coe: expected 'NxMODEL'"),
    (dict(coe="4xllama2-7b", model="llama2-13b"), "model: with coe the router"),
    (dict(arch="ascend-910b", coe="4xllama2-7b"), "coe: family 'npu' declares no model tiers"),
])
def test_bad_coe_scenarios_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        accsim.run(**{"arch": "sn40l-node8", "gen": 2, **kwargs})


@pytest.mark.parametrize("arch", ["sn40l-node8", "a100-80gb", "ascend-910b"])
def test_a_draft_model_drafts_then_the_target_verifies(arch):
    base = dict(batch=1, prompt=256, gen=17, decode_samples=2, dtype="bf16")
    plain = accsim.run(arch, "llama2-13b", **base)
    spec = accsim.run(arch, "llama2-13b", draft_model="llama2-7b", draft_tokens=3, acceptance=0.8, **base)
    # 1 + 3 x 0.8 = 3.4 tokens per step: 16 tokens in 5 steps instead of 16
    assert (plain["decode"]["steps"], spec["decode"]["steps"]) == (16, 5)
    draft = spec["decode"]["by_op_kind"]["draft_model"]["exposed_s"]
    one_draft = accsim.run(arch, "llama2-7b", **{**base, "gen": 2})["tpot_s"]
    assert draft == pytest.approx(5 * 3 * one_draft, rel=0.1)
    assert sum(v["exposed_s"] for v in spec["decode"]["by_op_kind"].values()) == pytest.approx(
        spec["decode"]["latency_s"])


def test_draft_options_are_checked():
    with pytest.raises(ConfigError, match="draft_model: set draft_tokens"):
        accsim.run("sn40l", "gpt2-small", draft_model="gpt2-small", gen=3)
    with pytest.raises(ConfigError, match="or name a draft model"):
        accsim.run("sn40l", "gpt2-small", draft_tokens=2, gen=3)
