"""Models and OpGraphs: parameter counts, FLOPs against hand formulas, structure."""
import json
from pathlib import Path

import networkx as nx
import pytest

from accsim.core.errors import ConfigError, UnknownNameError
from accsim.workloads import Parallelism, Phase, build_graph, load_model, model_names

pytestmark = pytest.mark.unit


def test_every_published_model_is_shipped(published_params):
    assert sorted(published_params) == model_names()


@pytest.mark.golden
@pytest.mark.parametrize("name", model_names())
def test_parameter_count_matches_published_total(name, published_params):
    ref = published_params[name]
    count = load_model(name).num_params
    error_pct = 100 * abs(count - ref["params"]) / ref["params"]
    assert error_pct <= ref["tolerance_pct"], f"{name}: {count:,} vs {ref['params']:,.0f} ({ref['source']})"


@pytest.mark.golden
@pytest.mark.parametrize("name", ["qwen2.5-7b", "qwen3-8b", "qwen3-30b-a3b", "gemma2-9b", "gemma3-1b"])
def test_non_embedding_parameter_count_matches_published(name, published_params):
    """Qwen's cards and Gemma's reports also give the count without the embedding (and LM-head)
    matrices."""
    ref, model = published_params[name], load_model(name)
    embedding = model.vocab_size * model.d_model * (1 if model.tied_embeddings else 2)
    error_pct = 100 * abs(model.num_params - embedding - ref["non_embedding"]) / ref["non_embedding"]
    assert error_pct <= ref["tolerance_pct"], ref["source"]


@pytest.mark.golden
@pytest.mark.parametrize("name", ["qwen3-30b-a3b", "llama4-scout", "llama4-maverick"])
def test_active_parameter_count_matches_published(name, published_params):
    """MoE cards also give the parameters one token uses: all but the routed experts it skips."""
    ref, model = published_params[name], load_model(name)
    graph = build_graph(model, Phase.decode(1, 16))
    experts = sum(t.elements for op in graph.ops() if op.kind == "expert_matmul" for t in op.inputs
                  if t.role == "weight")
    active = model.num_params - experts * (1 - model.experts_per_token / model.n_experts)
    tolerance = ref.get("active_tolerance_pct", ref["tolerance_pct"])
    assert 100 * abs(active - ref["active"]) / ref["active"] <= tolerance, ref["source"]


def test_llama4_interleaves_chunked_rotary_layers_global_layers_and_moe_layers():
    scout, maverick = load_model("llama4-scout"), load_model("llama4-maverick")
    assert scout.moe_layers == (True,) * 48 and maverick.moe_layers == (False, True) * 24
    g = build_graph(scout, Phase.decode(1, 10_000))           # token 10,001: 1,809 into its chunk
    assert g.op("L0.attn.score").attrs["n"] == 1809 and g.op("L3.attn.score").attrs["n"] == 10_001
    assert "L0.attn.rope" in g and "L0.attn.q_l2norm" in g and "L3.attn.rope" not in g
    assert "L3.attn.temperature" in g and "L0.moe.shared.gate" in g
    dense = build_graph(maverick, Phase.decode(1, 16))
    assert dense.op("L0.ffn.gate").attrs["n"] == 16384 and "L0.attn.q_l2norm" not in dense


def test_a_llama4_checkpoint_config_runs_its_text_model_and_type_only_keys_are_refused(tmp_path):
    text = json.loads((Path(__file__).parents[1] / "workloads/configs/llama4-scout.json").read_text())
    text.pop("_source")
    full = tmp_path / "llama4.json"
    full.write_text(json.dumps({"model_type": "llama4", "text_config": {**text, "num_hidden_layers": 4},
                                "vision_config": {"hidden_size": 1408}}))
    assert load_model(full).n_layers == 4
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
                               "num_attention_heads": 4, "vocab_size": 100, "intermediate_size_mlp": 256}))
    with pytest.raises(ConfigError, match="intermediate_size_mlp: read only for model type llama4_text"):
        load_model(odd)


@pytest.mark.parametrize("name, facts", [
    ("qwen2.5-7b", {"qkv_bias": True, "qk_norm": False, "sliding_window": 0}),   # window switched off
    ("qwen3-8b", {"qkv_bias": False, "qk_norm": True, "head_dim": 128}),
    ("phi3-mini-4k", {"fused_qkv": True, "fused_gate_up": True, "sliding_window": 2047}),
    ("qwen3-30b-a3b", {"n_experts": 128, "experts_per_token": 8, "moe_d_ff": 768, "qk_norm": True}),
])
def test_new_architectures_read_what_their_configs_say(name, facts):
    model = load_model(name)
    assert {k: getattr(model, k) for k in facts} == facts


def test_gemma_norms_scaling_softcaps_and_windowed_layers():
    from accsim.workloads import Phase, build_graph
    gemma2 = build_graph(load_model("gemma2-9b"), Phase.decode(1, 8000))
    for name in ("embed.scale", "L0.post_attn_norm", "L0.post_ffn_norm", "L0.attn.softcap", "lm_head.softcap"):
        assert name in gemma2, name
    assert gemma2.op("L0.attn.softcap").key == "elementwise_softcap"
    # Gemma 2: even layers attend over the 4096-token window, odd ones over the whole context
    assert gemma2.op("L0.attn.score").outputs[0].shape[-1] == 4096
    assert gemma2.op("L1.attn.score").outputs[0].shape[-1] == 8001
    gemma3 = build_graph(load_model("gemma3-1b"), Phase.decode(1, 8000))
    lengths = [gemma3.op(f"L{i}.attn.score").outputs[0].shape[-1] for i in range(12)]
    assert lengths == [512] * 5 + [8001] + [512] * 5 + [8001]      # every 6th layer is global
    assert "L0.attn.q_norm" in gemma3 and "L0.attn.softcap" not in gemma3


def test_qwen_ops_bias_norms_and_fused_projections():
    from accsim.workloads import Phase, build_graph
    qwen2 = build_graph(load_model("qwen2.5-7b"), Phase.decode(1, 16))
    assert "L0.attn.q.weight.bias" in {t.name for op in qwen2.ops() for t in op.inputs}
    assert "L0.attn.o.weight.bias" not in {t.name for op in qwen2.ops() for t in op.inputs}
    qwen3 = build_graph(load_model("qwen3-8b"), Phase.decode(1, 16))
    assert qwen3.op("L0.attn.q_norm").kind == "rmsnorm" and "L0.attn.k_norm" in qwen3
    phi3 = build_graph(load_model("phi3-mini-4k"), Phase.decode(1, 16))
    assert "L0.attn.qkv" in phi3 and "L0.ffn.gate_up" in phi3 and "L0.ffn.gate" not in phi3


def test_bloom_biases_its_scores_with_alibi_and_norms_its_embeddings():
    m = load_model("bloom-176b")
    g = build_graph(m, Phase.decode(2, 100))
    assert g.op("L0.attn.score").flops == 2 * m.n_heads * 101 * (2 * m.head_dim + 1)   # + the bias add
    assert g.op("embed.norm").kind == "layernorm" and "embed.pos" not in g and "L0.attn.rope" not in g


def test_falcon_runs_attention_and_mlp_side_by_side_with_one_all_reduce_per_layer():
    m = load_model("falcon-40b")
    g = build_graph(m, Phase.decode(1, 16), Parallelism(tp=8))
    layer0 = [op for op in g.ops() if op.layer == 0]
    assert [op.name for op in layer0 if op.kind == "all_reduce"] == ["L0.allreduce"]
    # both norms read the residual stream, not each other's output
    assert g.predecessors("L0.ln2") == g.predecessors("L0.ln1")
    assert g.op("L0.attn.qkv").attrs["n"] == (m.n_heads + 2 * m.n_kv_heads) * m.head_dim // 8


def test_falcon_older_layout_is_multi_query_with_one_shared_norm(tmp_path):
    """Falcon-7B's layout (HF FalconConfig defaults): one kv head, one norm feeding both branches."""
    path = tmp_path / "falcon7.json"
    path.write_text(json.dumps({"model_type": "falcon", "hidden_size": 4544, "num_hidden_layers": 2,
                                "num_attention_heads": 71, "vocab_size": 65024, "parallel_attn": True}))
    m = load_model(path)
    assert (m.n_kv_heads, m.parallel_block, m.rotary) == (1, 1, True)
    assert "L0.ln2" not in build_graph(m, Phase.decode(1, 16))


@pytest.mark.golden
@pytest.mark.parametrize("name, exact", [
    # Hugging Face model.num_parameters() of the same configs
    ("gpt2-small", 124_439_808), ("llama2-7b", 6_738_415_616), ("mixtral-8x7b", 46_702_792_704),
    ("llama3.1-8b", 8_030_261_248), ("opt-6.7b", 6_658_473_984),
    # BLOOM's model card; every tensor of Falcon-40B's checkpoint (its LM head is stored apart)
    ("bloom-176b", 176_247_271_424), ("falcon-40b", 41_835_970_560)])
def test_parameter_count_is_exact_for_hf_models(name, exact):
    assert load_model(name).num_params == exact


def layer_flops(g, layer):
    return sum(op.flops for op in g.ops() if op.layer == layer)


def test_gpt2_decode_layer_flops_match_hand_formula():
    m = load_model("gpt2-small")
    B, ctx = 4, 100
    g = build_graph(m, Phase.decode(B, ctx))
    d, H, kv = m.d_model, m.n_heads, ctx + 1
    T = B
    hand = (2 * T * d * 3 * d          # fused QKV
            + 2 * 2 * B * d * kv       # scores and context over kv tokens (H * head_dim = d)
            + 5 * B * H * kv           # softmax
            + 2 * T * d * d            # output projection
            + 2 * 2 * T * d * 4 * d    # FFN up and down
            + 8 * T * 4 * d            # GELU (tanh form)
            + 2 * 8 * T * d            # two layernorms
            + 2 * T * d)               # two residual adds
    assert layer_flops(g, 0) == hand


def test_llama_gqa_prefill_layer_flops_match_hand_formula():
    m = load_model("llama3.1-8b")
    B, S = 2, 128
    g = build_graph(m, Phase.prefill(B, S))
    d, H, Hkv, hd, ff = m.d_model, m.n_heads, m.n_kv_heads, m.head_dim, m.d_ff
    T = B * S
    hand = (2 * T * d * (H + 2 * Hkv) * hd + 2 * T * H * hd * d       # q, k, v, o projections
            + 2 * 2 * B * H * S * S * hd + 5 * B * H * S * S          # scores, context, softmax
            + 3 * T * (H + Hkv) * hd                                   # rotary on q and k
            + 3 * 2 * T * d * ff + 4 * T * ff + T * ff                 # gate/up/down, SiLU, mul
            + 2 * 4 * T * d + 2 * T * d)                               # rmsnorms, residuals
    assert layer_flops(g, 0) == hand


@pytest.mark.parametrize("name", ["gpt2-small", "llama2-7b", "mixtral-8x7b", "deepseek-v3"])
def test_graph_is_a_dag_in_program_order(name):
    g = build_graph(load_model(name), Phase.decode(2, 16))
    order = list(g.graph.nodes)
    assert nx.is_directed_acyclic_graph(g.graph)
    position = {n: i for i, n in enumerate(order)}
    assert all(position[u] < position[v] for u, v in g.graph.edges)


@pytest.mark.parametrize("name", ["gpt2-small", "llama2-7b", "mixtral-8x7b", "deepseek-v3"])
def test_weights_are_the_same_in_every_phase(name):
    m = load_model(name)
    assert build_graph(m, Phase.decode(3, 40)).num_weight_params() == m.num_params


def test_kv_cache_is_an_explicit_tensor_read_by_attention():
    g = build_graph(load_model("llama2-7b"), Phase.decode(2, 99))
    score = g.op("L0.attn.score")
    cache = [t for t in score.inputs if t.role == "kv_cache"]
    assert [t.shape for t in cache] == [(2, 32, 100, 128)]
    assert "L0.attn.kv_append" in g.predecessors("L0.attn.score")
    append = g.op("L0.attn.kv_append")
    assert append.bytes_written == 2 * 2 * 32 * 128 * 2   # one new token's K and V, batch 2, fp16


def test_decode_reads_all_weights_and_the_kv_cache():
    m = load_model("llama2-7b")
    B, ctx = 8, 511
    g = build_graph(m, Phase.decode(B, ctx))
    kv_bytes = 2 * m.n_layers * B * (ctx + 1) * m.n_kv_heads * m.head_dim * 2
    weights_read = (m.num_params - m.vocab_size * m.d_model) * 2   # embedding: only B rows looked up
    read = g.total_bytes()
    assert weights_read + kv_bytes < read < 1.01 * (weights_read + kv_bytes)


def test_moe_decode_reads_only_active_experts():
    m = load_model("mixtral-8x7b")
    one = build_graph(m, Phase.decode(1, 10)).op("L0.moe.experts.up")
    many = build_graph(m, Phase.decode(64, 10)).op("L0.moe.experts.up")
    expert_bytes = m.d_model * m.d_ff * 2
    assert one.attrs["experts_active"] == pytest.approx(2.0)
    assert one.bytes_read == pytest.approx(2 * expert_bytes, rel=1e-3)
    assert many.attrs["experts_active"] == pytest.approx(8 * (1 - (1 - 2 / 8) ** 64))
    assert one.flops == 2 * 2 * m.d_model * m.d_ff


def test_mla_decode_caches_the_latent_only():
    m = load_model("deepseek-v3")
    g = build_graph(m, Phase.decode(1, 1023))
    cache = [t for t in g.op("L0.attn.score").inputs if t.role == "kv_cache"][0]
    assert cache.shape == (1, 1024, m.kv_lora_rank + m.qk_rope_head_dim)
    assert "L3.moe.router" in g and "L2.moe.router" not in g   # first 3 layers dense


def test_tensor_parallel_shards_and_adds_all_reduce():
    m = load_model("llama2-7b")
    full = build_graph(m, Phase.decode(1, 10))
    tp = build_graph(m, Phase.decode(1, 10), Parallelism(tp=4))
    reduces = [op for op in tp.ops() if op.kind == "all_reduce"]
    assert len(reduces) == 2 * m.n_layers
    assert reduces[0].attrs["payload_bytes"] == m.d_model * 2
    layer_w = lambda g: sum(t.elements for op in g.ops() if op.layer == 0 for t in op.weights if t.role == "weight" and len(t.shape) == 2)
    assert layer_w(tp) * 4 == layer_w(full)
    assert tp.total_flops() < full.total_flops() / 3


def test_expert_parallel_adds_all_to_all():
    g = build_graph(load_model("deepseek-v3"), Phase.decode(8, 10), Parallelism(ep=32))
    kinds = [op.kind for op in g.ops() if op.layer == 5]
    assert kinds.count("all_to_all") == 2
    assert g.op("L5.moe.experts.up").attrs["experts"] == 8


def test_sliding_window_caps_attention():
    g = build_graph(load_model("mistral-7b"), Phase.decode(1, 10000))
    assert g.op("L0.attn.score").attrs["n"] == 4096


@pytest.mark.parametrize("phase, parallel, message", [
    (Phase.decode(0, 5), Parallelism(), "batch: expected an integer > 0"),
    (Phase.decode(1, 5), Parallelism(tp=5), "parallelism.tp: 5 does not divide 12 heads"),
    (Phase.decode(1, 5), Parallelism(ep=2), "gpt2-small has no routed experts"),
    (Phase.decode(1, 1024), Parallelism(), "exceed gpt2-small's max_position_embeddings 1024"),
])
def test_bad_phases_are_rejected(phase, parallel, message):
    with pytest.raises(ConfigError, match=message):
        build_graph(load_model("gpt2-small"), phase, parallel)


def test_unknown_model_suggests():
    with pytest.raises(UnknownNameError, match="did you mean 'gpt2-small'"):
        load_model("gpt2-smal")


def test_user_config_json(tmp_path):
    cfg = json.loads(json.dumps({"model_type": "gpt2", "n_layer": 2, "n_embd": 64, "n_head": 4,
                                 "vocab_size": 100, "n_positions": 32, "bos_token_id": 0}))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    m = load_model(path)
    assert m.n_layers == 2 and m.num_params == 100 * 64 + 32 * 64 + 2 * (12 * 64 * 64 + 13 * 64) + 2 * 64


def test_config_with_unknown_key_is_refused(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
                                "num_attention_heads": 4, "vocab_size": 10, "num_key_value_head": 2}))
    with pytest.raises(ConfigError, match="num_key_value_head: unknown key \\(did you mean 'num_key_value_heads'\\?\\)"):
        load_model(path)


def test_config_errors_are_collected(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama", "num_hidden_layers": -2, "hidden_size": "x",
                                "num_attention_heads": 4, "vocab_size": 10}))
    with pytest.raises(ConfigError) as info:
        load_model(path)
    assert len(info.value.problems) == 2


def test_invalid_json_names_line(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{\n "model_type": "gpt2",\n}')
    with pytest.raises(ConfigError, match=r"config\.json:3: invalid JSON"):
        load_model(path)


def test_an_8_bit_checkpoint_runs_in_the_chosen_format_and_says_what_it_stores(tmp_path):
    from pathlib import Path

    import accsim
    import accsim.workloads
    config = json.loads((Path(accsim.workloads.__file__).parent / "configs" / "llama2-7b.json").read_text())
    config["quantization_config"] = {"quant_method": "fp8", "activation_scheme": "dynamic",
                                     "weight_block_size": [128, 128]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert load_model(str(path)).quantization == "fp8 8-bit"
    stats = accsim.run(arch="h100-sxm", model=str(path), gen=2, dtype="fp8")
    assert stats["model.checkpoint_quantization"] == "fp8 8-bit"
    assert accsim.run(arch="t4", gen=2)["model.checkpoint_quantization"] == "none"
