"""Broken Hugging Face config.json files: refused with the file and the key."""
import json

import pytest

pytestmark = [pytest.mark.unit, pytest.mark.badinput]

GPT2 = {"model_type": "gpt2", "n_layer": 2, "n_embd": 64, "n_head": 4, "vocab_size": 100,
        "n_positions": 128, "activation_function": "gelu_new"}
LLAMA = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
         "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100,
         "max_position_embeddings": 128, "hidden_act": "silu"}
MIXTRAL = {**LLAMA, "model_type": "mixtral", "num_local_experts": 4, "num_experts_per_tok": 2}
DEEPSEEK = {**LLAMA, "model_type": "deepseek_v3", "n_routed_experts": 4, "num_experts_per_tok": 2,
            "moe_intermediate_size": 32}


def changed(base: dict, **fields) -> str:
    data = {**base, **fields}
    return json.dumps({k: v for k, v in data.items() if v is not ...})


CASES = [
    # the file
    ("", "invalid JSON"),
    ("{", "invalid JSON"),
    ('{"model_type": "gpt2",}', "m.json:1: invalid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ("null", "expected a JSON object"),
    (b"\xff\xfe{}", "cannot read the model config"),
    ('{"model_type": "gpt2", "n_layer": 2, "n_layer": 3}', "duplicate key 'n_layer'"),
    ('{"model_type": "gpt2", "n_embd": NaN}', "NaN is not a number"),
    ('{"model_type": "gpt2", "n_embd": Infinity}', "Infinity is not a number"),
    ('{"model_type": "gpt2", "n_embd": -Infinity}', "-Infinity is not a number"),
    ('{"a": ' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
    # keys and types
    (changed(GPT2, model_type=...), "model_type: expected one of"),
    (changed(GPT2, model_type="bert"), "model_type: expected one of"),
    (changed(GPT2, model_type=["gpt2"]), "model_type: expected one of"),
    (changed(GPT2, n_layerz=2), ("n_layerz", "did you mean")),
    (changed(GPT2, n_layer=0), "n_layer: expected an integer in 1.."),
    (changed(GPT2, n_layer=-2), "n_layer: expected an integer in 1.."),
    (changed(GPT2, n_layer=True), "n_layer: expected an integer in 1..1,099,511,627,776, got True"),
    (changed(GPT2, n_layer="12"), "n_layer: expected an integer in 1.."),
    (changed(GPT2, n_layer=2.5), "n_layer: expected an integer in 1.."),
    (changed(GPT2, n_layer=None), "n_layer: expected an integer in 1.."),
    (changed(GPT2, n_embd=...), "hidden_size: expected an integer in 1.."),
    (changed(GPT2, vocab_size=0), "vocab_size: expected an integer in 1.."),
    (changed(GPT2, n_head=7), "num_attention_heads: 7 does not divide hidden_size 64"),
    (changed(GPT2, n_inner=0), "n_inner: expected an integer in 1.."),
    (changed(GPT2, n_inner=False), "n_inner: expected an integer in 1.."),
    (changed(GPT2, n_positions=...), "max_position_embeddings: required"),
    (changed(GPT2, activation_function="gelu_fast"), "activation_function: expected one of"),
    (changed(GPT2, tie_word_embeddings="yes"), "tie_word_embeddings: expected true or false"),
    (changed(GPT2, tie_word_embeddings=1), "tie_word_embeddings: expected true or false"),
    (changed(GPT2, n_layer=10 ** 9), ("op graph (1,000,000,000 layers) would need about", "GiB")),
    (changed(GPT2, n_embd=10 ** 400, n_head=1), "n_embd: expected an integer in 1..1,099,511,627,776"),
    (changed(GPT2, vocab_size=2 ** 41), "vocab_size: expected an integer in 1.."),
    # a quantised checkpoint with fewer than 8 bits is refused by name, never run as fp16
    (changed(LLAMA, quantization_config={"quant_method": "awq", "bits": 4, "group_size": 128}),
     "quantization_config: 4-bit awq weights (group size 128) are not a number format accsim costs"),
    (changed(LLAMA, quantization_config={"quant_method": "gptq", "bits": 3}),
     "quantization_config: 3-bit gptq weights"),
    (changed(LLAMA, quantization_config={"quant_method": "bitsandbytes", "load_in_4bit": True}),
     "quantization_config: 4-bit bitsandbytes weights"),
    (changed(LLAMA, quantization_config={"quant_method": "mystery"}),
     "quantization_config: mystery: no weight bit width"),
    (changed(LLAMA, quantization_config="awq"), "quantization_config: expected a mapping"),
    (changed(LLAMA, num_key_value_heads=3), "num_key_value_heads: 3 does not divide"),
    (changed(LLAMA, num_key_value_heads=0), "num_key_value_heads: expected an integer in 1.."),
    (changed(LLAMA, head_dim=0), "head_dim: expected an integer in 1.."),
    (changed(LLAMA, attention_bias=True), "biases on llama-type layers are not modelled"),
    (changed(LLAMA, mlp_bias="no"), "mlp_bias: expected true or false"),
    (changed(LLAMA, sliding_window=-1), "sliding_window: expected an integer in 0.."),
    (changed(LLAMA, num_experts_per_tok=2), "num_experts_per_tok: set without experts"),
    (changed(LLAMA, moe_intermediate_size=32), "moe_intermediate_size: set without experts"),
    (changed(MIXTRAL, num_experts_per_tok=5), "num_experts_per_tok: expected 1..4"),
    (changed(MIXTRAL, num_experts_per_tok=0), "num_experts_per_tok: expected 1..4"),
    (changed(DEEPSEEK, moe_intermediate_size=...), "moe_intermediate_size: required"),
    (changed(DEEPSEEK, first_k_dense_replace=5), "first_k_dense_replace: 5 exceeds num_hidden_layers 2"),
    (changed(DEEPSEEK, kv_lora_rank=16), "MLA needs qk_nope_head_dim"),
    (changed(GPT2, model_type="opt", do_layer_norm_before=False), "do_layer_norm_before: only True"),
]


@pytest.mark.parametrize("text, expect", CASES, ids=[f"{i}:{str(t)[:50]}" for i, (t, _) in enumerate(CASES)])
def test_bad_model_config_is_refused(refused, text, expect):
    refused(["run", "--model", "m.json", "--gen", "2", "--quiet", "--json", "out.json"], expect,
            files={"m.json": text}, lines=None)


@pytest.mark.parametrize("arch", ["t4", "pim-gpt", "ascend-910b", "sn40l", "instinfer-a6000-1csd"])
def test_a_model_too_large_for_the_machine_is_refused_up_front(refused, arch):
    refused(["run", "--arch", arch, "--model", "m.json", "--gen", "2", "--quiet"], ("needs", "GiB per"),
            files={"m.json": changed(GPT2, n_embd=2 ** 30, n_head=1)})


def test_a_folder_without_config_json(refused, tmp_path):
    (tmp_path / "snapshot").mkdir()
    refused(["run", "--model", "snapshot", "--quiet"], "must hold a config.json")


def test_a_missing_config_file(refused):
    refused(["run", "--model", "nowhere.json", "--quiet"], "nowhere.json: no such file")


def test_an_oversized_config_is_refused_unread(refused):
    refused(["run", "--model", "big.json", "--quiet"], "a model config is at most",
            files={"big.json": "{" + " " * 17 * 2 ** 20 + "}"})


def test_a_draft_model_config_is_checked_too(refused):
    refused(["run", "--draft-model", "d.json", "--draft-tokens", "2", "--quiet"], "duplicate key",
            files={"d.json": '{"model_type": "gpt2", "n_layer": 1, "n_layer": 1}'}, lines=None)
