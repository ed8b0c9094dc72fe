"""Transformer model configurations read from Hugging Face style ``config.json`` files.

The shipped configs live in ``configs/<name>.json`` and use the same keys as the Hugging Face
hub files, so a user can also pass the path of any compatible ``config.json``. Keys that do
not change tensor shapes or op counts (token ids, dropout rates, epsilons, ...) are listed in
``SHAPE_NEUTRAL_KEYS`` and skipped on purpose; any other unknown key is an error, never
silently ignored.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from accsim.core.config import integral, read_config_text
from accsim.core.errors import ConfigError, ProblemList, UnknownNameError, did_you_mean

CONFIG_DIR = Path(__file__).parent / "configs"

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}
# mixed precision schemes: the dtype of each tensor role. W8A8 quantises the linear layers
# (int8 weights, int8 GEMM inputs quantised on the fly); attention and the KV cache stay bf16.
# ``linear_input``: what a linear layer's input is quantised to (and what MoE dispatch sends).
MIXED_PRECISION = {"w8a8": {"weight": "int8", "linear_input": "int8", "activation": "bf16",
                            "kv_cache": "bf16"}}
DTYPES = (*DTYPE_BYTES, *MIXED_PRECISION)

# model_type -> architecture facts that Hugging Face encodes in code, not in config.json.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "gpt2": dict(norm="layernorm", activation="gelu_tanh", gated_ffn=False, bias=True,
                 learned_positions=True, position_offset=0, rotary=False, tied_embeddings=True,
                 fused_qkv=True),
    "opt": dict(norm="layernorm", activation="relu", gated_ffn=False, bias=True,
                learned_positions=True, position_offset=2, rotary=False, tied_embeddings=True,
                fused_qkv=False),
    "llama": dict(norm="rmsnorm", activation="silu", gated_ffn=True, bias=False,
                  learned_positions=False, position_offset=0, rotary=True, tied_embeddings=False,
                  fused_qkv=False),
}
ARCHITECTURES["mistral"] = ARCHITECTURES["llama"]
ARCHITECTURES["mixtral"] = ARCHITECTURES["llama"]
ARCHITECTURES["deepseek_v3"] = ARCHITECTURES["llama"]
# Qwen2: llama with biases on q/k/v (not o_proj); Qwen3 (and its MoE): llama with an RMSNorm over
# each head of q and k; Phi-3: llama with one qkv_proj and one gate_up_proj GEMM
ARCHITECTURES["qwen2"] = dict(ARCHITECTURES["llama"], qkv_bias=True)
ARCHITECTURES["qwen3"] = dict(ARCHITECTURES["llama"], qk_norm=True)
ARCHITECTURES["qwen3_moe"] = ARCHITECTURES["qwen3"]
ARCHITECTURES["phi3"] = dict(ARCHITECTURES["llama"], fused_qkv=True, fused_gate_up=True)
# Gemma 2: GeGLU, a second norm after each sublayer, embeddings scaled by sqrt(hidden_size), tied
# embeddings, every other layer (the even ones) windowed; Gemma 3 adds Qwen3's q/k norms
ARCHITECTURES["gemma2"] = dict(ARCHITECTURES["llama"], activation="gelu_tanh", tied_embeddings=True,
                               post_norms=True, embed_scale=True)
ARCHITECTURES["gemma3_text"] = dict(ARCHITECTURES["gemma2"], qk_norm=True)
# BLOOM: GPT-2-like (fused qkv, biases, GELU tanh, tied embeddings) with ALiBi (a bias added to
# the attention scores, no position embeddings) and a LayerNorm right after the embeddings
ARCHITECTURES["bloom"] = dict(ARCHITECTURES["gpt2"], learned_positions=False, alibi=True,
                              embed_norm=True)
# Falcon: fused qkv of (heads + 2 kv heads) x head_dim, rotary, exact GELU, no biases, and
# attention and MLP side by side on the same residual (parallel_attn): one LayerNorm feeding both,
# or one each (new_decoder_architecture); the two outputs are summed into the residual
ARCHITECTURES["falcon"] = dict(ARCHITECTURES["llama"], norm="layernorm", activation="gelu",
                               gated_ffn=False, tied_embeddings=True, fused_qkv=True)
# Llama 4 (text): llama with MoE layers of one shared expert plus routed experts (all layers, or
# every interleave_moe_layer_step-th; dense layers are intermediate_size_mlp wide), and iRoPE:
# three of four layers use rotary over chunked local attention (attention_chunk_size) with
# weightless L2 norms of q and k, the fourth attends globally without rotary, its queries scaled
# by a position-dependent temperature. A llama4 config's text_config is this model.
ARCHITECTURES["llama4_text"] = dict(ARCHITECTURES["llama"])

# config.json key -> ModelConfig field, first match wins.
KEY_ALIASES: dict[str, tuple[str, ...]] = {
    "n_layers": ("num_hidden_layers", "n_layer"),
    "d_model": ("hidden_size", "n_embd"),
    "n_heads": ("num_attention_heads", "n_head"),
    "n_kv_heads": ("num_key_value_heads", "num_kv_heads", "n_head_kv"),
    "head_dim": ("head_dim",),
    "d_ff": ("intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size"),
    "vocab_size": ("vocab_size",),
    "max_positions": ("max_position_embeddings", "n_positions"),
    "activation": ("hidden_act", "hidden_activation", "activation_function", "activation"),
    "tied_embeddings": ("tie_word_embeddings",),
    "sliding_window": ("sliding_window",),
    "n_experts": ("num_local_experts", "n_routed_experts", "num_experts"),
    "experts_per_token": ("num_experts_per_tok",),
    "n_shared_experts": ("n_shared_experts",),
    "moe_d_ff": ("moe_intermediate_size",),
    "first_dense_layers": ("first_k_dense_replace",),
    "q_lora_rank": ("q_lora_rank",),
    "kv_lora_rank": ("kv_lora_rank",),
    "qk_nope_head_dim": ("qk_nope_head_dim",),
    "qk_rope_head_dim": ("qk_rope_head_dim",),
    "v_head_dim": ("v_head_dim",),
    "mtp_layers": ("num_nextn_predict_layers",),
    "attention_bias": ("attention_bias",),
    "attn_softcap": ("attn_logit_softcapping",),
    "final_softcap": ("final_logit_softcapping",),
    "window_pattern": ("sliding_window_pattern",),
    "mlp_bias": ("mlp_bias",),
    "bias": ("bias",),
    "alibi": ("alibi",),
    "dense_d_ff": ("intermediate_size_mlp",),
    "attention_chunk": ("attention_chunk_size",),
}

ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu",
               "relu": "relu", "silu": "silu", "swish": "silu"}

# Keys that change neither tensor shapes nor op counts; skipped by design.
SHAPE_NEUTRAL_KEYS = frozenset("""
    _name_or_path architectures auto_map model_type torch_dtype dtype transformers_version
    bos_token_id eos_token_id pad_token_id sep_token_id decoder_start_token_id prefix
    use_cache initializer_range initializer_factor layer_norm_epsilon layer_norm_eps rms_norm_eps
    attn_pdrop embd_pdrop resid_pdrop dropout attention_dropout activation_dropout
    layerdrop hidden_dropout_prob summary_type summary_use_proj summary_activation
    summary_proj_to_labels summary_first_dropout task_specific_params n_ctx
    scale_attn_weights scale_attn_by_inverse_layer_idx reorder_and_upcast_attn
    do_layer_norm_before enable_bias rope_theta rope_scaling rope_interleave pretraining_tp
    output_router_logits router_aux_loss_coef router_jitter_noise aux_loss_alpha seq_aux
    routed_scaling_factor scoring_func norm_topk_prob topk_method n_group topk_group ep_size
    moe_layer_freq max_window_layers
    use_sliding_window keep_in_fp32_modules init_std use_mrope decoder_sparse_step mlp_only_layers
    original_max_position_embeddings layer_types query_pre_attn_scalar rope_local_base_freq
    cache_implementation attn_logit_softcapping final_logit_softcapping sliding_window_pattern
    hidden_activation
    attention_softmax_in_fp32 bias_dropout_fusion masked_softmax_fusion offset_alibi skip_bias_add
    skip_bias_add_qkv slow_but_exact unk_token_id hidden_dropout seq_length
    apply_residual_connection_post_layernorm
    new_decoder_architecture multi_query parallel_attn num_ln_in_parallel_attn
    interleave_moe_layer_step moe_layers no_rope_layers no_rope_layer_interval
    use_qk_norm attn_temperature_tuning floor_scale attn_scale rope_parameters
    _comment _source
""".split())

# Keys whose value must be the one accsim models; anything else is not supported yet.
REQUIRED_VALUES = {"do_layer_norm_before": True, "moe_layer_freq": 1, "use_mrope": False,
                   "decoder_sparse_step": 1, "mlp_only_layers": [],
                   "apply_residual_connection_post_layernorm": False}
# layer_types: full attention, or attention over the sliding window
LAYER_TYPES = ("full_attention", "sliding_attention", "chunked_attention")


@dataclass(frozen=True)
class ModelConfig:
    """Shape facts of a decoder-only transformer (what the OpGraph builder needs)."""

    name: str
    model_type: str
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_ff: int
    vocab_size: int
    max_positions: int
    norm: str
    activation: str
    gated_ffn: bool
    bias: bool
    learned_positions: bool
    position_offset: int
    rotary: bool
    tied_embeddings: bool
    fused_qkv: bool
    qkv_bias: bool = False           # biases on the q, k and v projections only (Qwen2)
    qk_norm: bool = False            # RMSNorm over each head of q and k (Qwen3)
    fused_gate_up: bool = False      # gate and up projections as one GEMM (Phi-3)
    post_norms: bool = False         # a norm after attention and after the MLP too (Gemma)
    embed_scale: bool = False        # embeddings multiplied by sqrt(hidden_size) (Gemma)
    embed_norm: bool = False         # a norm right after the embeddings (BLOOM)
    alibi: bool = False              # ALiBi: a per-head linear bias added to the scores (BLOOM)
    parallel_block: int = 0          # attention and MLP side by side (Falcon): the norms feeding
                                     # them (1 or 2); 0 = one after the other
    attn_softcap: float = 0.0        # attention scores capped by cap * tanh(s / cap); 0 = none
    final_softcap: float = 0.0       # logits capped the same way; 0 = none
    window_layers: tuple[bool, ...] = ()   # per layer: uses the sliding window (empty: all do)
    sliding_window: int = 0
    chunk_layers: tuple[bool, ...] = ()    # per layer: attends within its chunk (Llama 4)
    attention_chunk: int = 0               # tokens per chunk
    nope_layers: tuple[bool, ...] = ()     # per layer: no rotary embedding (Llama 4's global layers)
    qk_l2norm: bool = False          # weightless L2 norm of q and k on rotary layers (Llama 4)
    attn_temperature: bool = False   # queries scaled by a position-dependent temperature on NoPE layers
    moe_layers: tuple[bool, ...] = ()      # per layer: an MoE layer (empty: from first_dense_layers on)
    dense_experts: bool = False      # executed with every expert on every token (HF's eager Llama 4)
    n_experts: int = 0
    experts_per_token: int = 0
    n_shared_experts: int = 0
    moe_d_ff: int = 0
    first_dense_layers: int = 0
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    mtp_layers: int = 0              # multi-token-prediction modules (DeepSeek-V3's MTP)
    quantization: str = ""           # the checkpoint's stored weights (quantization_config), e.g. "fp8 8-bit"
    routing_skew: float = 0.0        # MoE routing (a workload input): expert popularity ~ rank^-s; 0 = uniform
    dtype: str = "fp16"
    source: str = ""

    @property
    def dtype_bytes(self) -> int:
        """Bytes per activation element (the residual stream's type)."""
        return self.role_bytes("activation")

    def role_dtype(self, role: str) -> str:
        """The dtype of tensors of ``role`` (weight, linear_input, activation, kv_cache)."""
        return MIXED_PRECISION[self.dtype][role] if self.dtype in MIXED_PRECISION else self.dtype

    def role_bytes(self, role: str) -> int:
        return DTYPE_BYTES[self.role_dtype(role)]

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    def is_moe_layer(self, layer: int) -> bool:
        if self.moe_layers and layer < len(self.moe_layers):
            return self.is_moe and self.moe_layers[layer]
        return self.is_moe and layer >= self.first_dense_layers

    def with_routing_skew(self, skew: float) -> "ModelConfig":
        """The model under a routing skew: its router sends tokens to experts with Zipf
        popularity (the i-th most popular expert's share ~ i^-skew); 0 keeps uniform routing."""
        if not 0.0 <= skew <= 10.0:
            raise ConfigError([f"routing_skew: expected a Zipf exponent from 0 (uniform) to 10, got {skew!r}"])
        if skew and not self.is_moe:
            raise ConfigError([f"routing_skew: {self.name} has no routed experts; drop it (0) or use an MoE model"])
        return replace(self, routing_skew=float(skew))

    def with_dtype(self, dtype: str) -> "ModelConfig":
        if dtype not in DTYPES:
            raise ConfigError([f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}"
                               f"{did_you_mean(dtype, DTYPES)}"])
        return replace(self, dtype=dtype)

    @cached_property
    def num_params(self) -> int:
        """Parameter count: the unique weight tensors of the model's OpGraph."""
        from accsim.workloads.graph import Phase, build_graph
        return build_graph(self, Phase.prefill(1, 1)).num_weight_params()


def _pick(raw: dict, field: str) -> Any:
    for key in KEY_ALIASES[field]:
        if key in raw:
            return raw[key]
    return None


def _key(raw: dict, field: str) -> str:
    """The config.json key the file uses for ``field`` (for messages), else the usual one."""
    return next((key for key in KEY_ALIASES[field] if key in raw), KEY_ALIASES[field][0])


# keys that change shapes in one model type only: elsewhere they are refused, not ignored
TYPE_ONLY_KEYS = {key: "llama4_text" for key in (
    "intermediate_size_mlp", "interleave_moe_layer_step", "moe_layers", "no_rope_layers",
    "no_rope_layer_interval", "attention_chunk_size", "use_qk_norm", "attn_temperature_tuning")} | {
    key: "falcon" for key in ("new_decoder_architecture", "multi_query", "parallel_attn",
                              "num_ln_in_parallel_attn")}


def _text_config(raw: dict, where: str) -> tuple[dict, str]:
    """A Llama 4 checkpoint's config holds the language model under text_config (its vision tower
    and projector are not modelled: an image is the prompt tokens it becomes)."""
    if raw.get("model_type") == "llama4" and isinstance(raw.get("text_config"), dict):
        text = dict(raw["text_config"])
        text.setdefault("model_type", "llama4_text")
        text.setdefault("_source", f"{raw.get('_source', where)} (text_config; vision tower not modelled)")
        return text, f"{where}: text_config"
    return raw, where


def parse_config(raw: dict, name: str, where: str) -> ModelConfig:
    """Turn a HF-style config mapping into a ModelConfig; collect every problem first."""
    raw, where = _text_config(raw, where)
    problems = ProblemList()
    known = {k for keys in KEY_ALIASES.values() for k in keys} | SHAPE_NEUTRAL_KEYS | {"quantization_config"}
    for key in raw:
        if key not in known:
            problems.add(f"{where}: {key}", f"unknown key{did_you_mean(key, known)}; accsim does "
                         "not know whether it changes the model's shapes")
    for key, expected in REQUIRED_VALUES.items():
        if key in raw and raw[key] != expected:
            problems.add(f"{where}: {key}", f"only {expected!r} is supported, got {raw[key]!r}")
    if "layer_types" in raw and (not isinstance(raw["layer_types"], list)
                                 or not set(map(str, raw["layer_types"])) <= set(LAYER_TYPES)):
        problems.add(f"{where}: layer_types", f"expected a list of {' / '.join(LAYER_TYPES)}, got "
                     f"{raw['layer_types']!r}")
    model_type = raw.get("model_type")
    for key in raw:
        if key in TYPE_ONLY_KEYS and TYPE_ONLY_KEYS[key] != model_type:
            problems.add(f"{where}: {key}", f"read only for model type {TYPE_ONLY_KEYS[key]}, not "
                         f"{model_type!r}; drop it or fix model_type")
    if not isinstance(model_type, str) or model_type not in ARCHITECTURES:
        problems.add(f"{where}: model_type", f"expected one of {', '.join(ARCHITECTURES)}, got "
                     f"{model_type!r}{did_you_mean(str(model_type), ARCHITECTURES)}")
        problems.raise_if_any()
    values: dict[str, Any] = dict(ARCHITECTURES[model_type])
    for field in ("n_layers", "d_model", "n_heads", "vocab_size"):
        values[field] = _integer(raw, field, 1, where, problems)
    problems.raise_if_any()
    d, h = values["d_model"], values["n_heads"]
    if _pick(raw, "head_dim") is None and d % h:
        problems.add(f"{where}: num_attention_heads", f"{h} does not divide hidden_size {d}; give "
                     "head_dim if the heads are not hidden_size / num_attention_heads wide")
    optional_ints = {"n_kv_heads": (h, 1), "head_dim": (d // h, 1), "d_ff": (4 * d, 1),
                     "max_positions": (0, 0), "sliding_window": (0, 0), "n_experts": (0, 0),
                     "experts_per_token": (0, 0), "n_shared_experts": (0, 0), "moe_d_ff": (0, 0),
                     "first_dense_layers": (0, 0), "q_lora_rank": (0, 0), "kv_lora_rank": (0, 0),
                     "qk_nope_head_dim": (0, 0), "qk_rope_head_dim": (0, 0), "v_head_dim": (0, 0),
                     "mtp_layers": (0, 0)}
    for field, (default, low) in optional_ints.items():
        values[field] = _integer(raw, field, low, where, problems, default)
    if raw.get("use_sliding_window") is False:     # Qwen: the window is declared but switched off
        values["sliding_window"] = 0
    for field in ("attn_softcap", "final_softcap"):
        cap = _pick(raw, field)
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, float))
                                or not math.isfinite(cap) or cap <= 0):
            problems.add(f"{where}: {_key(raw, field)}", f"expected a number > 0 or null, got {cap!r}")
        elif cap is not None:
            values[field] = float(cap)
    values["window_layers"] = _window_layers(raw, model_type, values["n_layers"], where, problems)
    act = _pick(raw, "activation")
    if act is not None:
        if act not in ACTIVATIONS:
            problems.add(f"{where}: {_key(raw, 'activation')}",
                         f"expected one of {', '.join(ACTIVATIONS)}, got {act!r}")
        values["activation"] = ACTIVATIONS.get(act, act)
    for field in ("tied_embeddings", "attention_bias", "mlp_bias", "bias", "alibi"):
        flag = _pick(raw, field)
        if flag is not None and not isinstance(flag, bool):
            problems.add(f"{where}: {_key(raw, field)}", f"expected true or false, got {flag!r}")
    if isinstance(_pick(raw, "tied_embeddings"), bool):
        values["tied_embeddings"] = _pick(raw, "tied_embeddings")
    for field in ("bias", "alibi"):
        if isinstance(_pick(raw, field), bool):
            values[field] = _pick(raw, field)
    if values.get("alibi"):                # ALiBi replaces rotary positions (Falcon's alibi flag)
        values["rotary"] = False
    if model_type == "falcon":
        _falcon_block(raw, values, where, problems)
    if model_type == "llama4_text":
        _llama4_layers(raw, values, where, problems)
    if _pick(raw, "attention_bias") is True or _pick(raw, "mlp_bias") is True:
        problems.add(f"{where}: attention_bias/mlp_bias", "biases on llama-type layers are not modelled")
    values["quantization"] = _quantization(raw.get("quantization_config"), where, problems)
    _check_consistency(values, model_type, where, problems)
    problems.raise_if_any()
    return ModelConfig(name=name, model_type=model_type, source=str(raw.get("_source", where)),
                       **values)


def _quantization(q: Any, where: str, problems: ProblemList) -> str:
    """What a quantised checkpoint stores: 8-bit formats are run in the --dtype the user picks
    (fp8, int8, w8a8, or 16-bit), recorded with the run; fewer bits (AWQ, GPTQ, bitsandbytes
    4-bit) are no number format accsim costs, so the config is refused naming them rather than
    run as fp16 in silence."""
    if q is None:
        return ""
    if not isinstance(q, dict):
        problems.add(f"{where}: quantization_config", f"expected a mapping, got {q!r}")
        return ""
    method = str(q.get("quant_method", "unknown"))
    bits = q.get("bits", q.get("w_bit"))
    if bits is None:
        bits = 4 if q.get("load_in_4bit") else 8 if (q.get("load_in_8bit") or method == "fp8") else None
    if not isinstance(bits, int) or isinstance(bits, bool):
        problems.add(f"{where}: quantization_config", f"{method}: no weight bit width (bits, w_bit, "
                     f"load_in_4bit/8bit) accsim can read; got {q!r}")
        return ""
    if bits < 8:
        group = q.get("group_size", q.get("q_group_size"))
        problems.add(f"{where}: quantization_config", f"{bits}-bit {method} weights"
                     + (f" (group size {group})" if group else "") + " are not a number format accsim "
                     "costs; use the unquantised config (and --dtype fp8, int8 or w8a8 for 8-bit weights)")
        return ""
    return f"{method} {bits}-bit"


def _falcon_block(raw: dict, values: dict, where: str, problems: ProblemList) -> None:
    """Falcon's layout flags, read as Hugging Face's FalconConfig and FalconDecoderLayer do: the
    new decoder architecture has num_kv_heads key/value heads and two norms (one for attention,
    one for the MLP); the older one is multi-query (one kv head) unless multi_query is false, with
    one norm feeding both branches; parallel_attn false makes the branches sequential."""
    flags = {key: raw.get(key, default) for key, default in
             (("new_decoder_architecture", False), ("multi_query", True), ("parallel_attn", True))}
    for key, flag in flags.items():
        if not isinstance(flag, bool):
            problems.add(f"{where}: {key}", f"expected true or false, got {flag!r}")
            return
    new = flags["new_decoder_architecture"]
    if not new and _pick(raw, "n_kv_heads") is None:
        values["n_kv_heads"] = 1 if flags["multi_query"] else values["n_heads"]
    norms = raw.get("num_ln_in_parallel_attn", 2 if new else 1)
    if norms not in (1, 2) or isinstance(norms, bool):
        problems.add(f"{where}: num_ln_in_parallel_attn", f"expected 1 or 2, got {norms!r}")
    elif new or flags["parallel_attn"]:
        values["parallel_block"] = norms


def _layer_flags(raw: dict, key: str, where: str, problems: ProblemList) -> list | None:
    """A per-layer list of 0/1 (or an index list, for moe_layers) as given, None when absent."""
    value = raw.get(key)
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        problems.add(f"{where}: {key}", f"expected a list of integers, got {value!r}")
        return None
    return value


def _llama4_layers(raw: dict, values: dict, where: str, problems: ProblemList) -> None:
    """Llama 4's layer pattern, as HF's Llama4TextConfig derives it: MoE layers from moe_layers or
    every interleave_moe_layer_step-th layer, each with one shared expert as wide as a routed one
    (intermediate_size); dense layers intermediate_size_mlp wide; rotary layers (no_rope_layers 1,
    default all but every no_rope_layer_interval-th) chunked, the others global without rotary."""
    n = values["n_layers"]
    step = raw.get("interleave_moe_layer_step", 1)
    interval = raw.get("no_rope_layer_interval", 4)
    for key, v in (("interleave_moe_layer_step", step), ("no_rope_layer_interval", interval)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            problems.add(f"{where}: {key}", f"expected an integer >= 1, got {v!r}")
            return
    moe = _layer_flags(raw, "moe_layers", where, problems)
    moe = set(moe if moe is not None else range(step - 1, n, step))
    rope = _layer_flags(raw, "no_rope_layers", where, problems) or \
        [int((i + 1) % interval != 0) for i in range(n)]
    if len(rope) < n:
        problems.add(f"{where}: no_rope_layers", f"{len(rope)} entries for {n} layers")
        return
    types = raw.get("layer_types") or ["chunked_attention" if r else "full_attention" for r in rope]
    values["moe_layers"] = tuple(i in moe for i in range(n))
    values["nope_layers"] = tuple(not rope[i] for i in range(n))
    values["chunk_layers"] = tuple(t == "chunked_attention" for t in types[:n])
    values["attention_chunk"] = _integer(raw, "attention_chunk", 1, where, problems, 8192)
    values["qk_l2norm"] = bool(raw.get("use_qk_norm", True))
    values["attn_temperature"] = bool(raw.get("attn_temperature_tuning", True))
    values["n_shared_experts"] = 1 if values["n_experts"] else 0
    values["moe_d_ff"] = values["d_ff"]
    values["d_ff"] = _integer(raw, "dense_d_ff", 1, where, problems, 16384)


# no model dimension comes near 2^40 (a trillion); larger numbers are typos or hostile input and
# would overflow the float arithmetic of FLOP and byte counts
MAX_DIMENSION = 2 ** 40


def _window_layers(raw: dict, model_type: str, n_layers: int, where: str,
                   problems: ProblemList) -> tuple[bool, ...]:
    """Which layers attend over the sliding window: as layer_types lists them, else every
    sliding_window_pattern-th layer is global (Gemma 3), else Gemma 2's even layers are local;
    empty for models whose window (if any) covers every layer."""
    types, pattern = raw.get("layer_types"), _pick(raw, "window_pattern")
    if isinstance(types, list):
        if len(types) != n_layers:
            problems.add(f"{where}: layer_types", f"{len(types)} entries for {n_layers} layers")
        return tuple(t == "sliding_attention" for t in types)
    if pattern is not None:
        if isinstance(pattern, bool) or not isinstance(pattern, int) or pattern < 1:
            problems.add(f"{where}: sliding_window_pattern", f"expected an integer >= 1, got {pattern!r}")
            return ()
        return tuple((i + 1) % pattern != 0 for i in range(n_layers))
    if model_type == "gemma2":
        return tuple(i % 2 == 0 for i in range(n_layers))
    if model_type == "gemma3_text":
        problems.add(f"{where}: layer_types", "Gemma 3 needs layer_types or sliding_window_pattern")
    return ()


def _integer(raw: dict, field: str, low: int, where: str, problems: ProblemList,
             default: int | None = None) -> Any:
    """An integer field >= ``low`` (``default`` when absent; required when no default). A float
    with an integral value (1e3) is that integer; true/false is not a number."""
    value = _pick(raw, field)
    if value is None and default is not None:
        return default
    value = integral(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_DIMENSION:
        problems.add(f"{where}: {_key(raw, field)}", f"expected an integer in {low}..{MAX_DIMENSION:,}, "
                     f"got {value!r}")
    return value


def _check_consistency(v: dict, model_type: str, where: str, problems: ProblemList) -> None:
    if problems.problems:         # the checks below assume every field is a valid integer
        return
    if v["first_dense_layers"] > v["n_layers"]:
        problems.add(f"{where}: first_k_dense_replace", f"{v['first_dense_layers']} exceeds "
                     f"num_hidden_layers {v['n_layers']}")
    for field in ("experts_per_token", "n_shared_experts", "moe_d_ff"):
        if v[field] and not v["n_experts"]:
            problems.add(f"{where}: {KEY_ALIASES[field][0]}", f"set without experts "
                         f"({' / '.join(KEY_ALIASES['n_experts'])}); give the expert count or drop it")
    if v["n_heads"] % max(v["n_kv_heads"], 1) != 0:
        problems.add(f"{where}: num_key_value_heads", f"{v['n_kv_heads']} does not divide "
                     f"num_attention_heads {v['n_heads']}")
    if v["learned_positions"] and v["max_positions"] <= 0:
        problems.add(f"{where}: max_position_embeddings", "required (> 0) for learned positions")
    if v["n_experts"] and not 0 < v["experts_per_token"] <= v["n_experts"]:
        problems.add(f"{where}: num_experts_per_tok", f"expected 1..{v['n_experts']}, "
                     f"got {v['experts_per_token']}")
    if v["n_experts"] and model_type == "deepseek_v3" and v["moe_d_ff"] <= 0:
        problems.add(f"{where}: moe_intermediate_size", "required (> 0) for DeepSeek MoE")
    if v["kv_lora_rank"] and not (v["qk_nope_head_dim"] and v["qk_rope_head_dim"] and v["v_head_dim"]):
        problems.add(f"{where}: kv_lora_rank", "MLA needs qk_nope_head_dim, qk_rope_head_dim "
                     "and v_head_dim > 0")


def model_names() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


class _JsonProblem(ValueError):
    """A JSON document that parses but is not a valid config (duplicate key, NaN)."""


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    data: dict = {}
    for key, value in pairs:        # one pass: a hostile object may hold millions of keys
        if key in data:
            raise _JsonProblem(f"duplicate key {key!r}; keep one")
        data[key] = value
    return data


def _no_constant(name: str) -> Any:
    raise _JsonProblem(f"{name} is not a number a config can hold")


def load_model(name_or_path: str | Path) -> ModelConfig:
    """Load a shipped model by name (see ``model_names()``), any HF-style config.json path, or a
    model folder (a Hugging Face snapshot) holding a config.json."""
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError([f"{path}: a model folder must hold a config.json (a Hugging Face "
                               "snapshot); none found"])
        path = path / "config.json"
    if path.suffix == ".json" or path.exists():
        name = path.stem if path.name != "config.json" else path.parent.name or "custom"
    else:
        name = str(name_or_path)
        path = CONFIG_DIR / f"{name}.json"
        if not path.exists():
            names = model_names()
            raise UnknownNameError(f"unknown model '{name}'{did_you_mean(name, names)}. "
                                   f"Known: {', '.join(names)} (or pass a path to a config.json)")
    if not path.exists():
        raise ConfigError([f"{path}: no such file"])
    text = read_config_text(path, "model config")
    try:
        raw = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except _JsonProblem as exc:
        raise ConfigError([f"{path}: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: nested too deeply to be a model config"]) from None
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{path}:{exc.lineno}: invalid JSON: {exc.msg}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: expected a JSON object of config keys"])
    return parse_config(raw, name, str(path))
