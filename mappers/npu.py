"""Lower an OpGraph onto one die of an npu chip: a list of kernels, each tiled by the shared search.

Every op becomes one kernel that runs on all cores of the die (an NPU runtime launches
operators one after another), or none when it is fused:
  * matrix ops (projections, expert GEMMs, router, attention scores and context) are GEMM
    kernels; attention is grouped by KV head (the heads sharing a KV head form the rows, as
    grouped-query and absorbed-MLA kernels do), causal tiles above the diagonal are skipped,
    and scores -> softmax -> context is fused as FlashAttention fuses it: the scores stay on
    chip, softmax runs in the score GEMM's epilogue, and a cache that serves as both K and V
    (MLA's latent cache) is read once;
  * an element-wise op whose input is a GEMM's output that nothing else reads runs in that
    GEMM's epilogue (its other inputs are read there);
  * the other element-wise ops, norms, embedding gathers, KV-cache appends and sampling are
    vector kernels; collectives are transfers on the die's network port.
Weights and KV caches live in HBM; activations stay in L2 when they fit in half of it.
Each GEMM shape is tiled by the shared search (mappers/tiling.py): tile sizes in multiples of
the array's granule that fit L0A/L0B/L0C (double-buffered) and the UB, both loop orders,
costed analytically; the best few are simulated cycle-level and the fastest is kept.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from accsim.arch.npu import tiles as T
from accsim.arch.npu.spec import DTYPE_BYTES, NpuSpec
from accsim.core.capacity import GIB, require_fits, resident_bytes
from accsim.core.engine.collectives import COLLECTIVE_CODES
from accsim.core.errors import ConfigError
from accsim.core.program import Program, ProgramBuilder
from accsim.core.registry import Mapper
from accsim.core.stats import Stats
from accsim.mappers.tiling import search, tile_sizes
from accsim.workloads.graph import ELEMENT_FLOPS, GEMM_KINDS, OP_KINDS, Op, OpGraph, build_graph

UNITS = tuple(T.UNIT_STREAMS)
COLLECTIVES = tuple(COLLECTIVE_CODES)
FUSABLE = ("activation", "elementwise", "rope")
TILE_CAP = 2048       # largest tile edge considered (elements)


def lower(graph: OpGraph, spec: NpuSpec) -> Program:
    """Lower one forward pass (one die's share) to an npu Program of kernels."""
    spec.check()
    dtype = graph.model.dtype
    if any(graph.model.role_dtype(r) not in DTYPE_BYTES for r in ("weight", "activation", "kv_cache")):
        raise ConfigError([f"dtype: the npu family runs {', '.join(DTYPE_BYTES)} (and w8a8); got {dtype!r}"])
    check_capacity(graph, spec)
    mb = spec.parallel.microbatches
    if graph.phase.batch % mb:
        raise ConfigError([f"parallel.microbatches: {mb} does not divide the die's batch of "
                           f"{graph.phase.batch} sequences; use a divisor or more sequences"])
    if mb > 1:
        from dataclasses import replace as replace_phase
        graph = build_graph(graph.model, replace_phase(graph.phase, batch=graph.phase.batch // mb),
                            graph.parallel)
    lowering = _Lowering(graph, spec)
    for op in graph.ops():
        lowering.op(op)
    return lowering.build(mb)


def check_capacity(graph: OpGraph, spec: NpuSpec) -> None:
    """Refuse a pass whose weights + KV cache exceed one die's HBM."""
    require_fits(graph, resident_bytes(graph), spec.memory.capacity_GiB * GIB, "memory.capacity_GiB", "die",
                 ["more chips (--chips N)", "int8 (--dtype int8)", "or a smaller batch/context"])


class _Lowering:
    def __init__(self, graph: OpGraph, spec: NpuSpec) -> None:
        self.g, self.spec = graph, spec
        self.dt = graph.model.dtype_bytes
        # linear layers multiply at the weights' type (int8 under int8 and w8a8); attention at
        # the KV cache's type
        self.linear_int8 = graph.model.role_dtype("weight") == "int8"
        self.attention_int8 = graph.model.role_dtype("kv_cache") == "int8"
        self.l2_room = spec.memory.l2_MiB * 1024 * 1024 / 2
        self.rows: list[tuple[str, str, str, object, float]] = []   # op, unit, kind, kernel, flops
        self.gemm_of_tensor: dict[str, int] = {}    # output tensor -> row of the GEMM producing it
        self.row_of_tensor: dict[str, int] = {}     # any tensor -> row of the kernel producing it
        self.fused_scores: dict[str, str] = {}     # fused softmax output -> the scores' K cache
        self.searched: dict[T.GemmKernel, dict] = {}   # GEMM shape -> its tiling search

    # --- placement -------------------------------------------------------------------------
    def where(self, nbytes: int) -> int:
        return T.IN_L2 if nbytes <= self.l2_room else T.IN_HBM

    def consumers(self, op: Op) -> list[str]:
        return list(self.g.graph.successors(op.name))

    # --- ops --------------------------------------------------------------------------------
    def op(self, op: Op) -> None:
        if op.kind in COLLECTIVES:
            self.add(op, "link", T.collective_kernel(op.kind, op.attrs))
        elif op.kind == "softmax" and self.fusable_softmax(op):
            return
        elif op.kind in GEMM_KINDS:
            self.gemm(op)
        elif op.kind in FUSABLE and self.fuse_into_gemm(op):
            return
        else:
            self.vector(op)

    def add(self, op: Op, unit: str, kern: object, flops: float | None = None) -> int:
        self.rows.append((op.name, unit, op.kind, kern, float(op.flops if flops is None else flops)))
        for t in op.outputs:
            self.row_of_tensor[t.name] = len(self.rows) - 1
        return len(self.rows) - 1

    def fusable_softmax(self, op: Op) -> bool:
        """Softmax between a score GEMM and a context GEMM runs in the score GEMM's epilogue."""
        src = op.inputs[0].name
        if src not in self.gemm_of_tensor or len(self.consumers(op)) != 1:
            return False
        if self.g.op(self.consumers(op)[0]).kind != "attn_context":
            return False
        row = self.gemm_of_tensor[src]
        name, unit, kind, kern, flops = self.rows[row]
        per_elem = op.flops / max(1, kern.g * kern.m * kern.n)
        kern = _with(kern, c_dst=T.ON_CHIP, epilogue_flops=kern.epilogue_flops + per_elem)
        self.rows[row] = (name, unit, kind, self.retile(kern, unit), flops + op.flops)
        score_op = self.g.op(name)
        cache = next(t.name for t in score_op.inputs if t.role == "kv_cache")
        self.fused_scores[op.outputs[0].name] = cache
        self.row_of_tensor[op.outputs[0].name] = row
        return True

    def fuse_into_gemm(self, op: Op) -> bool:
        """Run ``op`` in the epilogue of the GEMM producing one of its inputs, if nothing else
        reads that GEMM's output; the op's other inputs are read during the epilogue."""
        for src in dict.fromkeys(t.name for t in op.inputs):
            row = self.gemm_of_tensor.get(src)
            ready = all(self.row_of_tensor.get(t.name, -1) <= (row or 0) for t in op.inputs)
            if row is not None and ready and self.consumers(self.g.op(self.rows[row][0])) == [op.name]:
                break
        else:
            return False
        del self.gemm_of_tensor[src]
        name, unit, kind, kern, flops = self.rows[row]
        per_elem = op.flops / max(1, kern.g * kern.m * kern.n)
        extra = sum({t.name: t.bytes for t in op.inputs if t.name != src}.values())
        out = op.outputs[0]
        kern = _with(kern, epilogue_flops=kern.epilogue_flops + per_elem,
                     extra_read_bytes=kern.extra_read_bytes + extra, c_dst=self.where(out.bytes),
                     c_bytes=max(1, out.bytes // max(1, kern.g * kern.m * kern.n)))
        self.rows[row] = (name, unit, kind, self.retile(kern, unit), flops + op.flops)
        self.gemm_of_tensor[out.name] = row
        self.row_of_tensor[out.name] = row
        return True

    def gemm(self, op: Op) -> None:
        a = op.attrs
        x = op.inputs[0]
        b_src, a_src = T.IN_HBM, self.where(x.bytes)
        c_dst = self.where(op.outputs[0].bytes)
        causal_axis, group, offset = "", 1, 0
        if op.kind in ("attn_score", "attn_context"):
            heads = a["batch"] // self.g.phase.batch
            group = heads // a["kv_heads"]
            g, m, k, n = self.g.phase.batch * a["kv_heads"], a["m"] * group, a["k"], a["n"]
            if self.g.phase.new_tokens > 1:
                causal_axis = "n" if op.kind == "attn_score" else "k"
                offset = self.g.phase.context_len
            if op.kind == "attn_context" and x.name in self.fused_scores:
                a_src = T.ON_CHIP
                score_cache = self.fused_scores[x.name]
                if any(t.name == score_cache for t in op.inputs[1:]):
                    b_src = T.ON_CHIP      # one cache serves as K and V: its tiles are on chip
        elif op.kind == "expert_matmul":
            g = max(1, round(a["experts_active"]))
            m, k, n = math.ceil(a["m"] / g), a["k"], a["n"]
        else:
            g, m, k, n = a.get("batch", 1), a["m"], a["k"], a["n"]
        epi = ELEMENT_FLOPS["softmax"] if op.kind == "moe_router" else 0.0
        attention = op.kind in ("attn_score", "attn_context")
        int8 = self.attention_int8 if attention else self.linear_int8
        b_bytes = op.inputs[1].dtype_bytes if attention else op.weights[0].dtype_bytes
        # a linear layer's input is quantised on the fly by its producer's epilogue
        a_bytes = x.dtype_bytes if attention else self.g.model.role_bytes("linear_input")
        kern = T.GemmKernel(g, m, k, n, 0, 0, 0, "mn", a_bytes, b_bytes,
                            op.outputs[0].dtype_bytes, a_src, b_src, c_dst, int8, float(epi), 0,
                            causal_axis, group, offset)
        unit = self.compute_unit(op)
        self.gemm_of_tensor[op.outputs[0].name] = self.add(op, unit, self.retile(kern, unit))

    def compute_unit(self, op: Op) -> str:
        """Where a compute kernel runs: the MoE stream's cores for the MoE block's ops (router,
        experts, shared experts) when the cores are split, else the die's cores."""
        return "aicore_moe" if self.spec.parallel.stream_cores and ".moe." in op.name else "aicore"

    def retile(self, kern: T.GemmKernel, unit: str) -> T.GemmKernel:
        """The tiling the shared search picks for the cores of ``unit``'s stream."""
        shape = _with(kern, m_t=0, k_t=0, n_t=0, order="mn")
        found = search_tiling(self.spec.stream_spec(T.UNIT_STREAMS[unit]), shape)
        self.searched[shape] = found
        best = found["best"]
        return _with(kern, m_t=best["m_t"], k_t=best["k_t"], n_t=best["n_t"], order=best["order"])

    def vector(self, op: Op) -> None:
        bytes_in = op.bytes_read
        bytes_out = op.bytes_written
        elements = max(1, sum(t.elements for t in op.outputs if t.role != "kv_cache")
                       if op.kind != "kv_append" else op.attrs["rows"] * op.attrs["width"])
        src = T.IN_HBM if op.kind == "embedding" else self.where(bytes_in)
        dst = T.IN_HBM if op.kind == "kv_append" else self.where(bytes_out)
        kern = T.VectorKernel(int(elements), float(op.flops), int(bytes_in), int(bytes_out), src,
                              dst, self.dt)
        self.add(op, self.compute_unit(op), kern)

    def build(self, microbatches: int = 1) -> Program:
        """The kernels in order, each microbatch a dependency chain; with several microbatches
        their kernels interleave (op by op), so one's collective can overlap another's compute."""
        b = ProgramBuilder("npu", UNITS, OP_KINDS, T.KERNEL_COLUMNS)
        prev: list[list[int]] = [[] for _ in range(microbatches)]
        for name, unit, kind, kern, flops in self.rows:
            for j in range(microbatches):
                label = name if microbatches == 1 else f"{name}@mb{j}"
                prev[j] = [b.add(label, unit, kind, prev[j], **T.kernel_row(kern, flops))]
        p = self.g.phase
        searches = list(self.searched.values())
        return b.build(meta={"dtype": self.g.model.dtype, "workload": self.g.describe(),
                             "microbatches": microbatches,
                             "tiling_search": {
                                 "gemm_shapes": len(searches),
                                 "enumerated": sum(f["enumerated"] for f in searches),
                                 "fitting": sum(f["fitting"] for f in searches),
                                 "simulated": sum(f["simulated"] for f in searches),
                                 "budget_hits": sum(f["budget_hit"] for f in searches)},
                             "matmul_dtype": self.g.model.role_dtype("weight"),
                             "tokens": p.tokens})


def _with(kern: T.GemmKernel, **changes) -> T.GemmKernel:
    from dataclasses import replace
    return replace(kern, **changes)


def choose_tiling(spec: NpuSpec, kern: T.GemmKernel) -> dict:
    """Tile sizes and loop order of one GEMM kernel shape."""
    return search_tiling(spec, kern)["best"]


@lru_cache(maxsize=4096)
def search_tiling(spec: NpuSpec, kern: T.GemmKernel) -> dict:
    """The shared tiling search on one GEMM kernel shape (memoised; deterministic): the best
    tiling and how much of the space was enumerated, fitted and simulated."""
    a, buf = spec.array, spec.buffers
    depth = a.depth * (a.int8_rate if kern.int8 else 1)
    # a cube computes whole fractals; a systolic array pads a partial fold, so smaller tiles
    # are legal there (and chosen when the buffers are too small for a full fold)
    granule_m, granule_n = (a.rows, a.cols) if a.kind == "cube" else (16, 16)
    granule_k = depth if a.kind == "cube" else 16
    dims = {"m_t": tile_sizes(kern.m, granule_m, TILE_CAP), "n_t": tile_sizes(kern.n, granule_n, TILE_CAP),
            "k_t": tile_sizes(kern.k, granule_k, TILE_CAP)}
    kib = 1024

    def fits(c) -> bool:
        l0a = 2 * c["m_t"] * c["k_t"] * kern.a_bytes <= buf.ifmap_KiB * kib
        l0b = 2 * c["k_t"] * c["n_t"] * kern.b_bytes <= buf.filter_KiB * kib
        l0c = 2 * c["m_t"] * c["n_t"] * buf.accumulator_bytes <= buf.ofmap_KiB * kib
        ub = (not buf.ub_KiB) or 2 * c["m_t"] * c["n_t"] * kern.c_bytes <= buf.ub_KiB * kib
        return l0a and l0b and l0c and ub

    def evaluate(c) -> int:
        return T.simulate_kernel(spec, _with(kern, **c)).cycles

    result = search(dims, T.ORDERS, fits, lambda c: estimate_cycles(spec, _with(kern, **c)),
                    evaluate, spec.search.max_candidates, spec.search.top_k,
                    f"GEMM {kern.g}x({kern.m}x{kern.k} @ {kern.k}x{kern.n})")
    return {"best": result.best, "enumerated": result.enumerated, "fitting": result.fitting,
            "simulated": len(result.evaluated), "budget_hit": result.budget_hit}


def estimate_cycles(spec: NpuSpec, kern: T.GemmKernel) -> float:
    """Fast analytic cost of a tiling: the busiest of the cube, HBM, L2, and one core's chain
    of double-buffered k-steps (each load's latency half hidden behind the previous step)."""
    import numpy as np
    mt, nt, kt = -(-kern.m // kern.m_t), -(-kern.n // kern.n_t), -(-kern.k // kern.k_t)
    steps = -(-(kern.g * mt * nt) // spec.cores) * kt
    step = int(T.cube_step_cycles(spec, np.array([kern.m_t]), np.array([kern.k_t]),
                                  np.array([kern.n_t]), kern.int8)[0])
    buf = spec.buffers
    room_a = (buf.l1_KiB or buf.ifmap_KiB) * 512
    room_b = (buf.l1_KiB or buf.filter_KiB) * 512
    a_size = kern.g * kern.m * kern.k * kern.a_bytes
    b_size = kern.g * kern.k * kern.n * kern.b_bytes
    a_reads = a_size * (1 if kern.order == "mn" and kern.m_t * kern.k * kern.a_bytes <= room_a else nt)
    b_reads = b_size * (1 if kern.order == "nm" and kern.k * kern.n_t * kern.b_bytes <= room_b else mt)
    l2_room = spec.memory.l2_MiB * 1024 * 1024 / 2
    hbm = l2 = 0.0
    working_sets = T.reuse_working_sets(spec, kern)
    for src, size, reads, ws in ((kern.a_src, a_size, a_reads, working_sets[0]),
                                 (kern.b_src, b_size, b_reads, working_sets[1])):
        if src == T.IN_HBM:
            first = size if ws <= l2_room else reads
            hbm, l2 = hbm + first, l2 + reads - first
        elif src == T.IN_L2:
            l2 += reads
    hz = spec.clock_hz
    step_bytes = (kern.m_t + kern.n_t) * kern.k_t * kern.a_bytes
    latency = (spec.dma.latency_cycles + spec.memory.latency_ns * 1e-9 * hz
               + step_bytes / spec.dma.memory_bytes_per_cycle
               + (step_bytes / spec.dma.l1_to_l0_bytes_per_cycle if buf.l1_KiB else 0))
    chain = steps * max(step, (latency + step) / 2)
    return max(steps * step, chain, hbm / (spec.hbm_GBps * 1e9 / hz),
               l2 / (spec.memory.l2_bandwidth_GBps * 1e9 / hz))


def parallelism(spec: NpuSpec, model) -> Any:
    """Split over the system's dies: the preset's degrees, or chosen here when 0.

    MoE models: expert parallel over every die (attention data parallel on each EP rank), as
    large-EP serving does. Dense models: tensor parallel over the dies when that divides the
    heads, else data parallel. tp x dp = dies.
    """
    from accsim.workloads.graph import Parallelism
    dies, p = spec.dies, spec.parallel
    tp = p.tp or (1 if model.is_moe or model.n_heads % dies else dies)
    problems = []
    if dies % tp:
        problems.append(f"parallel.tp: {tp} does not divide the {dies} dies "
                        f"({spec.system.chips} chips x {spec.system.dies_per_chip})")
    dp = dies // tp if not problems else 1
    ep = p.ep or (dp if model.is_moe else 1)
    if model.is_moe and ep != dp:
        problems.append(f"parallel.ep: {ep} must equal the data-parallel groups ({dp} = dies / tp): "
                        f"attention runs data parallel on every expert-parallel rank")
    if problems:
        raise ConfigError(problems)
    return Parallelism(tp=tp, ep=ep, dp=dp, expert_imbalance=p.expert_imbalance)


def gemm_on_chip(spec: NpuSpec, m: int, k: int, n: int, dtype: str = "bf16") -> Stats:
    """One GEMM C = A B on all cores of a die: A streamed from HBM, B (weights) from HBM, C
    written to HBM; tiled by the search and simulated tile by tile."""
    spec.check()
    if dtype not in DTYPE_BYTES:
        raise ConfigError([f"dtype: expected one of {', '.join(DTYPE_BYTES)}, got {dtype!r}"])
    if min(m, k, n) <= 0:
        raise ConfigError([f"gemm: M, K and N must be > 0, got M={m} K={k} N={n}"])
    dt = DTYPE_BYTES[dtype]
    kern = T.GemmKernel(1, m, k, n, 0, 0, 0, "mn", dt, dt, dt, T.IN_HBM, T.IN_HBM, T.IN_HBM,
                        dtype == "int8", 0.0, 0)
    tiling = choose_tiling(spec, kern)
    r = T.simulate_kernel(spec, _with(kern, **tiling))
    peak = spec.macs_per_cycle(dtype) * spec.cores
    busy = dict(zip(T.UNITS, r.unit_busy))
    return Stats({
        "m": m, "k": k, "n": n, "dtype": dtype, "tiling": tiling, "total_cycles": r.cycles,
        "latency_s": r.cycles / spec.clock_hz, "macs": m * k * n,
        "compute_util_pct": 100.0 * m * k * n / (peak * r.cycles),
        "hbm_util_pct": 100.0 * busy["hbm"] / r.cycles, "hbm_bytes": r.hbm_bytes,
        "l2_bytes": r.l2_bytes, "dram_bytes_compulsory": (m * k + k * n + m * n) * dt,
        "tile_tasks": r.tasks})


MAPPER = Mapper(name="npu-tiles", family="npu", lower=lower, parallelism=parallelism,
                description="One kernel per op on all cores, tiled by the shared search; flash-attention and "
                            "epilogue fusion")
