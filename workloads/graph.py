"""OpGraph: a transformer phase as a networkx DiGraph of tensor ops.

A node is an op (name -> ``Op``); an edge is a data dependency, derived from tensor names (an
op that reads a tensor depends on the op that wrote it). Nodes are inserted in program order,
which is a topological order. Nothing here knows about hardware: ops carry shapes, dtype
bytes, FLOPs and bytes moved, never a latency.

FLOP conventions (per element unless stated): matmul 2*m*n*k (bias adds not counted);
layernorm 8 (mean, variance, normalise, scale, shift); rmsnorm 4; softmax 5 (max, subtract,
exp, sum, divide); GELU 8 (tanh form: the 8 arithmetic ops of the formula); SiLU 4; ReLU 1;
add/mul 1; rotary embedding 3 on q and k; embedding lookups 0.
"""
from __future__ import annotations

import math

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

import networkx as nx

from accsim.core.errors import ConfigError
from accsim.core.limits import require_memory

if TYPE_CHECKING:                 # the model's parameter count builds a graph: no import back
    from accsim.workloads.model import ModelConfig

OP_KINDS = ("embedding", "layernorm", "rmsnorm", "matmul", "attn_score", "softmax",
            "attn_context", "kv_append", "rope", "activation", "elementwise", "moe_router",
            "expert_matmul", "sampling", "all_reduce", "all_gather", "all_to_all")
# ops that multiply matrices (a mapper's GEMM / GEMV path)
GEMM_KINDS = ("matmul", "expert_matmul", "moe_router", "attn_score", "attn_context")
# functions of the ``elementwise`` and ``activation`` ops; an op's table key is ``kind_fn``
ELEMENTWISE_FNS = ("add", "mul", "rope", "concat", "softcap")
ACTIVATION_FNS = ("gelu_tanh", "gelu", "silu", "relu")
OP_KEYS = tuple(k for k in OP_KINDS if k not in ("elementwise", "activation", "rope")) + tuple(
    f"elementwise_{fn}" for fn in ELEMENTWISE_FNS) + tuple(f"activation_{fn}" for fn in ACTIVATION_FNS)
ELEMENT_FLOPS = {"layernorm": 8, "rmsnorm": 4, "softmax": 5, "gelu_tanh": 8, "gelu": 8,
                 "silu": 4, "relu": 1, "add": 1, "mul": 1, "rope": 3,
                 "softcap": 3}          # cap * tanh(x / cap): a divide, a tanh, a multiply
ROLES = ("weight", "activation", "kv_cache")


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    role: str
    dtype_bytes: int

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    @property
    def bytes(self) -> int:
        return self.elements * self.dtype_bytes


@dataclass(frozen=True)
class Op:
    """One tensor op. ``bytes_read`` counts what the op touches (e.g. only the active experts)."""

    name: str
    kind: str
    layer: int
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    flops: int
    bytes_read: int
    bytes_written: int
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def weights(self) -> tuple[Tensor, ...]:
        return tuple(t for t in self.inputs if t.role == "weight")

    @property
    def key(self) -> str:
        """What a per-op cost table is keyed by: the kind, or ``kind_fn`` for element-wise ops
        and activations (one of ``OP_KEYS``)."""
        fn = self.attrs.get("fn")
        return f"{self.kind}_{fn}" if fn else self.kind


def op_table_entry(table: Mapping[str, Any], op: Op, where: str, fix: str) -> Any:
    """``table[op.key]``, or a ConfigError naming the table and the fix: a cost table never
    falls back to another entry (a missing key once charged RoPE as one add)."""
    if op.key not in table:
        raise ConfigError([f"{where}: no entry for '{op.key}' (needed by op {op.name}); {fix}"])
    return table[op.key]


@dataclass(frozen=True)
class Phase:
    """What one forward pass computes: ``new_tokens`` per sequence on top of ``context_len`` cached."""

    kind: str
    batch: int
    new_tokens: int
    context_len: int
    draft_modules: int = 0   # multi-token-prediction modules run after the main model (drafting)

    @classmethod
    def prefill(cls, batch: int, prompt_len: int) -> "Phase":
        return cls("prefill", batch, prompt_len, 0)

    @classmethod
    def decode(cls, batch: int, context_len: int, new_tokens: int = 1,
               draft_modules: int = 0) -> "Phase":
        """One decode step reading ``context_len`` cached tokens and appending ``new_tokens``
        (1, or 1 + draft tokens verified in the same pass with multi-token prediction, whose
        ``draft_modules`` MTP modules then draft the next step's tokens)."""
        return cls("decode", batch, new_tokens, context_len, draft_modules)

    @property
    def kv_len(self) -> int:
        return self.context_len + self.new_tokens

    @property
    def tokens(self) -> int:
        return self.batch * self.new_tokens

    def check(self) -> None:
        bad = [f"{k}: expected an integer > 0, got {v!r}" for k, v in
               (("batch", self.batch), ("new_tokens", self.new_tokens)) if v <= 0]
        if self.context_len < 0:
            bad.append(f"context_len: expected an integer >= 0, got {self.context_len}")
        if self.kind not in ("prefill", "decode"):
            bad.append(f"phase: expected prefill or decode, got {self.kind!r}")
        if self.draft_modules < 0:
            bad.append(f"draft_modules: expected an integer >= 0, got {self.draft_modules}")
        if bad:
            raise ConfigError(bad)


@dataclass(frozen=True)
class Parallelism:
    """How a model is split over devices; the graph then describes one device's share.

    ``dp`` data-parallel groups each take ``batch / dp`` sequences (the runner splits the batch;
    the graph is built for one group's share). Under expert parallelism the attention runs data
    parallel on every EP rank. With ``ep`` >= the routed experts each rank holds one expert
    instance and the ``ep - experts`` extra ranks hold replicas, spreading the load as
    redundant-expert placement does. ``expert_imbalance`` is the busiest rank's routed tokens
    over the mean (1.0 = perfectly balanced); the graph describes that busiest rank, which sets
    the pace of every step because dispatch and combine are synchronising all-to-alls.
    """

    tp: int = 1   # tensor parallel: heads, FFN columns and vocab split tp ways
    ep: int = 1   # expert parallel: routed experts split ep ways (attention data-parallel)
    dp: int = 1   # data parallel: the batch split dp ways
    expert_imbalance: float = 1.0

    def check(self, model: ModelConfig) -> None:
        bad = []
        if self.tp < 1 or self.ep < 1 or self.dp < 1:
            bad.append(f"parallelism: tp, ep and dp must be >= 1, got tp={self.tp} ep={self.ep} dp={self.dp}")
        elif model.n_heads % self.tp:
            bad.append(f"parallelism.tp: {self.tp} does not divide {model.n_heads} heads")
        if self.ep > 1 and not model.is_moe:
            bad.append(f"parallelism.ep: {model.name} has no routed experts; use ep=1")
        elif self.ep > 1 and self.ep < model.n_experts and model.n_experts % self.ep:
            bad.append(f"parallelism.ep: {self.ep} must divide the routed experts "
                       f"({model.n_experts}) or be at least as many (one expert per rank)")
        if not self.expert_imbalance >= 1.0:
            bad.append(f"parallelism.expert_imbalance: expected a ratio >= 1.0 (busiest rank / "
                       f"mean), got {self.expert_imbalance!r}")
        elif self.expert_imbalance != 1.0 and self.ep == 1:
            bad.append(f"parallelism.expert_imbalance: {self.expert_imbalance} needs expert "
                       f"parallelism (a MoE model over several ranks, ep > 1); with ep=1 every "
                       f"expert is local and there is no busiest rank")
        if bad:
            raise ConfigError(bad)


class OpGraph:
    """A built graph plus what it was built from; ops iterate in program (topological) order."""

    def __init__(self, graph: nx.DiGraph, model: ModelConfig, phase: Phase, parallel: Parallelism):
        self.graph = graph
        self.model = model
        self.phase = phase
        self.parallel = parallel

    def ops(self) -> list[Op]:
        return [self.graph.nodes[n]["op"] for n in self.graph.nodes]

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __contains__(self, name: object) -> bool:
        return name in self.graph

    def op(self, name: str) -> Op:
        return self.graph.nodes[name]["op"]

    def predecessors(self, name: str) -> list[str]:
        return list(self.graph.predecessors(name))

    def total_flops(self) -> int:
        return sum(op.flops for op in self.ops())

    def total_bytes(self) -> int:
        return sum(op.bytes_read + op.bytes_written for op in self.ops())

    def num_weight_params(self) -> int:
        """Elements of the unique weight tensors (a tied embedding counts once)."""
        unique = {t.name: t.elements for op in self.ops() for t in op.weights}
        return sum(unique.values())

    def weight_bytes(self) -> int:
        unique = {t.name: t.bytes for op in self.ops() for t in op.weights}
        return sum(unique.values())

    def describe(self) -> str:
        return (f"{self.model.name} {self.phase.kind} batch={self.phase.batch} "
                f"new_tokens={self.phase.new_tokens} context={self.phase.context_len} "
                f"tp={self.parallel.tp} ep={self.parallel.ep} dp={self.parallel.dp}")


class _Builder:
    """Appends ops and wires edges from the tensors they read and write."""

    def __init__(self, model: ModelConfig) -> None:
        self.g = nx.DiGraph()
        self.dt = model.role_bytes("activation")
        self.weight_dt = model.role_bytes("weight")
        self.kv_dt = model.role_bytes("kv_cache")
        self._producer: dict[str, str] = {}

    def weight(self, name: str, *shape: int) -> Tensor:
        return Tensor(name, tuple(shape), "weight", self.weight_dt)

    def act(self, name: str, *shape: int) -> Tensor:
        return Tensor(name, tuple(shape), "activation", self.dt)

    def cache(self, name: str, *shape: int) -> Tensor:
        return Tensor(name, tuple(shape), "kv_cache", self.kv_dt)

    def add(self, name: str, kind: str, layer: int, inputs: list[Tensor], outputs: list[Tensor],
            flops: int, bytes_read: int | None = None, bytes_written: int | None = None,
            **attrs: Any) -> Op:
        """Append an op; bytes default to whole input/output tensors."""
        op = Op(name, kind, layer, tuple(inputs), tuple(outputs), int(flops),
                int(sum(t.bytes for t in inputs) if bytes_read is None else bytes_read),
                int(sum(t.bytes for t in outputs) if bytes_written is None else bytes_written),
                MappingProxyType(attrs))
        self.g.add_node(name, op=op)
        for t in inputs:
            producer = self._producer.get(t.name)
            if producer is not None and producer != name:
                self.g.add_edge(producer, name)
        for t in outputs:
            self._producer[t.name] = name
        return op


def expected_share_touched(experts: int, top_k: int, tokens: int, skew: float) -> float:
    """Expected share of ``experts`` that ``tokens`` tokens, each routed to ``top_k`` distinct
    ones, touch at least once. Uniform routing (skew 0): each expert is one token's pick with
    probability k/E. With a skew s the i-th most popular expert is picked with probability
    q_i = min(1, c * i^-s), c chosen so that the q_i sum to k (a token still picks k experts):
    popular experts absorb the tokens and fewer are touched."""
    if skew == 0.0:
        return 1.0 - (1.0 - top_k / experts) ** tokens
    weights = [(i + 1) ** -skew for i in range(experts)]      # most popular first
    capped = 0                     # the most popular experts picked by every token
    while True:
        scale = (top_k - capped) / sum(weights[capped:])
        if capped == top_k or weights[capped] * scale <= 1.0:
            break
        capped += 1
    picked = [1.0] * capped + [w * scale for w in weights[capped:]]
    return sum(1.0 - (1.0 - q) ** tokens for q in picked) / experts


class _TransformerGraph:
    """Emits the ops of one phase of one model on one device."""

    def __init__(self, model: ModelConfig, phase: Phase, parallel: Parallelism) -> None:
        self.m, self.p, self.par = model, phase, parallel
        self.b = _Builder(model)
        self.T = phase.tokens
        self.heads = model.n_heads // parallel.tp
        self.kv_heads = max(1, model.n_kv_heads // parallel.tp)

    def kv_len_of(self, layer: int) -> int:
        """Keys layer ``layer`` attends to (and caches): the context, or the sliding window on
        a layer that uses one (every layer, unless the model lists its windowed layers), or on a
        chunked layer the tokens of the current chunk (in decode, up to the newest token's
        position in its chunk; in prefill, a chunk's worth)."""
        m = self.m
        if layer < len(m.chunk_layers) and m.chunk_layers[layer]:
            if self.p.kind == "decode":
                return (self.p.kv_len - 1) % m.attention_chunk + 1
            return min(self.p.kv_len, m.attention_chunk)
        windowed = m.sliding_window and (not m.window_layers or layer >= len(m.window_layers)
                                         or m.window_layers[layer])
        return min(self.p.kv_len, m.sliding_window) if windowed else self.p.kv_len

    def rotary_at(self, layer: int) -> bool:
        """Rotary positions on this layer (Llama 4's global layers have none)."""
        nope = layer < len(self.m.nope_layers) and self.m.nope_layers[layer]
        return self.m.rotary and not nope

    # --- building blocks -------------------------------------------------------------------
    def matmul(self, name: str, layer: int, x: Tensor, w_name: str, k: int, n: int,
               bias: bool, out: str | None = None) -> Tensor:
        w = [self.b.weight(w_name, k, n)] + ([self.b.weight(w_name + ".bias", n)] if bias else [])
        y = self.b.act(out or name, self.T, n)
        self.b.add(name, "matmul", layer, [x, *w], [y], 2 * self.T * k * n, m=self.T, n=n, k=k,
                   batch=1)
        return y

    def norm(self, name: str, layer: int, x: Tensor, width: int, rows: int | None = None,
             weighted: bool = True) -> Tensor:
        """A norm over ``width`` elements of each of ``rows`` rows (default: one per token; a
        per-head norm has a row per token and head); ``weighted=False``: no learned scale."""
        kind, rows = self.m.norm, rows or self.T
        params = [self.b.weight(name + ".weight", width)] if weighted else []
        if kind == "layernorm" and weighted:
            params.append(self.b.weight(name + ".bias", width))
        y = self.b.act(name, rows, width)
        self.b.add(name, kind, layer, [x, *params], [y], ELEMENT_FLOPS[kind] * rows * width)
        return y

    def eltwise(self, name: str, layer: int, fn: str, inputs: list[Tensor], rows: int, width: int) -> Tensor:
        y = self.b.act(name, rows, width)
        kind = "activation" if fn in ACTIVATION_FNS else "elementwise"
        self.b.add(name, kind, layer, inputs, [y], ELEMENT_FLOPS[fn] * rows * width, fn=fn)
        return y

    def collective(self, name: str, kind: str, layer: int, x: Tensor, group: int) -> Tensor:
        y = self.b.act(name, *x.shape)
        self.b.add(name, kind, layer, [x], [y], x.elements if kind == "all_reduce" else 0,
                   group=group, payload_bytes=x.bytes, pattern="generic")
        return y

    # --- model --------------------------------------------------------------------------------
    def build(self) -> nx.DiGraph:
        x = self.embedding()
        for layer in range(self.m.n_layers):
            x = self.layer(layer, x)
        self.head(x)
        for module in range(self.p.draft_modules):
            x = self.draft_module(module, x)
        return self.b.g

    def draft_module(self, j: int, h: Tensor) -> Tensor:
        """DeepSeek-V3's multi-token-prediction module j: the previous depth's hidden states and
        the embeddings of the tokens just predicted, each RMS-normed, concatenated and projected
        (2d -> d), one more decoder layer of its own, then the shared output head."""
        m, b, T = self.m, self.b, self.T
        layer = m.n_layers + j
        tok = b.act(f"mtp{j}.embed", T, m.d_model)
        ids = Tensor(f"mtp{j}.input_ids", (T,), "activation", 4)
        b.add(f"mtp{j}.embed", "embedding", layer, [ids, b.weight("embed.tok.weight", m.vocab_size,
                                                                     m.d_model)], [tok], 0,
              bytes_read=ids.bytes + T * m.d_model * b.dt, rows=T)
        e = self.norm(f"mtp{j}.enorm", layer, tok, m.d_model)
        hn = self.norm(f"mtp{j}.hnorm", layer, h, m.d_model)
        both = b.act(f"mtp{j}.concat", T, 2 * m.d_model)
        b.add(f"mtp{j}.concat", "elementwise", layer, [e, hn], [both], 0, fn="concat")
        x = self.matmul(f"mtp{j}.eh_proj", layer, both, f"mtp{j}.eh_proj.weight", 2 * m.d_model,
                        m.d_model, False)
        x = self.layer(layer, x)
        self.head(x, prefix=f"mtp{j}.")
        return x

    def embedding(self) -> Tensor:
        m, b, T = self.m, self.b, self.T
        tok = b.act("embed.tok", T, m.d_model)
        wte = b.weight("embed.tok.weight", m.vocab_size, m.d_model)
        ids = Tensor("input_ids", (T,), "activation", 4)
        b.add("embed.tok", "embedding", -1, [ids, wte], [tok], 0,
              bytes_read=ids.bytes + T * m.d_model * self.b.dt, rows=T)
        if m.embed_scale:                 # Gemma: embeddings times sqrt(hidden_size)
            tok = self.eltwise("embed.scale", -1, "mul", [tok], T, m.d_model)
        if m.embed_norm:                  # BLOOM: a LayerNorm over the embeddings
            tok = self.norm("embed.norm", -1, tok, m.d_model)
        if not m.learned_positions:
            return tok
        wpe = b.weight("embed.pos.weight", m.max_positions + m.position_offset, m.d_model)
        pos = b.act("embed.pos", T, m.d_model)
        b.add("embed.pos", "embedding", -1, [ids, wpe], [pos], 0,
              bytes_read=ids.bytes + T * m.d_model * self.b.dt, rows=T)
        return self.eltwise("embed.add", -1, "add", [tok, pos], T, m.d_model)

    def layer(self, i: int, x: Tensor) -> Tensor:
        if self.m.parallel_block:
            return self.parallel_layer(i, x)
        d = self.m.d_model
        h = self.norm(f"L{i}.ln1", i, x, d)
        a = self.mla(i, h) if self.m.is_mla else self.attention(i, h)
        if self.m.post_norms:             # Gemma: a norm on each sublayer's output too
            a = self.norm(f"L{i}.post_attn_norm", i, a, d)
        x = self.eltwise(f"L{i}.res1", i, "add", [x, a], self.T, d)
        h = self.norm(f"L{i}.ln2", i, x, d)
        f = self.moe(i, h) if self.m.is_moe_layer(i) else self.ffn(f"L{i}.ffn", i, h, self.m.d_ff)
        if self.m.post_norms:
            f = self.norm(f"L{i}.post_ffn_norm", i, f, d)
        return self.eltwise(f"L{i}.res2", i, "add", [x, f], self.T, d)

    def parallel_layer(self, i: int, x: Tensor) -> Tensor:
        """Falcon: attention and MLP read the same residual (through one shared norm or one
        each); their outputs are summed, so tensor parallelism needs one all-reduce per layer."""
        d = self.m.d_model
        h = self.norm(f"L{i}.ln1", i, x, d)
        h_mlp = self.norm(f"L{i}.ln2", i, x, d) if self.m.parallel_block == 2 else h
        a = self.attention(i, h, reduce=False)
        f = self.ffn(f"L{i}.ffn", i, h_mlp, self.m.d_ff, reduce=False)
        both = self.eltwise(f"L{i}.branch_sum", i, "add", [a, f], self.T, d)
        both = self.all_reduce_if_tp(f"L{i}.allreduce", i, both)
        return self.eltwise(f"L{i}.res1", i, "add", [x, both], self.T, d)

    def attention(self, i: int, h: Tensor, reduce: bool = True) -> Tensor:
        m, b, T, B = self.m, self.b, self.T, self.p.batch
        hd, H, Hkv = m.head_dim, self.heads, self.kv_heads
        qkv_bias = m.bias or m.qkv_bias
        if m.fused_qkv:
            qkv = self.matmul(f"L{i}.attn.qkv", i, h, f"L{i}.attn.qkv.weight", m.d_model,
                              (H + 2 * Hkv) * hd, qkv_bias)
            q = k = v = qkv
        else:
            q = self.matmul(f"L{i}.attn.q", i, h, f"L{i}.attn.q.weight", m.d_model, H * hd, qkv_bias)
            k = self.matmul(f"L{i}.attn.k", i, h, f"L{i}.attn.k.weight", m.d_model, Hkv * hd, qkv_bias)
            v = self.matmul(f"L{i}.attn.v", i, h, f"L{i}.attn.v.weight", m.d_model, Hkv * hd, qkv_bias)
        if m.qk_norm:
            q = self.norm(f"L{i}.attn.q_norm", i, q, hd, rows=T * H)
            k = self.norm(f"L{i}.attn.k_norm", i, k, hd, rows=T * Hkv)
        if self.rotary_at(i):
            q = self.eltwise(f"L{i}.attn.rope", i, "rope", [q, k], T, (H + Hkv) * hd)
            k = q
            if m.qk_l2norm:               # Llama 4: weightless L2 norms after rotary
                q = self.norm(f"L{i}.attn.q_l2norm", i, q, hd, rows=T * H, weighted=False)
                k = self.norm(f"L{i}.attn.k_l2norm", i, k, hd, rows=T * Hkv, weighted=False)
        elif m.attn_temperature:          # Llama 4's global layers: queries scaled by position
            q = self.eltwise(f"L{i}.attn.temperature", i, "mul", [q], T, H * hd)
        k_cache = b.cache(f"L{i}.k_cache", B, Hkv, self.kv_len_of(i), hd)
        v_cache = b.cache(f"L{i}.v_cache", B, Hkv, self.kv_len_of(i), hd)
        self.kv_append(i, [k, v], [k_cache, v_cache], 2 * Hkv * hd)
        probs = self.scores(i, q, k_cache, H, hd, Hkv)
        ctx = b.act(f"L{i}.attn.context", T, H * hd)
        b.add(f"L{i}.attn.context", "attn_context", i, [probs, v_cache], [ctx],
              2 * B * H * self.p.new_tokens * self.kv_len_of(i) * hd,
              batch=B * H, m=self.p.new_tokens, n=hd, k=self.kv_len_of(i), kv_heads=Hkv)
        o = self.matmul(f"L{i}.attn.o", i, ctx, f"L{i}.attn.o.weight", H * hd, m.d_model, m.bias)
        return self.all_reduce_if_tp(f"L{i}.attn.allreduce", i, o) if reduce else o

    def kv_append(self, i: int, new: list[Tensor], caches: list[Tensor], width: int) -> None:
        """Write the new tokens' keys/values; the outputs name the whole caches (so readers
        depend on this op) but only the new rows are moved."""
        written = self.T * width * self.b.kv_dt
        self.b.add(f"L{i}.attn.kv_append", "kv_append", i, new, caches, 0, bytes_read=written,
                   bytes_written=written, rows=self.T, width=width)

    def scores(self, i: int, q: Tensor, k_cache: Tensor, H: int, qk_dim: int, kv_heads: int) -> Tensor:
        b, B, new = self.b, self.p.batch, self.p.new_tokens
        s = b.act(f"L{i}.attn.score", B, H, new, self.kv_len_of(i))
        q_bytes = self.T * H * qk_dim * b.dt
        # ALiBi (BLOOM): each head's distance bias is added to its scores inside the score GEMM
        # (baddbmm), one more FLOP per score
        flops_per_score = 2 * qk_dim + (1 if self.m.alibi else 0)
        b.add(f"L{i}.attn.score", "attn_score", i, [q, k_cache], [s],
              B * H * new * self.kv_len_of(i) * flops_per_score, bytes_read=q_bytes + k_cache.bytes,
              batch=B * H, m=new, n=self.kv_len_of(i), k=qk_dim, kv_heads=kv_heads)
        if self.m.attn_softcap:           # Gemma 2: scores capped by cap * tanh(s / cap)
            s = self.eltwise(f"L{i}.attn.softcap", i, "softcap", [s], B * H * new, self.kv_len_of(i))
        p = b.act(f"L{i}.attn.softmax", B, H, new, self.kv_len_of(i))
        b.add(f"L{i}.attn.softmax", "softmax", i, [s], [p], ELEMENT_FLOPS["softmax"] * s.elements)
        return p

    def mla(self, i: int, h: Tensor) -> Tensor:
        """DeepSeek multi-head latent attention; the cache holds the compressed latent.

        Decode uses the absorbed form (W_UK folded into the query, W_UV applied after the
        context), so per step only the latent cache is read; prefill up-projects K and V with
        kv_b as the reference implementation does. Both read the same kv_b parameters.
        """
        m, b, T, B, H = self.m, self.b, self.T, self.p.batch, self.heads
        nope, rope, lat, vd = m.qk_nope_head_dim, m.qk_rope_head_dim, m.kv_lora_rank, m.v_head_dim
        if m.q_lora_rank:
            qa = self.matmul(f"L{i}.attn.q_a", i, h, f"L{i}.attn.q_a.weight", m.d_model, m.q_lora_rank, False)
            qa = self.norm(f"L{i}.attn.q_a_norm", i, qa, m.q_lora_rank)
            q = self.matmul(f"L{i}.attn.q_b", i, qa, f"L{i}.attn.q_b.weight", m.q_lora_rank,
                            H * (nope + rope), False)
        else:
            q = self.matmul(f"L{i}.attn.q", i, h, f"L{i}.attn.q.weight", m.d_model, H * (nope + rope), False)
        kva = self.matmul(f"L{i}.attn.kv_a", i, h, f"L{i}.attn.kv_a.weight", m.d_model, lat + rope, False)
        kvn = self.norm(f"L{i}.attn.kv_a_norm", i, kva, lat)
        q = self.eltwise(f"L{i}.attn.rope", i, "rope", [q, kvn], T, (H + 1) * rope)
        latent_cache = b.cache(f"L{i}.latent_cache", B, self.kv_len_of(i), lat + rope)
        self.kv_append(i, [kvn, q], [latent_cache], lat + rope)
        if self.p.kind == "decode":
            ctx = self._mla_absorbed(i, q, latent_cache)
        else:
            ctx = self._mla_expanded(i, q, latent_cache)
        o = self.matmul(f"L{i}.attn.o", i, ctx, f"L{i}.attn.o.weight", H * vd, m.d_model, False)
        return self.all_reduce_if_tp(f"L{i}.attn.allreduce", i, o)

    def _mla_absorbed(self, i: int, q: Tensor, cache: Tensor) -> Tensor:
        m, b, T, B, H = self.m, self.b, self.T, self.p.batch, self.heads
        nope, rope, lat, vd = m.qk_nope_head_dim, m.qk_rope_head_dim, m.kv_lora_rank, m.v_head_dim
        w_uk = b.weight(f"L{i}.attn.kv_b.weight[uk]", H, nope, lat)
        q_lat = b.act(f"L{i}.attn.q_absorb", T, H * lat)
        b.add(f"L{i}.attn.q_absorb", "matmul", i, [q, w_uk], [q_lat], 2 * T * H * nope * lat,
              m=T, n=lat, k=nope, batch=H)
        probs = self.scores(i, q_lat, cache, H, lat + rope, 1)
        ctx_lat = b.act(f"L{i}.attn.context", T, H * lat)
        b.add(f"L{i}.attn.context", "attn_context", i, [probs, cache], [ctx_lat],
              2 * B * H * self.p.new_tokens * self.kv_len_of(i) * lat,
              batch=B * H, m=self.p.new_tokens, n=lat, k=self.kv_len_of(i), kv_heads=1)
        w_uv = b.weight(f"L{i}.attn.kv_b.weight[uv]", H, lat, vd)
        ctx = b.act(f"L{i}.attn.v_absorb", T, H * vd)
        b.add(f"L{i}.attn.v_absorb", "matmul", i, [ctx_lat, w_uv], [ctx], 2 * T * H * lat * vd,
              m=T, n=vd, k=lat, batch=H)
        return ctx

    def _mla_expanded(self, i: int, q: Tensor, cache: Tensor) -> Tensor:
        m, b, B, H = self.m, self.b, self.p.batch, self.heads
        nope, rope, lat, vd = m.qk_nope_head_dim, m.qk_rope_head_dim, m.kv_lora_rank, m.v_head_dim
        rows = B * self.kv_len_of(i)
        w_uk = b.weight(f"L{i}.attn.kv_b.weight[uk]", H, nope, lat)
        w_uv = b.weight(f"L{i}.attn.kv_b.weight[uv]", H, lat, vd)
        kv = b.cache(f"L{i}.attn.kv_b", B, H, self.kv_len_of(i), nope + vd)
        b.add(f"L{i}.attn.kv_b", "matmul", i, [cache, w_uk, w_uv], [kv],
              2 * rows * lat * H * (nope + vd), m=rows, n=H * (nope + vd), k=lat, batch=1)
        probs = self.scores(i, q, kv, H, nope + rope, H)
        ctx = b.act(f"L{i}.attn.context", self.T, H * vd)
        b.add(f"L{i}.attn.context", "attn_context", i, [probs, kv], [ctx],
              2 * B * H * self.p.new_tokens * self.kv_len_of(i) * vd,
              batch=B * H, m=self.p.new_tokens, n=vd, k=self.kv_len_of(i), kv_heads=H)
        return ctx

    def all_reduce_if_tp(self, name: str, i: int, x: Tensor) -> Tensor:
        return self.collective(name, "all_reduce", i, x, self.par.tp) if self.par.tp > 1 else x

    def ffn(self, prefix: str, i: int, h: Tensor, d_ff: int, reduce: bool = True) -> Tensor:
        m, T = self.m, self.T
        ff = d_ff // self.par.tp
        if m.gated_ffn and m.fused_gate_up:
            gu = self.matmul(f"{prefix}.gate_up", i, h, f"{prefix}.gate_up.weight", m.d_model, 2 * ff, m.bias)
            a = self.eltwise(f"{prefix}.act", i, m.activation, [gu], T, ff)
            a = self.eltwise(f"{prefix}.mul", i, "mul", [a, gu], T, ff)
        elif m.gated_ffn:
            g = self.matmul(f"{prefix}.gate", i, h, f"{prefix}.gate.weight", m.d_model, ff, m.bias)
            u = self.matmul(f"{prefix}.up", i, h, f"{prefix}.up.weight", m.d_model, ff, m.bias)
            a = self.eltwise(f"{prefix}.act", i, m.activation, [g], T, ff)
            a = self.eltwise(f"{prefix}.mul", i, "mul", [a, u], T, ff)
        else:
            u = self.matmul(f"{prefix}.up", i, h, f"{prefix}.up.weight", m.d_model, ff, m.bias)
            a = self.eltwise(f"{prefix}.act", i, m.activation, [u], T, ff)
        y = self.matmul(f"{prefix}.down", i, a, f"{prefix}.down.weight", ff, m.d_model, m.bias)
        return self.all_reduce_if_tp(f"{prefix}.allreduce", i, y) if reduce else y

    def moe(self, i: int, h: Tensor) -> Tensor:
        """Router, routed experts (only the active ones are read) and shared experts."""
        m, b, T = self.m, self.b, self.T
        E, k, ep = m.n_experts, m.experts_per_token, self.par.ep
        router_w = [b.weight(f"L{i}.moe.router.weight", m.d_model, E)]
        if m.model_type == "deepseek_v3":
            router_w.append(b.weight(f"L{i}.moe.router.bias", E))
        logits = b.act(f"L{i}.moe.router", T, k)
        b.add(f"L{i}.moe.router", "moe_router", i, [h, *router_w], [logits],
              2 * T * m.d_model * E + ELEMENT_FLOPS["softmax"] * T * E, m=T, n=E, k=m.d_model, top_k=k)
        local_experts = max(1, E // ep)
        # tokens are spread uniformly over expert instances (expected value) times the busiest
        # rank's imbalance; attention is data parallel under EP, so this rank receives its own
        # T tokens' worth of assignments on average.
        routed_tokens = math.ceil(T * k * self.par.expert_imbalance)
        global_tokens = T * ep
        if m.dense_experts:               # every token through every local expert, all read
            active, routed_tokens = float(local_experts), T * local_experts
        elif ep >= E:
            active = float(local_experts)   # one expert instance, hit by T*k*ep/E >> 1 tokens
        else:
            active = local_experts * expected_share_touched(E, k, global_tokens, m.routing_skew)
        x = h
        if ep > 1:
            x = self._all_to_all(f"L{i}.moe.dispatch", i, h, routed_tokens, ep,
                                 self.m.role_bytes("linear_input"), "moe_dispatch")
        d_ff = (m.moe_d_ff or m.d_ff) // (self.par.tp if ep == 1 else 1)
        y = self._experts(i, x, local_experts, active, routed_tokens, d_ff)
        if ep > 1:
            y = self._all_to_all(f"L{i}.moe.combine", i, y, routed_tokens, ep, self.b.dt, "moe_combine")
        out = self.eltwise(f"L{i}.moe.combine_sum", i, "add", [y, logits], T * k, m.d_model)
        if m.n_shared_experts:
            shared = self.ffn(f"L{i}.moe.shared", i, h, m.n_shared_experts * m.moe_d_ff, reduce=False)
            out = self.eltwise(f"L{i}.moe.shared_add", i, "add", [out, shared], T, m.d_model)
        return self.all_reduce_if_tp(f"L{i}.moe.allreduce", i, out)

    def _all_to_all(self, name: str, i: int, x: Tensor, routed_tokens: int, ep: int,
                    element_bytes: int, pattern: str) -> Tensor:
        """Tokens sent to (dispatch) or back from (combine) the expert ranks; dispatch sends
        what the experts' GEMMs consume (quantised under w8a8)."""
        payload = routed_tokens * self.m.d_model * element_bytes * (ep - 1) // ep
        y = self.b.act(name, routed_tokens, self.m.d_model)
        self.b.add(name, "all_to_all", i, [x], [y], 0, group=ep, payload_bytes=payload,
                   pattern=pattern)
        return y

    def _experts(self, i: int, x: Tensor, n_local: int, active: float, routed: int, d_ff: int) -> Tensor:
        m, b, d = self.m, self.b, self.m.d_model
        frac = active / n_local

        def expert_mm(name: str, src: Tensor, k_dim: int, n_dim: int) -> Tensor:
            w = b.weight(f"{name}.weight", n_local, k_dim, n_dim)
            y = b.act(name, routed, n_dim)
            read = round(frac * w.bytes) + routed * k_dim * b.dt
            b.add(name, "expert_matmul", i, [src, w], [y], 2 * routed * k_dim * n_dim,
                  bytes_read=read, m=routed, n=n_dim, k=k_dim, experts=n_local,
                  experts_active=active)
            return y

        prefix = f"L{i}.moe.experts"
        if m.gated_ffn:
            g = expert_mm(f"{prefix}.gate", x, d, d_ff)
            u = expert_mm(f"{prefix}.up", x, d, d_ff)
            a = self.eltwise(f"{prefix}.act", i, m.activation, [g], routed, d_ff)
            a = self.eltwise(f"{prefix}.mul", i, "mul", [a, u], routed, d_ff)
        else:
            u = expert_mm(f"{prefix}.up", x, d, d_ff)
            a = self.eltwise(f"{prefix}.act", i, m.activation, [u], routed, d_ff)
        return expert_mm(f"{prefix}.down", a, d_ff, d)

    def head(self, x: Tensor, prefix: str = "") -> None:
        """Final norm, LM head and sampling. Logits are needed for the last position of each
        prompt (prefill) and for every new token of a decode step (drafts are verified)."""
        m, b, B = self.m, self.b, self.p.batch
        rows = self.T if self.p.kind == "decode" else B
        h = self.norm(f"{prefix}final_norm", -1, x, m.d_model)
        last = b.act(f"{prefix}final_norm.last", rows, m.d_model)
        vocab = m.vocab_size // self.par.tp
        w_name = "embed.tok.weight" if m.tied_embeddings else "lm_head.weight"
        w = b.weight(w_name, vocab, m.d_model) if m.tied_embeddings else b.weight(w_name, m.d_model, vocab)
        logits = b.act(f"{prefix}lm_head", rows, vocab)
        b.add(f"{prefix}lm_head", "matmul", -1, [h, w], [logits], 2 * rows * m.d_model * vocab,
              bytes_read=last.bytes + w.bytes, m=rows, n=vocab, k=m.d_model, batch=1)
        if m.final_softcap:               # Gemma 2: logits capped by cap * tanh(z / cap)
            logits = self.eltwise(f"{prefix}lm_head.softcap", -1, "softcap", [logits], rows, vocab)
        if self.par.tp > 1:
            logits = self.collective(f"{prefix}lm_head.allgather", "all_gather", -1, logits, self.par.tp)
        tokens = Tensor(f"{prefix}next_tokens", (rows,), "activation", 4)
        b.add(f"{prefix}sample", "sampling", -1, [logits], [tokens], logits.elements, rows=rows,
              width=vocab)


# peak bytes per decoder layer of an OpGraph; measured 24 KB (GPT-2), 29 KB (Llama-2), 49 KB
# (DeepSeek-V3, MoE + MLA)
GRAPH_BYTES_PER_LAYER = 64 * 1024


def build_graph(model: ModelConfig, phase: Phase, parallel: Parallelism | None = None) -> OpGraph:
    """Build the OpGraph of one forward pass (one device's share under ``parallel``)."""
    parallel = parallel or Parallelism()
    phase.check()
    parallel.check(model)
    if model.learned_positions and phase.kv_len > model.max_positions:
        raise ConfigError([f"context: {phase.kv_len} tokens exceed {model.name}'s "
                           f"max_position_embeddings {model.max_positions}; shorten prompt/gen"])
    layers = model.n_layers + model.mtp_layers
    require_memory(f"{model.name}'s op graph ({layers:,} layers)", layers * GRAPH_BYTES_PER_LAYER,
                   "check num_hidden_layers in the model's config")
    graph = _TransformerGraph(model, phase, parallel).build()
    return OpGraph(graph, model, phase, parallel)
