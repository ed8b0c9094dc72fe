"""Lower an OpGraph onto PIM-GPT: GEMVs become AiM command streams, the rest ASIC barriers.

Every matrix-vector product (projections, FFN, LM head, attention scores over the key cache,
attention context over the value cache) runs in the banks. Its N outputs are spread over all
banks of a group of channels (an all-bank MAC computes one output per bank): all channels for
a single GEMV; for an op of several independent GEMVs (attention heads, active experts) the
shared tiling search picks the group size, so that groups work on different GEMVs at once,
each with its own input vector in its channels' global buffers. Each output's K weights
lie along DRAM rows, so one activation serves a whole row of MACs. Input-stationary order: the
input vector is written into each channel's global buffer one 1024-element chunk at a time,
and every row tile that needs that chunk is processed before the next chunk (buffer writes
once per chunk; partial sums read out per chunk and added on the ASIC). When K is shorter
than a row, several outputs share a row (keys of several tokens, say), each with its own MAC
run and result read. Non-matrix ops (norms, softmax, activations, residual adds, the partial
sum additions) are ASIC work at a barrier that joins the channels.

Decode with batch 1 (the published system's setting); a prompt is processed token by token
(see the family's prefill mode).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from accsim.arch.dram.tier import capacity_bytes
from accsim.arch.pim.spec import BARRIER_KIND, PimSpec
from accsim.arch.pim.standards import COMMANDS
from accsim.core.capacity import CapacityError, require_fits, resident_bytes
from accsim.core.errors import ConfigError
from accsim.core.program import Program
from accsim.core.registry import Mapper
from accsim.mappers.tiling import search
from accsim.workloads.graph import GEMM_KINDS, Op, OpGraph, op_table_entry

KINDS = COMMANDS + (BARRIER_KIND,)
K_ID = {k: i for i, k in enumerate(KINDS)}
# ASIC cost per element of each non-matrix op: (vector ops, special-function ops)
ASIC_COST = {"layernorm": (7, 1), "rmsnorm": (3, 1), "softmax": (3, 2), "elementwise_add": (1, 0),
             "elementwise_mul": (1, 0), "elementwise_concat": (0, 0), "elementwise_rope": (3, 0), "elementwise_softcap": (2, 1),
             "embedding": (0, 0), "sampling": (1, 0), "kv_append": (0, 0),
             "activation_gelu_tanh": (6, 1), "activation_gelu": (6, 1), "activation_silu": (6, 1),
             "activation_relu": (1, 0)}


@dataclass
class _Streams:
    """The Program being built, as per-channel lists of chunks (one per GEMV, KV write or
    barrier, never per command), assembled channel-major at the end: each channel's stream
    contiguous. A chunk is (op, kinds, bank1 or a scalar, row1, barrier id or -1, cycles, count):
    ``count`` identical commands per entry (a run of MACs on one row is one entry)."""

    n_channels: int
    chunks: list = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    barriers: int = 0
    useful_macs: int = 0

    def __post_init__(self) -> None:
        self.chunks = [[] for _ in range(self.n_channels)]

    def op_index(self, name: str) -> int:
        self.ops.append(name)
        return len(self.ops) - 1

    def append(self, op: int, channel: int, kinds: np.ndarray, bank1: int | np.ndarray, row1: np.ndarray,
               count: np.ndarray) -> None:
        """Commands on one channel; ``bank1`` is 1 + the bank of each command (0 = all banks),
        one for all or one per command."""
        banks = np.broadcast_to(np.int32(bank1), kinds.shape) if np.isscalar(bank1) else bank1
        self.chunks[channel].append((op, kinds, banks, row1, -1, 0, count))

    def barrier(self, op: int, cycles: int) -> None:
        for chunks in self.chunks:
            chunks.append((op, _BARRIER_KINDS, _ZERO_ROW, _ZERO_ROW, self.barriers, cycles, _ONE))
        self.barriers += 1

    def columns(self) -> dict[str, np.ndarray]:
        """Channel-major columns, built with one concatenation per column."""
        chunks = [ch for per_channel in self.chunks for ch in per_channel]
        lengths = np.array([ch[1].size for ch in chunks], np.int64)
        channel = np.repeat(np.arange(self.n_channels, dtype=np.int32),
                            [len(per_channel) for per_channel in self.chunks])
        field_of = lambda i, dtype: np.repeat(np.array([ch[i] for ch in chunks], dtype), lengths)
        barrier = field_of(4, np.int32)
        return {"op": field_of(0, np.int32), "unit": np.repeat(channel, lengths),
                "kind": np.concatenate([ch[1] for ch in chunks]).astype(np.int32, copy=False),
                "bank1": np.concatenate([ch[2] for ch in chunks]).astype(np.int32, copy=False),
                "row1": np.concatenate([ch[3] for ch in chunks]).astype(np.int32, copy=False),
                "barrier": np.maximum(barrier, 0), "barrier_cycles": field_of(5, np.int64),
                "count": np.concatenate([ch[6] for ch in chunks]).astype(np.int32, copy=False)}


_BARRIER_KINDS = np.array([K_ID[BARRIER_KIND]], np.int32)
_ZERO_ROW = np.zeros(1, np.int32)
_ONE = np.ones(1, np.int32)


class _RowAllocator:
    """Hands out DRAM rows per channel (the same row index in every bank of the channels a
    tensor lives on) for weights and caches."""

    def __init__(self, rows: int, n_channels: int) -> None:
        self.rows = rows
        self.next = [0] * n_channels        # a list: called per GEMV, numpy would cost more than it saves
        self.named: dict[str, int] = {}

    def region(self, name: str, n_rows: int, channels: range) -> int:
        if name not in self.named:
            base = max(self.next[channels.start:channels.stop])
            if base + n_rows > self.rows:
                raise CapacityError([f"dram.organization.channels: the model does not fit: '{name}' "
                                     f"needs rows up to {base + n_rows} of {self.rows} per bank; add "
                                     f"channels (--set dram.organization.channels=N)"])
            self.named[name] = base
            self.next[channels.start:channels.stop] = [base + n_rows] * len(channels)
        return self.named[name]


@dataclass(frozen=True)
class GemvPattern:
    """The command stream one channel runs for its share of a GEMV (rows relative to its region)."""

    kinds: np.ndarray
    row_offset1: np.ndarray     # 1 + row offset in the region for ACTab and MACab, else 0
    count: np.ndarray           # commands per entry (runs of WRGBs and of MACs are one entry)
    n_rows: int                 # rows of the region per bank
    partial_adds: int           # partial sums the ASIC adds (K split over buffer chunks)

    @property
    def commands(self) -> int:
        return int(self.count.sum())


def gemv_pattern(spec: PimSpec, k_len: int, n_out: int, n_channels: int) -> GemvPattern:
    """y[n_out] = W[n_out, k_len] x spread over every bank of ``n_channels`` channels.

    Input-stationary: per global-buffer chunk of x, its WRGBs, then every row tile that needs
    the chunk (ACTab, the MAC runs of the outputs sharing the row, each with its RDMAC, PREA).
    """
    o = spec.dram.organization
    return _gemv_pattern(o.bank_groups * o.banks_per_group, o.row_bytes // 2,
                         spec.pim.mac_lanes_per_bank, spec.pim.global_buffer_bytes // 2,
                         o.tx_bytes // 2, k_len, n_out, n_channels)


@lru_cache(maxsize=4096)
def _gemv_pattern(banks: int, row_elems: int, lanes: int, gb_elems: int, wrgb_per_write: int,
                  k_len: int, n_out: int, n_channels: int) -> GemvPattern:
    chunk = min(row_elems, gb_elems)
    per_bank = math.ceil(n_out / (n_channels * banks))                # outputs per bank
    if k_len <= chunk:
        chunks, per_row = 1, chunk // k_len                          # outputs sharing a row
    else:
        chunks, per_row = math.ceil(k_len / chunk), 1
    n_rows_tile = math.ceil(per_bank / per_row)
    parts, counts = [], []
    for j in range(chunks):
        length = min(chunk, k_len - j * chunk)
        macs = math.ceil(length / lanes)
        parts.append([K_ID["WRGB"]])
        counts.append([math.ceil(length / wrgb_per_write)])
        for r in range(n_rows_tile):
            outputs = min(per_row, per_bank - r * per_row)
            parts.append([K_ID["ACTab"]] + [K_ID["MACab"], K_ID["RDMAC"]] * outputs + [K_ID["PREA"]])
            counts.append([1] + [macs, 1] * outputs + [1])
    kinds = np.concatenate(parts).astype(np.int32)
    count = np.concatenate(counts).astype(np.int32)
    row1 = np.zeros(kinds.size, np.int32)
    acts = np.flatnonzero(kinds == K_ID["ACTab"])
    row1[acts] = 1 + np.arange(acts.size)
    # MACs name the row they read (the open one): carry each ACTab's row forward
    open_at = np.maximum.accumulate(np.where(kinds == K_ID["ACTab"], np.arange(kinds.size), -1))
    macs_at = kinds == K_ID["MACab"]
    row1[macs_at] = row1[open_at[macs_at]]
    for a in (kinds, row1, count):
        a.flags.writeable = False
    return GemvPattern(kinds, row1, count, n_rows_tile * chunks, n_out * (chunks - 1))


def _gemv(streams: _Streams, rows: _RowAllocator, spec: PimSpec, op: int, name: str,
          k_len: int, n_out: int, channels: range) -> int:
    """Append y[n_out] = W[n_out, k_len] x on ``channels``; return the partial sums to add."""
    pattern = gemv_pattern(spec, k_len, n_out, len(channels))
    base = rows.region(name, pattern.n_rows, channels)
    row1 = np.where(pattern.row_offset1 > 0, pattern.row_offset1 + np.int32(base), np.int32(0))
    for c in channels:    # every channel of the group runs the same pattern on its own rows
        streams.append(op, c, pattern.kinds, 0, row1, pattern.count)
    streams.useful_macs += k_len * n_out
    return pattern.partial_adds


def channel_groups(spec: PimSpec, repeats: int, k_len: int, n_out: int) -> int:
    """Channels per GEMV for ``repeats`` independent GEMVs of one op (attention heads, active
    experts): all channels on each in turn, or the channels split into groups that work on
    different GEMVs at once (each group's global buffers hold its own input vector). Chosen by
    the shared tiling search: analytic command-count cost, then the best candidates' streams
    run cycle by cycle on one channel."""
    n_ch = spec.dram.organization.channels
    sizes = [g for g in range(1, n_ch + 1) if n_ch % g == 0]
    if repeats == 1:
        return n_ch
    key = (repr(spec.dram), repr(spec.pim), repeats, k_len, n_out)
    if key not in _GROUPS:
        _GROUPS[key] = _search_groups(spec, repeats, k_len, n_out, sizes)
    return _GROUPS[key]


_GROUPS: dict[tuple, int] = {}     # memo of channel_groups (specs hold dicts: keyed by repr)


def _search_groups(spec: PimSpec, repeats: int, k_len: int, n_out: int, sizes: list) -> int:
    n_ch = spec.dram.organization.channels

    def per_channel(c) -> tuple[GemvPattern, int]:
        groups = n_ch // c["channels"]
        return gemv_pattern(spec, k_len, n_out, c["channels"]), math.ceil(repeats / groups)

    def estimate(c) -> float:
        pattern, sequential = per_channel(c)
        return float(pattern.commands * sequential)

    def evaluate(c) -> int:
        pattern, sequential = per_channel(c)
        return _channel_cycles(spec, np.tile(pattern.kinds, sequential),
                               np.tile(pattern.row_offset1, sequential), np.tile(pattern.count, sequential))

    result = search({"channels": sizes}, ("input_stationary",), lambda c: True, estimate,
                    evaluate, max_candidates=len(sizes), top_k=3,
                    what=f"pim GEMV placement ({repeats} x {n_out}x{k_len})")
    return int(result.best["channels"])


def _channel_cycles(spec: PimSpec, kinds: np.ndarray, row1: np.ndarray, count: np.ndarray) -> int:
    """Cycles one channel takes for a command stream (refresh included), cycle by cycle."""
    from accsim.arch.pim import kernels as K
    d = spec.dram
    n_ch = d.organization.channels
    ptr = np.zeros(n_ch + 1, np.int64)
    ptr[1:] = kinds.size
    rules = d.compiled_rules()
    refresh = int(d.timing["nREFI"]) if d.controller.refresh == "allbank" else 0
    zeros = np.zeros(kinds.size, np.int32)
    _, _, per_channel, _, _ = K.simulate_streams(
        ptr, kinds.astype(np.int32), zeros - 1, (row1 - 1).astype(np.int32), zeros, count.astype(np.int32),
        np.zeros(0, np.int64), d.level_sizes(), refresh, rules.ptr, rules.following, rules.latency,
        rules.window, rules.scope, 0)
    return int(per_channel[0, K.S_CHANNEL_END])


def _kv_write(streams: _Streams, rows: _RowAllocator, spec: PimSpec, op: Op, op_id: int) -> None:
    """Write this token's keys and values into the cache. Keys (and row-major values) are
    contiguous: ACT, a burst of WRs, PRE on one bank per channel. Column-major values put each
    of the token's value dimensions in its own row: one element written per row, the rows spread
    over the banks, activated a bank at a time across all banks (ACTs, then WRs, then PREs)."""
    o = spec.dram.organization
    n_ch, banks = streams.n_channels, o.bank_groups * o.banks_per_group
    values_by_column = spec.mapping.v_layout == "column_major"
    contiguous = op.bytes_written // 2 if values_by_column else op.bytes_written
    writes = math.ceil(contiguous / o.tx_bytes / n_ch)
    row = rows.region(f"{op.name}.cache", 1, range(n_ch)) + 1
    kinds = np.array([K_ID["ACT"], K_ID["WR"], K_ID["PRE"]], np.int32)
    for c in range(n_ch):
        streams.append(op_id, c, kinds, 1, np.full(3, row, np.int32), np.array([1, writes, 1], np.int32))
    if values_by_column:
        dims = math.ceil(op.attrs["width"] // 2 * op.attrs["rows"] / n_ch)      # value dimensions per channel
        base = rows.region(f"{op.name}.v_columns", math.ceil(dims / banks), range(n_ch)) + 1
        pattern = _bank_rounds(dims, banks, "WR", 1)        # one element into each row
        for c in range(n_ch):
            streams.append(op_id, c, pattern[0], pattern[1], pattern[2] + np.int32(base), pattern[3])


def _read_out(streams: _Streams, rows: _RowAllocator, spec: PimSpec, op_id: int, name: str,
              nbytes: int) -> None:
    """Read ``nbytes`` spread over every channel out to the ASIC: rows interleaved over the
    banks, a round of ACTs, each bank's row read in full bursts, PREs."""
    o = spec.dram.organization
    n_ch, banks = streams.n_channels, o.bank_groups * o.banks_per_group
    per_channel_rows = math.ceil(nbytes / n_ch / o.row_bytes)
    base = rows.region(name, math.ceil(per_channel_rows / banks), range(n_ch)) + 1
    kinds, bank1, row, count = _bank_rounds(per_channel_rows, banks, "RD", o.row_bytes // o.tx_bytes)
    for c in range(n_ch):
        streams.append(op_id, c, kinds, bank1, row + np.int32(base), count)


@lru_cache(maxsize=256)
def _bank_rounds(n_rows: int, banks: int, access: str, per_row: int) -> tuple[np.ndarray, ...]:
    """(kinds, bank1, row offset, count) of ``per_row`` ``access`` commands (RD or WR) on each
    of ``n_rows`` rows, row j in bank j % banks at offset j // banks: rounds over the banks of
    their ACTs, then their accesses, then their PREs."""
    kinds, bank1, row, count = [], [], [], []
    for first in range(0, n_rows, banks):
        members = np.arange(first, min(first + banks, n_rows))
        b, r = (members % banks + 1).astype(np.int32), (members // banks).astype(np.int32)
        for kind, n in (("ACT", 1), (access, per_row), ("PRE", 1)):
            kinds.append(np.full(members.size, K_ID[kind], np.int32))
            bank1.append(b)
            row.append(r)
            count.append(np.full(members.size, n, np.int32))
    if not kinds:
        return tuple(np.zeros(0, np.int32) for _ in range(4))
    out = tuple(np.concatenate(p).astype(np.int32) for p in (kinds, bank1, row, count))
    for a in out:
        a.flags.writeable = False
    return out


def _asic_cycles(spec: PimSpec, vector_ops: int, special_ops: int) -> int:
    """ASIC time in DRAM cycles for a batch of elementwise and special-function operations."""
    a = spec.asic
    asic = a.op_latency_cycles + math.ceil(vector_ops / a.vector_lanes) + math.ceil(special_ops / a.special_lanes)
    return math.ceil(asic * spec.dram.clock_hz / (a.clock_MHz * 1e6))


def _gemv_shape(op: Op) -> tuple[int, int, int]:
    """(repeats, K, N) of the matrix-vector products an op is, for one token."""
    a = op.attrs
    if op.kind in ("attn_score", "attn_context"):
        return a["batch"], a["k"], a["n"]
    if op.kind == "expert_matmul":
        return math.ceil(a["experts_active"]), a["k"], a["n"]
    return a.get("batch", 1) * a["m"], a["k"], a["n"]


def lower(graph: OpGraph, spec: PimSpec) -> Program:
    """Lower one token's pass (batch 1) to per-channel PIM command streams with ASIC barriers."""
    phase = graph.phase
    if phase.batch != 1 or phase.new_tokens != 1:
        raise ConfigError([f"pim: PIM-GPT runs batch 1, one token per pass; got batch {phase.batch}, "
                           f"{phase.new_tokens} new tokens (use --batch 1; prompts run token by token)"])
    if graph.model.dtype not in ("bf16", "fp16"):
        raise ConfigError([f"dtype: the AiM MAC units multiply bf16; got {graph.model.dtype!r} "
                           f"(use --dtype bf16 or fp16)"])
    # weights and KV cache live in the banks: a model larger than the DRAM is refused before its
    # streams are built (row-aligned tiles need more still: the row allocator checks that)
    require_fits(graph, resident_bytes(graph), capacity_bytes(spec.dram), "dram.organization.channels",
                 "PIM system", ["more channels (--set dram.organization.channels=N)", "more rows per bank",
                                "or a smaller model"])
    spec.dram.require_state_memory()      # before the placement search runs channel streams
    n_ch = spec.dram.organization.channels
    streams = _Streams(n_ch)
    rows = _RowAllocator(spec.dram.organization.rows, n_ch)
    pending_vector = pending_special = partial_adds = elementwise_ops = 0
    asic_op = -1          # the last op whose ASIC work is pending (names the barrier)
    for op in graph.ops():
        op_id = streams.op_index(op.name)
        if op.kind in GEMM_KINDS:
            if pending_vector or pending_special:
                streams.barrier(asic_op if asic_op >= 0 else op_id,
                                _asic_cycles(spec, pending_vector, pending_special))
                pending_vector = pending_special = 0
            repeats, k_len, n_out = _gemv_shape(op)
            if op.kind == "attn_context" and spec.mapping.v_layout == "row_major":
                # token-major values: no row holds what a MAC needs; read them out, the ASIC
                # multiplies and adds (two operations per value)
                _read_out(streams, rows, spec, op_id, f"{op.name}.values",
                          repeats * k_len * n_out * graph.model.dtype_bytes)
                pending_vector += 2 * repeats * k_len * n_out
                elementwise_ops += 2 * repeats * k_len * n_out
                asic_op = op_id
                continue
            group = (spec.mapping.channels_per_gemv if repeats > 1 and spec.mapping.channels_per_gemv
                     else channel_groups(spec, repeats, k_len, n_out))
            for rep in range(repeats):
                first = (rep % (n_ch // group)) * group
                adds = _gemv(streams, rows, spec, op_id, f"{op.name}[{rep}]", k_len, n_out,
                             range(first, first + group))
                pending_vector += adds
                partial_adds += adds
            asic_op = op_id       # its partial sums are ASIC work
            if op.kind == "moe_router":
                pending_special += op.attrs["n"]
        elif op.kind == "kv_append":
            _kv_write(streams, rows, spec, op, op_id)
        elif op.kind in ("all_reduce", "all_gather", "all_to_all"):
            raise ConfigError([f"pim: {op.kind} ({op.name}): PIM-GPT is a single-device system; use tp=1"])
        else:
            elements = max(1, op.bytes_written // max(graph.model.dtype_bytes, 1))
            vec, special = op_table_entry(ASIC_COST, op, "pim ASIC_COST", "the ASIC has no unit for it")
            pending_vector += vec * elements
            pending_special += special * elements
            elementwise_ops += (vec + special) * elements
            asic_op = op_id
    if pending_vector or pending_special:
        streams.barrier(asic_op, _asic_cycles(spec, pending_vector, pending_special))
    columns = streams.columns()
    n = columns["op"].size
    return Program.build(
        family="pim", units=[f"ch{c}" for c in range(n_ch)], kinds=KINDS, ops=streams.ops,
        columns=columns, dep_ptr=np.zeros(n + 1, np.int64), dep_idx=np.zeros(0, np.int32),
        meta={"workload": graph.describe(), "useful_macs": streams.useful_macs,
              "asic_ops": partial_adds + elementwise_ops, "in_order_units": True})



MAPPER = Mapper(name="pim-gemv", family="pim", lower=lower,
                description="GEMVs as all-bank MAC streams over row tiles (input-stationary), other ops on the ASIC")
