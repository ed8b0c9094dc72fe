"""Lower an OpGraph onto one socket of an RDU: sections of pipelined stages, tiled by step count.

A *section* (a SambaFlow kernel) is a set of operators placed on the socket at once; each
operator is a *stage* with its own PCUs and PMUs, and the section streams ``steps`` tiles
through its stages. Fused mode groups a decoder layer's operators into one section (split
where the PCU/PMU budget runs out); unfused mode makes every operator its own section, its
inputs and outputs materialised in HBM.

What a step is: in prefill, a block of token rows (norms and attention are row-local, so every
stage streams: tile j of a consumer needs tile j of its producer; causal attention over the
rows of earlier tiles). In decode, a chunk of each operator's work: a matmul whose input arrives
in chunks accumulates over its K chunks (its output exists only after its last step); a matmul
whose input is whole splits its N columns (output chunks stream on); norms need their whole
input (a barrier: step 0 waits for the producer's last step). A stream whose consumer also
waits on a barrier is buffered whole, so credit-based flow control never deadlocks.

Placement: weights and KV caches in HBM; what does not fit spills to DDR, lowest traffic per
byte first (the embedding table, read a few rows per pass, goes first). Intermediates inside a
section live in PMU buffers; a section's inputs from and outputs to other sections live in HBM.

The step count of each section is chosen by the shared tiling search (mappers/tiling.py):
candidate counts that fit every stage's double-buffered tiles in its PMUs, costed
analytically, the best few simulated cycle-level (arch/rdu/model.py), the fastest kept.
Identical sections (the same layer again) are planned once. Tensor parallelism splits heads
and FFN columns over the sockets, with all-reduces on the peer links. On a socket of several
dies a section's stages fill the dies in program order, and a stream between stages on two
dies crosses the die-to-die link.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from accsim.arch.rdu.ir import AGCU, COLUMNS, D2D, DDR, HBM, KINDS, LAUNCH_KIND, LINK, PCU, UNITS
from accsim.arch.rdu.spec import DTYPE_BYTES, RduSpec
from accsim.core.capacity import GIB, CapacityError, resident_bytes
from accsim.core.engine.collectives import COLLECTIVE_CODES
from accsim.core.errors import ConfigError
from accsim.core.program import Program
from accsim.core.registry import Mapper
from accsim.mappers.tiling import search
from accsim.workloads.graph import OP_KEYS, OP_KINDS, Op, OpGraph, Parallelism, op_table_entry

TIER_UNITS = {"hbm": HBM, "ddr": DDR}
MATRIX = ("matmul", "expert_matmul", "moe_router", "attn_score", "attn_context")
ROW_REDUCTIONS = ("layernorm", "rmsnorm", "sampling")     # need a whole row of their input
# tail-unit (transcendental) results per element, every op key that runs on a PCU
TRANSCENDENTAL = {key: 0.0 for key in OP_KEYS} | {
    "softmax": 1.0, "elementwise_softcap": 1.0,        # tanh
    **{f"activation_{fn}": 1.0 for fn in ("gelu_tanh", "gelu", "silu")}}
DOUBLE_BUFFER = 2                                          # tiles per buffer (credits)


def lower(graph: OpGraph, spec: RduSpec) -> Program:
    """Lower one forward pass (one socket's share) to an rdu Program of sections."""
    spec.check()
    for role in ("weight", "activation", "kv_cache"):
        if graph.model.role_dtype(role) not in DTYPE_BYTES:
            raise ConfigError([f"dtype: the rdu family runs {', '.join(DTYPE_BYTES)} (the SN40L's "
                               f"published peak is BF16); got {graph.model.dtype!r}"])
    placement = place_symbols(graph, spec)
    sections = partition(graph, spec, placement)
    return _emit(graph, spec, placement, sections)


# --- placement ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Placement:
    tier: dict                  # weight / cache tensor name -> "hbm" | "ddr"
    hbm_bytes: int
    ddr_bytes: int


def place_symbols(graph: OpGraph, spec: RduSpec) -> Placement:
    """Weights and caches in HBM; spill to DDR lowest traffic per byte first; refuse what fits
    in neither."""
    size: dict[str, int] = {}
    traffic: dict[str, int] = {}
    for op in graph.ops():
        for t in op.inputs:
            if t.role in ("weight", "kv_cache"):
                size[t.name] = max(size.get(t.name, 0), t.bytes)
                traffic[t.name] = traffic.get(t.name, 0) + touched_bytes(op, t)
    resident = resident_bytes(graph)
    kv = {t.name: t.bytes for op in graph.ops() if op.kind == "kv_append" for t in op.outputs}
    size.update(kv)
    hbm_cap, ddr_cap = spec.hbm.capacity_GiB * GIB, spec.ddr.capacity_GiB * GIB
    if resident.total_bytes > hbm_cap + ddr_cap:
        raise CapacityError([
            f"ddr.capacity_GiB: {graph.model.name} needs "
            f"{resident.total_bytes / GIB:.1f} GiB per socket (weights {resident.weights_bytes / GIB:.1f} + "
            f"KV cache {resident.kv_bytes / GIB:.1f}) but a socket has {spec.hbm.capacity_GiB:g} GiB HBM + "
            f"{spec.ddr.capacity_GiB:g} GiB DDR (what HBM cannot hold spills to DDR); use more sockets "
            f"(--chips N), a larger DDR tier or a smaller batch/context"])
    tier = {name: "hbm" for name in size}
    used = float(sum(size.values()))
    for name in sorted(size, key=lambda n: (traffic.get(n, size[n]) / max(1, size[n]), n)):
        if used <= hbm_cap:
            break
        tier[name] = "ddr"
        used -= size[name]
    hbm = sum(b for n, b in size.items() if tier[n] == "hbm")
    return Placement(tier, int(hbm), int(sum(size.values()) - hbm))


# --- partition ------------------------------------------------------------------------------
def partition(graph: OpGraph, spec: RduSpec, placement: Placement) -> list[list[Op]]:
    """Sections of ops in program order: one per op unfused; fused, one per layer, split
    wherever the next op would leave a stage without a PCU or the section's buffers and resident
    weights would not fit the PMUs' SRAM at any step count (greedy, in program order; a layer
    split once is split the same way wherever it repeats)."""
    ops = graph.ops()
    if spec.mapper.fusion == "off":
        return [[op] for op in ops]
    groups: list[list[Op]] = []
    for op in ops:
        if groups and groups[-1][-1].layer == op.layer:
            groups[-1].append(op)
        else:
            groups.append([op])
    budget = int(spec.pcu.count * spec.mapper.unit_fraction)
    if budget < 1 or int(spec.pmu.count * spec.mapper.unit_fraction) < 1:
        raise ConfigError([f"mapper.unit_fraction: {spec.mapper.unit_fraction:g} of {spec.pcu.count} PCUs and "
                           f"{spec.pmu.count} PMUs leaves no unit for a section; raise it or the unit counts"])
    splits: dict[tuple, list[int]] = {}          # a layer's signature -> its sections' lengths
    sections: list[list[Op]] = []
    for g in groups:
        sig = _signature(graph, g, placement)
        if sig not in splits:
            splits[sig] = _fitting_lengths(graph, g, placement, spec, budget)
        start = 0
        for length in splits[sig]:
            sections.append(g[start:start + length])
            start += length
    return sections


def _fitting_lengths(graph: OpGraph, group: list[Op], placement: Placement, spec: RduSpec,
                     budget: int) -> list[int]:
    """Lengths of the sections a layer's ops split into: each as long as it fits."""
    lengths, current = [], 0
    for i in range(len(group)):
        trial = group[i - current:i + 1]
        if current and (len(trial) > budget or not _fits_sram(graph, trial, placement, spec)):
            lengths.append(current)
            current = 0
        current += 1
    return lengths + [current]


def _fits_sram(graph: OpGraph, section: list[Op], placement: Placement, spec: RduSpec) -> bool:
    """Some step count gives every stage its PCU and its buffers (and resident weights) PMUs;
    in prefill, also with the weights re-read every step (as the planner falls back to)."""
    candidates = _candidates(graph, spec)
    modes = (True, False) if graph.phase.kind == "prefill" else (True,)
    return any(allocate(_stages(graph, section, placement, resident), steps, spec) is not None
               for resident in modes for steps in candidates)


# --- stages ---------------------------------------------------------------------------------
@dataclass
class Stage:
    """One operator of a section and what it does per step (totals; divided over the steps)."""

    op: Op
    unit: int                     # PCU or LINK
    m: int = 0
    k: int = 0
    n: int = 0
    split: str = "rows"           # rows (prefill) | k | n | chunk (decode): how steps divide it
    causal: bool = False          # attention in prefill: work per row grows with its position
    heads: int = 1
    simd_elems: int = 0
    simd_ops: float = 0.0
    tail_ops: int = 0
    loads: list = field(default_factory=list)    # (tier unit, bytes, random, mode: once|split|each)
    store_bytes: int = 0          # written to HBM (section output, KV append)
    out_bytes: int = 0            # produced per pass (streamed to consumers)
    inputs: list = field(default_factory=list)   # (producer stage index, barrier)
    whole_output: bool = False    # output exists only after the last step (K-split accumulate)
    link_code: int = 0
    group: int = 1
    flops: float = 0.0


def _stages(graph: OpGraph, section: list[Op], placement: Placement, resident: bool = True) -> list[Stage]:
    """The section's stages with their loads, stores and input edges. ``resident``: in
    prefill a weight is loaded once and kept in the stage's PMUs (else re-read every step)."""
    names = {op.name: i for i, op in enumerate(section)}
    decode = graph.phase.kind == "decode"
    outside = _consumed_outside(graph, section, names)
    stages: list[Stage] = []
    for op in section:
        st = _work(graph, op)
        for t in dict((t.name, t) for t in op.inputs).values():
            producer = _producer(graph, op, t.name)
            attention_cache = t.role == "kv_cache" and op.kind in ("attn_score", "attn_context")
            if producer in names:
                p = names[producer]
                barrier = decode and (stages[p].whole_output or op.kind in ROW_REDUCTIONS)
                st.inputs.append((p, barrier))
                if attention_cache and graph.phase.context_len:
                    # the cached context comes from its tier; the new rows from the stream
                    old = t.bytes * graph.phase.context_len // max(1, graph.phase.kv_len)
                    st.loads.append((TIER_UNITS[placement.tier.get(t.name, "hbm")], int(old), False, "split"))
            elif t.role in ("weight", "kv_cache"):
                mode = "split" if decode or t.role == "kv_cache" else ("once" if resident else "each")
                st.loads.append((TIER_UNITS[placement.tier.get(t.name, "hbm")], touched_bytes(op, t),
                                 op.kind == "embedding", mode))
            elif t.role == "activation" and t.bytes:
                st.loads.append((HBM, int(t.bytes), False, "split"))
        if decode and st.split == "kn":
            # a matmul accumulates over K chunks when its input streams in chunks; with a
            # whole input it splits its N columns and streams them on
            streamed = any(not b for _, b in st.inputs)
            st.split = "k" if streamed else "n"
            st.whole_output = streamed
        elif decode and op.kind in ROW_REDUCTIONS:
            st.whole_output = True
        if op.kind == "kv_append":
            st.store_bytes += op.bytes_written
            st.out_bytes = op.bytes_written
        if op.name in outside:
            st.store_bytes += sum(t.bytes for t in op.outputs if t.role == "activation")
        stages.append(st)
    return stages


# ops that read only part of their weight tensor: the rows of the tokens looked up, the experts
# the tokens are routed to; the graph's bytes_read says how much
PARTIAL_WEIGHT_READS = ("embedding", "expert_matmul")


def touched_bytes(op: Op, t) -> int:
    """Bytes of ``t`` (a weight or cache input of ``op``) one pass reads: all of it, or for an
    op that reads part of its weights (a lookup, the active experts) what the graph counts."""
    if op.kind in PARTIAL_WEIGHT_READS and t.role == "weight":
        return int(min(t.bytes, op.bytes_read - sum(x.bytes for x in op.inputs if x.role != "weight")))
    return int(t.bytes)


def _producer(graph: OpGraph, op: Op, tensor: str) -> str | None:
    for p in graph.graph.predecessors(op.name):
        if any(t.name == tensor for t in graph.op(p).outputs):
            return p
    return None


def _consumed_outside(graph: OpGraph, section: list[Op], names: dict) -> set:
    """Ops whose output a later section reads, or that nothing reads (the pass's results)."""
    out = set()
    for op in section:
        succ = list(graph.graph.successors(op.name))
        if not succ or any(s not in names for s in succ):
            out.add(op.name)
    return out


def _work(graph: OpGraph, op: Op) -> Stage:
    """The op's total work as a stage (before the section decides how steps divide it)."""
    a, ph = op.attrs, graph.phase
    out_elems = sum(t.elements for t in op.outputs if t.role == "activation")
    st = Stage(op=op, unit=PCU, flops=float(op.flops),
               out_bytes=sum(t.bytes for t in op.outputs if t.role == "activation"))
    decode = ph.kind == "decode"
    if op.kind in COLLECTIVE_CODES:
        st.unit, st.link_code, st.group = LINK, COLLECTIVE_CODES[op.kind], int(a["group"])
        st.out_bytes = int(a["payload_bytes"])
        st.split = "chunk" if decode else "rows"
    elif op.kind in ("attn_score", "attn_context"):
        st.heads = a["batch"] // ph.batch
        st.m, st.k, st.n = a["m"], a["k"], a["n"]
        st.causal = ph.new_tokens > 1
        st.split = "chunk" if decode else "rows"
    elif op.kind in MATRIX:
        g = max(1, round(a.get("experts_active", a.get("batch", 1))))
        st.m, st.k, st.n = a["m"], a["k"], a["n"] * g
        st.split = "kn" if decode else "rows"
    else:
        elems = out_elems or int(a.get("rows", 1) * a.get("width", 1))
        st.simd_elems = elems
        st.simd_ops = op.flops / elems if elems else 0.0
        st.tail_ops = int(elems * op_table_entry(TRANSCENDENTAL, op, "rdu TRANSCENDENTAL", "add the op key"))
        if op.kind in ("layernorm", "rmsnorm"):
            st.tail_ops = ph.tokens          # one reciprocal square root per row
        if op.kind == "softmax" and graph.phase.new_tokens > 1:
            st.causal = True
            st.heads = max(1, elems // max(1, ph.tokens * graph.phase.kv_len))
        st.split = "chunk" if decode else "rows"
    return st


# --- one section, one step count -------------------------------------------------------------
@dataclass(frozen=True)
class SectionTasks:
    """A section lowered at one step count: local task columns and deps (CSR, topological)."""

    columns: dict
    dep_ptr: np.ndarray
    dep_idx: np.ndarray
    steps: int
    pcus: int
    pmus: int


def _step_rows(total: int, steps: int) -> np.ndarray:
    """Rows per step when ``total`` rows split into ``steps`` near-equal blocks."""
    base = np.full(steps, total // steps, np.int64)
    base[: total % steps] += 1
    return base


def _causal_pairs(rows_end: np.ndarray, rows_start: np.ndarray, seq: int) -> np.ndarray:
    """Sum over rows r in [start, end) of (position of r in its sequence + 1): the keys each
    query row attends to under a causal mask (rows are sequences of ``seq`` back to back)."""
    def prefix(r):
        full, rem = r // seq, r % seq
        return full * (seq * (seq + 1) // 2) + rem * (rem + 1) // 2
    return prefix(rows_end) - prefix(rows_start)


def _per_step(st: Stage, steps: int, graph: OpGraph) -> dict[str, np.ndarray]:
    """Per-step work columns of one stage."""
    ph = graph.phase
    z = np.zeros(steps, np.int64)
    if ph.kind == "prefill" or st.split == "rows":
        rows = _step_rows(ph.tokens, steps)
        frac = rows / max(1, ph.tokens)
        end = np.cumsum(rows)
        if st.causal:
            pairs = _causal_pairs(end, end - rows, ph.new_tokens) + rows * ph.context_len
            share = pairs / max(1, pairs.sum())
        else:
            share = frac
        if st.op.kind in ("attn_score", "attn_context"):
            kv = np.maximum(1, -(-pairs // np.maximum(rows, 1))) if st.causal else np.full(steps, st.n)
            m, k, n = rows * st.heads, np.full(steps, st.k), kv
            if st.op.kind == "attn_context":
                m, k, n = rows * st.heads, kv, np.full(steps, st.n)
        elif st.unit == PCU and st.m:
            m, k, n = np.maximum(1, np.round(st.m * frac)).astype(np.int64), np.full(steps, st.k), np.full(steps, st.n)
        else:
            m = k = n = z
    else:
        share = np.full(steps, 1.0 / steps)
        if st.split == "k":
            m, k, n = np.full(steps, st.m), _step_rows(st.k, steps), np.full(steps, st.n)
        elif st.split == "n":
            m, k, n = np.full(steps, st.m), np.full(steps, st.k), _step_rows(st.n, steps)
        elif st.op.kind in ("attn_score", "attn_context"):
            heads = np.maximum(1, np.round(st.heads * share).astype(np.int64))
            m, k, n = heads * ph.batch * st.m, np.full(steps, st.k), np.full(steps, st.n)
        else:
            m = k = n = z
    if st.unit != PCU or not st.m:
        m = k = n = z
    return {"m": m.astype(np.int64), "k": k.astype(np.int64), "n": n.astype(np.int64), "share": share}


def _load_parts(nbytes: int, mode: str, share: np.ndarray) -> np.ndarray:
    """Bytes a load moves at each step: all at the first (once), the whole every step (each),
    or the step's share (split)."""
    steps = share.shape[0]
    if mode == "once":
        return np.array([nbytes] + [0] * (steps - 1), np.int64)
    if mode == "each":
        return np.full(steps, nbytes, np.int64)
    return _split(nbytes, share)


def _split(total: float, share: np.ndarray) -> np.ndarray:
    """Integer parts of ``total`` in proportion to ``share`` that sum to ``total`` exactly."""
    cum = np.round(np.cumsum(share) / share.sum() * total).astype(np.int64)
    return np.diff(np.concatenate(([0], cum)))


def stage_offsets(stages: list[Stage], steps: int) -> list[int]:
    """Step offset of each stage: after a barrier it starts once its producer has finished."""
    off: list[int] = []
    for st in stages:
        off.append(max([off[p] + (steps if b else 0) for p, b in st.inputs], default=0))
    return off


def buffer_bytes(stages: list[Stage], steps: int) -> list[int]:
    """PMU bytes each stage needs at ``steps``: double-buffered input tiles (loads, streams),
    whole inputs behind a barrier (and streams that must wait for one), output tiles in flight,
    and a resident weight once it is loaded for good."""
    off = stage_offsets(stages, steps)
    slots = min(DOUBLE_BUFFER, steps)       # a single tile needs no second buffer
    need = []
    for s, st in enumerate(stages):
        total = 0.0
        for tier, nbytes, _rand, mode in st.loads:
            total += nbytes if mode == "once" else slots * nbytes / steps
        for p, barrier in st.inputs:
            whole = barrier or off[p] != off[s]
            src = stages[p].out_bytes
            total += src if whole else slots * src / steps
        total += slots * st.store_bytes / steps
        need.append(int(math.ceil(total)))
    return need


def allocate(stages: list[Stage], steps: int, spec: RduSpec) -> tuple[list[int], list[int]] | None:
    """PCUs and PMUs per stage: PCUs in proportion to compute work, PMUs to cover each stage's
    buffers and then in proportion to the bytes it streams; None if the section does not fit."""
    pcu_budget = int(spec.pcu.count * spec.mapper.unit_fraction)
    pmu_budget = int(spec.pmu.count * spec.mapper.unit_fraction)
    compute = [i for i, st in enumerate(stages) if st.unit == PCU]
    if len(compute) > pcu_budget:
        return None
    cap = spec.pmu.capacity_KiB * 1024
    need = [max(1, math.ceil(b / cap)) for b in buffer_bytes(stages, steps)]
    if sum(need) > pmu_budget:
        return None
    work = [_work_cycles(st, spec) if st.unit == PCU else 0.0 for st in stages]
    pcus = _proportional(work, compute, pcu_budget)
    traffic = [float(sum(b for _, b, _, _ in st.loads) + sum(stages[p].out_bytes for p, _ in st.inputs))
               for st in stages]
    extra = _proportional(traffic, list(range(len(stages))), pmu_budget - sum(need), minimum=0)
    pmus = [n + e for n, e in zip(need, extra)]
    return pcus, pmus


def _proportional(weights: list[float], members: list[int], budget: int, minimum: int = 1) -> list[int]:
    out = [0] * len(weights)
    if not members:
        return out
    spare = budget - minimum * len(members)
    total = sum(weights[i] for i in members)
    for i in members:
        out[i] = minimum + (int(spare * weights[i] / total) if total > 0 else spare // len(members))
    return out


def _work_cycles(st: Stage, spec: RduSpec) -> float:
    """Cycles of the stage's whole work on one PCU (systolic, SIMD or tail, the largest)."""
    p = spec.pcu
    systolic = st.m * st.heads * math.ceil(st.k / p.stages) * math.ceil(max(1, st.n) / p.lanes) \
        if st.m else 0
    simd = math.ceil(st.simd_elems / p.lanes) * math.ceil(st.simd_ops / p.stages) if st.simd_elems else 0
    return float(max(systolic, simd, st.tail_ops / p.tail_ops_per_cycle, 1))


def place_on_dies(pcus: list[int], pmus: list[int], dies: int) -> list[int]:
    """The die of each stage: stages fill the dies in program order, each on the die that holds
    the middle of its PCUs and PMUs, so every die gets about its share of the section's units."""
    units = np.array(pcus, np.int64) + np.array(pmus, np.int64)
    total = int(units.sum())
    if dies == 1 or total == 0:
        return [0] * len(pcus)
    middle = 2 * np.cumsum(units) - units                  # twice the midpoint (integers)
    # a midpoint on a boundary belongs to the lower die (a lone stage stays on die 0)
    return np.clip((dies * middle - 1) // (2 * total), 0, dies - 1).astype(int).tolist()


def section_tasks(graph: OpGraph, stages: list[Stage], steps: int, spec: RduSpec) -> SectionTasks | None:
    """The section's tasks at ``steps``: a launch, then per step and stage its loads, its
    compute (or link transfer), its stores and the tiles it sends to a stage on another die,
    ordered so every dependency points back. Built with numpy over the steps (a section at a
    large step count has tens of thousands of tasks, and the search builds several)."""
    alloc = allocate(stages, steps, spec)
    if alloc is None:
        return None
    pcus, pmus = alloc
    die = place_on_dies(pcus, pmus, spec.die.count)
    off = stage_offsets(stages, steps)
    per = [_per_step(st, steps, graph) for st in stages]
    crossings = _die_crossings(stages, die, off)
    rows = _Rows(stages, steps, off, crossings)
    cols = _task_columns(stages, steps, rows, per, pcus, pmus, die, crossings)
    dep_ptr, dep_idx = _task_deps(stages, steps, rows, off, die, crossings)
    return SectionTasks(cols, dep_ptr, dep_idx, steps, sum(pcus), sum(pmus))


# task roles within a section: a load into a stage's PMUs, its compute (or link) step, the store
# of its output tile, a tile it sends to a stage on another die
LOAD, COMPUTE, STORE, CROSS = range(4)


def _die_crossings(stages: list[Stage], die: list[int], off: list[int]) -> dict[tuple[int, int], bool]:
    """(producer, consumer) stages on different dies -> whether the whole output crosses once
    (the consumer waits for all of it) rather than tile by tile."""
    crossings: dict[tuple[int, int], bool] = {}
    for c, cst in enumerate(stages):
        for p, barrier in cst.inputs:
            if die[p] != die[c]:
                crossings[(p, c)] = crossings.get((p, c), False) or barrier or off[p] != off[c]
    return crossings


class _Rows:
    """Every task of a section as (stage, role, slot, step) in execution-key order (a stage's
    step j runs at key j + its offset); ``at[stage, role, slot, step]`` is the task's index
    (the launch is task 0), slot = the load's index, or the consumer of a crossing."""

    def __init__(self, stages: list[Stage], steps: int, off: list[int], crossings: dict) -> None:
        every = np.arange(steps, dtype=np.int64)
        parts = []                                     # (stage, role, slot, steps)
        for s, st in enumerate(stages):
            for li, (_tier, _nbytes, _rand, mode) in enumerate(st.loads):
                parts.append((s, LOAD, li, every[:1] if mode == "once" else every))
            parts.append((s, COMPUTE, 0, every))
            if st.store_bytes:
                parts.append((s, STORE, 0, every))
        for (p, c), whole in crossings.items():
            parts.append((p, CROSS, c, every[-1:] if whole else every))
        stage = np.concatenate([np.full(j.size, s, np.int64) for s, _, _, j in parts])
        role = np.concatenate([np.full(j.size, r, np.int64) for _, r, _, j in parts])
        slot = np.concatenate([np.full(j.size, li, np.int64) for _, _, li, j in parts])
        step = np.concatenate([j for *_, j in parts])
        key = step + np.asarray(off, np.int64)[stage]
        order = np.lexsort((step, slot, role, stage, key))
        self.stage, self.role, self.slot, self.step = stage[order], role[order], slot[order], step[order]
        self.n = order.size + 1
        width = max([len(st.loads) for st in stages] + [len(stages), 1])
        self.at = np.full((len(stages), 4, width, steps), -1, np.int32)
        self.at[self.stage, self.role, self.slot, self.step] = np.arange(1, self.n)


def _task_columns(stages: list[Stage], steps: int, rows: _Rows, per: list[dict], pcus: list[int],
                  pmus: list[int], die: list[int], crossings: dict) -> dict:
    n = rows.n
    cols = {name: np.zeros(n, dt) for name, dt in COLUMNS.items()}
    cols.update(op=np.zeros(n, np.int32), unit=np.zeros(n, np.int32), kind=np.zeros(n, np.int32))
    cols["kind"][0], cols["unit"][0], cols["op"][0] = LAUNCH_KIND, AGCU, 0
    cols["config_units"][0] = sum(pcus) + sum(pmus)
    s = rows.stage
    cols["op"][1:], cols["stage"][1:], cols["step"][1:] = s, s, rows.step
    cols["kind"][1:] = np.array([OP_KINDS.index(st.op.kind) for st in stages], np.int32)[s]
    cols["pcus"][1:] = np.asarray(pcus)[s]
    cols["pmus"][1:] = np.asarray(pmus)[s]
    cols["die"][1:] = np.asarray(die)[s]
    every = np.arange(steps)
    for i, st in enumerate(stages):
        share = per[i]["share"]
        for li, (tier, nbytes, rand, mode) in enumerate(st.loads):
            j = every[:1] if mode == "once" else every
            t = rows.at[i, LOAD, li, j]
            cols["unit"][t], cols["random"][t] = tier, rand
            cols["bytes"][t] = _load_parts(nbytes, mode, share)[j]
        t = rows.at[i, COMPUTE, 0, every]
        cols["unit"][t] = st.unit
        for name in ("m", "k", "n"):
            cols[name][t] = per[i][name]
        cols["simd_elems"][t] = np.round(st.simd_elems * share)
        cols["simd_ops"][t] = st.simd_ops
        cols["tail_ops"][t] = np.round(st.tail_ops * share)
        cols["flops"][t] = st.flops * share
        cols["out_bytes"][t] = np.round(st.out_bytes * share)
        cols["link_code"][t], cols["group"][t] = st.link_code, st.group
        # operands the PCUs read from the stage's PMUs each step (a resident or re-read weight
        # in full; streamed tiles their share)
        whole = sum(b for _, b, _, mode in st.loads if mode != "split")
        streamed = sum(b for _, b, _, mode in st.loads if mode == "split") + \
            sum(stages[p].out_bytes for p, _ in st.inputs)
        cols["pmu_bytes"][t] = whole + np.round(streamed * share)
        if st.store_bytes:
            t = rows.at[i, STORE, 0, every]
            cols["unit"][t], cols["store"][t] = HBM, True
            cols["bytes"][t] = _split(st.store_bytes, share)
    for (p, c), whole in crossings.items():
        j = every[-1:] if whole else every
        t = rows.at[p, CROSS, c, j]
        cols["unit"][t] = D2D
        cols["bytes"][t] = stages[p].out_bytes if whole else _split(stages[p].out_bytes, per[p]["share"])
    return cols


def _task_deps(stages: list[Stage], steps: int, rows: _Rows, off: list[int], die: list[int],
               crossings: dict) -> tuple[np.ndarray, np.ndarray]:
    """CSR dependencies: data flow, buffer credits (a tile slot frees when the consumer's step
    DOUBLE_BUFFER back is done) and each stage's steps in order; a task with none waits for
    the launch (task 0)."""
    at, every = rows.at, np.arange(steps)
    later = every[DOUBLE_BUFFER:]
    pairs = []                                         # (task, dependency) arrays

    def need(task: np.ndarray, dep: np.ndarray) -> None:
        shape = np.broadcast(task, dep).shape
        if np.any(np.asarray(dep) < 1):                # every dependency names a task of the section
            raise AssertionError("rdu section tasks: a dependency on a task that does not exist")
        pairs.append((np.broadcast_to(task, shape), np.broadcast_to(dep, shape)))

    streams_to: list[list[int]] = [[] for _ in stages]
    for c, cst in enumerate(stages):
        for p, barrier in cst.inputs:
            if not barrier and off[c] == off[p]:
                streams_to[p].append(c)
    for s, st in enumerate(stages):
        compute = at[s, COMPUTE, 0]
        for li, (_tier, _nbytes, _rand, mode) in enumerate(st.loads):
            if mode == "once":
                need(compute[0], at[s, LOAD, li, 0])
            else:
                need(compute, at[s, LOAD, li])
                need(at[s, LOAD, li, later], compute[later - DOUBLE_BUFFER])    # a buffer slot is free
        for p, barrier in st.inputs:
            via = at[p, CROSS, s] if die[p] != die[s] else at[p, COMPUTE, 0]
            if barrier or off[p] != off[s]:
                need(compute[0], via[steps - 1])
            else:
                need(compute, via)
        for c in streams_to[s]:                        # the consumer's input buffer has a free slot
            need(compute[later], at[c, COMPUTE, 0, later - DOUBLE_BUFFER])
        if st.store_bytes:
            need(compute[later], at[s, STORE, 0, later - DOUBLE_BUFFER])
            need(at[s, STORE, 0], compute)
        need(compute[1:], compute[:-1])
    for (p, c), whole in crossings.items():
        j = every[-1:] if whole else every
        need(at[p, CROSS, c, j], at[p, COMPUTE, 0, j])
    task = np.concatenate([np.ravel(t) for t, _ in pairs] + [np.arange(1, rows.n)]).astype(np.int64)
    dep = np.concatenate([np.ravel(d) for _, d in pairs] + [np.full(rows.n - 1, -1)]).astype(np.int64)
    # one integer per edge, sorted and unique: by task, then dependency
    code = np.unique(task * (rows.n + 1) + (dep + 1))
    task, dep = code // (rows.n + 1), code % (rows.n + 1) - 1
    has_dep = np.zeros(rows.n, bool)
    has_dep[task[dep >= 0]] = True
    # a placeholder -1 stands for "waits for the launch" where a task has no other dependency
    keep = (dep >= 0) | ~has_dep[task]
    task, dep = task[keep], np.maximum(dep[keep], 0)
    dep_ptr = np.zeros(rows.n + 1, np.int64)
    np.cumsum(np.bincount(task, minlength=rows.n), out=dep_ptr[1:])
    return dep_ptr, dep.astype(np.int32)


# --- the search over step counts --------------------------------------------------------------
def _candidates(graph: OpGraph, spec: RduSpec) -> list[int]:
    limit = spec.mapper.max_steps
    if graph.phase.kind == "prefill":
        limit = min(limit, graph.phase.tokens)
    steps, s = [], 1
    while s <= limit:
        steps.append(s)
        s *= 2
    return steps


def _estimate(stages: list[Stage], steps: int, spec: RduSpec, pcus: list[int]) -> float:
    """Analytic cycles: the slowest stage's steps plus one step of every other (fill and
    drain), or the HBM traffic at the tier's bandwidth, whichever is larger."""
    from accsim.arch.rdu.tiers import tier_rates
    rates = tier_rates(spec)
    per_step = [(_work_cycles(st, spec) / max(1, pcus[i])) / steps for i, st in enumerate(stages)]
    traffic = sum(b * (steps if mode == "each" else 1) / rates.bytes_per_cycle[t]
                  for st in stages for t, b, _, mode in st.loads)
    traffic += sum(st.store_bytes for st in stages) / rates.bytes_per_cycle[HBM]
    pipeline = max(per_step, default=0) * steps + sum(per_step) + steps * len(stages)
    return max(pipeline, traffic + traffic / steps)


def plan_section(graph: OpGraph, stages: list[Stage], spec: RduSpec) -> tuple[SectionTasks, dict]:
    """The best step count for one section by the shared search; returns its tasks and effort."""
    from accsim.arch.rdu.model import section_cycles
    built: dict[int, SectionTasks | None] = {}

    def tasks(c) -> SectionTasks | None:
        if c["steps"] not in built:
            built[c["steps"]] = section_tasks(graph, stages, c["steps"], spec)
        return built[c["steps"]]

    def fits(c) -> bool:
        return allocate(stages, c["steps"], spec) is not None

    def estimate(c) -> float:
        return _estimate(stages, c["steps"], spec, allocate(stages, c["steps"], spec)[0])

    def evaluate(c) -> int:
        t = tasks(c)
        return section_cycles(spec, t.columns, t.dep_ptr, t.dep_idx)

    names = "+".join(st.op.kind for st in stages[:4]) + ("+..." if len(stages) > 4 else "")
    try:
        candidates = _candidates(graph, spec)
        result = search({"steps": candidates}, ("pipelined",), fits, estimate, evaluate,
                        len(candidates), spec.mapper.top_k, f"section {names}")
    except ConfigError:
        raise ConfigError([f"mapper: section {names} ({len(stages)} stages) does not fit one socket's "
                           f"PMUs ({spec.pmu.count} x {spec.pmu.capacity_KiB:g} KiB, "
                           f"{spec.mapper.unit_fraction:g} usable) at any step count up to "
                           f"{spec.mapper.max_steps}; use more sockets (--chips N), mapper.fusion=off, "
                           f"or raise mapper.max_steps"]) from None
    best = tasks(result.best)
    return best, {"enumerated": result.enumerated, "fitting": result.fitting,
                  "simulated": len(result.evaluated), "steps": result.best["steps"]}


# --- emit ---------------------------------------------------------------------------------------
def _signature(graph: OpGraph, section: list[Op], placement: Placement) -> tuple:
    """What makes two sections lower identically (op names aside)."""
    names = {op.name: i for i, op in enumerate(section)}
    sig = []
    for op in section:
        ins = []
        for t in op.inputs:
            p = _producer(graph, op, t.name)
            src = ("in", names[p]) if p in names else ("ext", placement.tier.get(t.name, "act"))
            ins.append((t.shape, t.role, t.dtype_bytes, src))
        outs = [(t.shape, t.role, len([s for s in graph.graph.successors(op.name) if s not in names]))
                for t in op.outputs]
        attrs = tuple(sorted((k, v) for k, v in op.attrs.items() if isinstance(v, (int, float, str))))
        sig.append((op.kind, op.flops, op.bytes_read, op.bytes_written, attrs, tuple(ins), tuple(outs),
                    not list(graph.graph.successors(op.name))))
    return tuple(sig)


def _plan(graph: OpGraph, section: list[Op], placement: Placement, spec: RduSpec) -> tuple:
    """Plan a section with weights resident in its PMUs; in prefill, if that fits at no step
    count, re-read the weights every step instead."""
    try:
        return plan_section(graph, _stages(graph, section, placement), spec)
    except ConfigError:
        if graph.phase.kind != "prefill":
            raise
        return plan_section(graph, _stages(graph, section, placement, resident=False), spec)


def _emit(graph: OpGraph, spec: RduSpec, placement: Placement, sections: list[list[Op]]) -> Program:
    planned: dict[tuple, tuple[SectionTasks, dict, int]] = {}
    op_names: list[str] = []
    op_index: dict[str, int] = {}
    parts_cols: list[dict] = []
    parts_ptr, parts_idx = [], []
    offset = 0
    described = []
    for number, section in enumerate(sections):
        sig = _signature(graph, section, placement)
        if sig not in planned:
            planned[sig] = (*_plan(graph, section, placement, spec), len(planned))
        tasks, effort, program_id = planned[sig]
        ids = []
        for op in section:
            if op.name not in op_index:
                op_index[op.name] = len(op_names)
                op_names.append(op.name)
            ids.append(op_index[op.name])
        cols = dict(tasks.columns)
        cols["op"] = np.asarray(ids, np.int32)[tasks.columns["op"]]
        cols["section"] = np.full(cols["op"].shape[0], number, np.int32)
        cols["program_id"] = np.full(cols["op"].shape[0], program_id, np.int32)
        parts_cols.append(cols)
        parts_ptr.append(tasks.dep_ptr[1:] + (parts_ptr[-1][-1] if parts_ptr else 0))
        parts_idx.append(tasks.dep_idx + offset)
        offset += cols["op"].shape[0]
        described.append({"ops": [op.name for op in section], "steps": tasks.steps,
                          "pcus": tasks.pcus, "pmus": tasks.pmus, "program_id": program_id})
    columns = {k: np.concatenate([c[k] for c in parts_cols]) for k in parts_cols[0]}
    dep_ptr = np.concatenate([[0], *parts_ptr]).astype(np.int64)
    dep_idx = np.concatenate(parts_idx).astype(np.int32)
    efforts = [e for _, e, _ in planned.values()]
    return Program.build(family="rdu", units=UNITS, kinds=KINDS, ops=op_names, columns=columns,
                         dep_ptr=dep_ptr, dep_idx=dep_idx, meta={
                             "dtype": graph.model.dtype, "workload": graph.describe(),
                             "tokens": graph.phase.tokens, "fusion": spec.mapper.fusion,
                             "sections": described,
                             "placement": {"hbm_bytes": placement.hbm_bytes, "ddr_bytes": placement.ddr_bytes,
                                           "ddr_symbols": sorted(n for n, t in placement.tier.items()
                                                                 if t == "ddr")},
                             "section_search": {"sections_planned": len(efforts),
                                                "enumerated": sum(e["enumerated"] for e in efforts),
                                                "fitting": sum(e["fitting"] for e in efforts),
                                                "simulated": sum(e["simulated"] for e in efforts)}})


def parallelism(spec: RduSpec, model: Any) -> Parallelism:
    """Tensor parallel over the sockets when that divides the heads, else data parallel."""
    sockets = spec.system.sockets
    if model.n_heads % sockets == 0 and (model.n_kv_heads % sockets == 0 or sockets % model.n_kv_heads == 0):
        return Parallelism(tp=sockets, dp=1)
    return Parallelism(tp=1, dp=sockets)


MAPPER = Mapper(name="rdu-sections", family="rdu", lower=lower, parallelism=parallelism,
                description="Sections of pipelined stages on PCUs/PMUs (fused per decoder layer or one "
                            "kernel per op), step counts by the shared search, SRAM/HBM/DDR placement")
