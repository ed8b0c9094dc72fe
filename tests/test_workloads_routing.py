"""MoE routing skew: a workload input every family sees through the graph (experts touched, so
expert weight bytes read)."""
from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

import accsim
from accsim.core.errors import ConfigError
from accsim.workloads import Phase, build_graph, load_model
from accsim.workloads.graph import expected_share_touched

pytestmark = pytest.mark.unit


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 256), st.integers(1, 8), st.integers(1, 4096), st.floats(0.0, 10.0))
def test_a_token_touches_k_experts_and_skew_concentrates_the_rest(experts, top_k, tokens, skew):
    top_k = min(top_k, experts)
    touched = expected_share_touched(experts, top_k, tokens, skew) * experts
    assert top_k - 1e-9 <= touched <= experts + 1e-9
    if tokens == 1:
        assert touched == pytest.approx(top_k)
    assert touched <= expected_share_touched(experts, top_k, tokens, 0.0) * experts + 1e-9


def test_uniform_routing_is_the_closed_form_and_skew_reads_fewer_expert_weights():
    model = load_model("mixtral-8x7b")
    assert expected_share_touched(8, 2, 5, 0.0) == 1.0 - (1.0 - 2 / 8) ** 5
    read = lambda m: sum(op.bytes_read for op in build_graph(m, Phase.decode(8, 256)).ops()
                         if op.kind == "expert_matmul")
    uniform, skewed = read(model), read(model.with_routing_skew(2.0))
    assert read(model.with_routing_skew(0.0)) == uniform
    assert skewed < 0.8 * uniform
    # one token still reads exactly its top-2 experts
    one = lambda m: [op.attrs["experts_active"] for op in build_graph(m, Phase.decode(1, 256)).ops()
                     if op.kind == "expert_matmul"][0]
    assert one(model.with_routing_skew(3.0)) == pytest.approx(2.0)


def test_routing_skew_on_a_dense_model_or_out_of_range_is_refused():
    with pytest.raises(ConfigError, match="routing_skew: gpt2-small has no routed experts"):
        accsim.run("t4", "gpt2-small", gen=2, routing_skew=1.0)
    with pytest.raises(ConfigError, match="routing_skew"):
        accsim.run("sn40l", "mixtral-8x7b", gen=2, routing_skew=20.0)


def active_weight_share(model) -> float:
    """Share of a model's weight bytes one batch-1 decode step reads: each weight tensor once, in
    full, except the experts the token is not routed to (k of E per MoE layer) and the embedding
    rows it does not look up."""
    graph = build_graph(model, Phase.decode(1, 64))
    read: dict[str, float] = {}
    for op in graph.ops():
        for t in op.inputs:
            if t.role != "weight":
                continue
            share = 1.0
            if op.kind == "expert_matmul":
                share = op.attrs["experts_active"] / op.attrs["experts"]
            elif op.kind == "embedding":
                share = model.d_model * model.role_bytes("weight") / t.bytes      # one row
            read[t.name] = max(read.get(t.name, 0.0), share * t.bytes)
    return sum(read.values()) / graph.weight_bytes()


@pytest.mark.parametrize("arch, options, measure", [
    ("dgx-h100", {}, "offchip_bytes"),                          # HBM reads, all 8 GPUs
    ("ascend-910b", {"dtype": "int8"}, "offchip_bytes"),        # one die's HBM
    ("pim-gpt", {"overrides": {"dram.organization.channels": 256}, "decode_only": True}, "useful_macs"),  # in-bank
])
def test_every_family_reads_only_the_active_experts_weights(arch, options, measure):
    """Mixtral at batch 1 reads ~27% of its weights per decode step (2 of 8 experts), on the
    gpu, npu and pim families alike (rdu: test_rdu.py); reading every expert would be 100%."""
    model = load_model("mixtral-8x7b")
    run = accsim.run(arch, "mixtral-8x7b", batch=1, prompt=64, gen=2, **options)
    step = run["decode"]["last_step"]
    per_weight = 1 if measure == "useful_macs" else model.with_dtype(run["scenario"]["dtype"]).role_bytes("weight")
    weights = model.num_params * per_weight
    assert step[measure] / weights == pytest.approx(active_weight_share(model), rel=0.03)


def test_hf_eager_llama4_runs_every_expert_and_serving_engines_the_routed_one():
    """HF's eager Llama4TextMoe multiplies all 16 experts (framework.eager_dense_experts); vLLM
    reads the routed expert only: ~17B of 108B parameters per token."""
    model = load_model("llama4-scout")
    step = lambda mode: accsim.run("h200", "llama4-scout", batch=1, prompt=64, gen=2, overrides={
        "framework.mode": mode, "devices": 2})["decode"]["last_step"]["offchip_bytes"]
    weights = model.num_params * 2
    assert step("eager") / weights == pytest.approx(active_weight_share(replace(model, dense_experts=True)),
                                                    rel=0.02)
    assert step("vllm") / weights == pytest.approx(active_weight_share(model), rel=0.03)
