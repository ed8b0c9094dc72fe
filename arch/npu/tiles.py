"""Tile-level task graphs of one NPU kernel (a GEMM, a vector pass or a collective) on one die.

A kernel occupies every core of the die. Its tiles become tasks on shared units:

  cube    one lane per core: the matrix unit computing one k-step of an output tile
  vector  one lane per vector unit: epilogues (L0C -> UB, fused element-wise work) and vector kernels
  hbm     the die's HBM: one server at the aggregate bandwidth, shared by every core (contention)
  l2      the on-chip L2 (activations that fit stay there between kernels)
  link    the die's network port (collectives)
  onchip  operands that never leave the core (fused attention): zero-time hand-offs

GEMM tiles follow the Da Vinci pipeline: per k-step, the A and B tiles are loaded (memory ->
L1 -> L0A/L0B) and the cube accumulates into L0C; after the last k-step the epilogue drains L0C
through the vector unit and the result is written back. Buffers are double-buffered and finite:
the loads of step q wait until the cube has finished step q - 2 (its buffer half is free), and
the first k-step of output tile o waits for the epilogue of tile o - 2 (its L0C half). A core's
own ports (MTE2 memory port, MTE1 L1 -> L0) add their serialisation beyond the shared memory's
service time as latency, since a core's tile chain never has two transfers of one operand in
flight. Kernels are separated by a full drain (the next kernel starts when every core has
finished), as an NPU runtime launches operators one after another; so a kernel's cycles
depend only on the kernel and the spec, and identical kernels are simulated once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from accsim.arch.npu.spec import NpuSpec
from accsim.arch.npu.systolic import plan as systolic_plan
from accsim.core.limits import require_memory
from accsim.core.program import successors_csr

UNITS = ("cube", "vector", "hbm", "l2", "link", "onchip")
# an npu Program's units (one kernel at a time each) and the stream whose share of the die
# each runs on (NpuSpec.stream_spec): with parallel.stream_cores the MoE block's kernels run
# on their own cores, beside the attention stream
UNIT_STREAMS = {"aicore": "attention", "link": "all", "aicore_moe": "moe"}
CUBE, VECTOR, HBM, L2, LINK, ONCHIP = range(6)
# where an operand lives: code -> unit
ON_CHIP, IN_L2, IN_HBM = 0, 1, 2


@dataclass(frozen=True)
class GemmKernel:
    """``g`` independent GEMMs C[m, n] = A[m, k] B[k, n] with a chosen tiling."""

    g: int
    m: int
    k: int
    n: int
    m_t: int
    k_t: int
    n_t: int
    order: str             # "mn": consecutive tiles share A's row panel; "nm": share B's column panel
    a_bytes: int           # bytes per element
    b_bytes: int
    c_bytes: int
    a_src: int             # ON_CHIP / IN_L2 / IN_HBM
    b_src: int
    c_dst: int
    int8: bool
    epilogue_flops: float  # vector flops per output element (fused element-wise ops)
    extra_read_bytes: int  # other inputs of fused element-wise ops, read during the epilogue
    causal_axis: str = ""  # causal attention: "n" (scores: N is the key axis) or "k" (context)
    causal_group: int = 1  # rows are (query, head) pairs, query-major, with this many heads
    causal_offset: int = 0  # cached tokens before the first query


@dataclass(frozen=True)
class VectorKernel:
    elements: int
    flops: float
    bytes_in: int
    bytes_out: int
    src: int
    dst: int
    elem_bytes: int


# what an all-to-all carries: generic, or an MoE dispatch / combine (their own achieved rates)
PATTERNS = ("generic", "moe_dispatch", "moe_combine")


@dataclass(frozen=True)
class CollectiveKernel:
    code: int              # accsim.core.engine.collectives code
    payload_bytes: int
    group: int
    pattern: int = 0       # index in PATTERNS


@dataclass(frozen=True)
class KernelResult:
    cycles: int                      # makespan of the kernel's tiles (launch overhead excluded)
    unit_busy: tuple[int, ...]       # busy cycles per unit (summed over lanes)
    hbm_bytes: int
    l2_bytes: int
    link_bytes: int
    tasks: int


@dataclass(frozen=True)
class _Rates:
    hbm: float                      # bytes per cycle of the whole die
    l2: float
    link: float
    port: float                     # one core's memory port
    l1_to_l0: float
    fixpipe: float
    vector_flops: float             # per vector unit per cycle at the kernel's element size
    dma_latency: int
    hbm_latency: int
    link_latency: int


def _rates(spec: NpuSpec, elem_bytes: int) -> _Rates:
    hz = spec.clock_hz
    lanes = spec.vector.bytes_per_cycle / elem_bytes
    return _Rates(
        hbm=spec.hbm_GBps * 1e9 / hz,
        l2=spec.memory.l2_bandwidth_GBps * 1e9 / hz,
        link=spec.system.link_GBps * spec.system.link_efficiency * 1e9 / hz,
        port=float(spec.dma.memory_bytes_per_cycle),
        l1_to_l0=float(spec.dma.l1_to_l0_bytes_per_cycle),
        fixpipe=float(spec.dma.l0c_to_ub_bytes_per_cycle),
        vector_flops=lanes * spec.vector.flops_per_element,
        dma_latency=spec.dma.latency_cycles,
        hbm_latency=math.ceil(spec.memory.latency_ns * 1e-9 * hz),
        link_latency=math.ceil(spec.system.link_latency_us * 1e-6 * hz),
    )


def unit_lanes(spec: NpuSpec) -> np.ndarray:
    return np.array([spec.cores, spec.cores * spec.vector.units_per_core, 1, 1, 1,
                     spec.cores * spec.vector.units_per_core], np.int64)


# --- GEMM ------------------------------------------------------------------------------------
def cube_step_cycles(spec: NpuSpec, rows: np.ndarray, ks: np.ndarray, cols: np.ndarray,
                     int8: bool) -> np.ndarray:
    """Cycles of the matrix unit for one k-step of (rows x ks) @ (ks x cols), elementwise."""
    a = spec.array
    if a.kind == "cube":
        depth = a.depth * (a.int8_rate if int8 else 1)
        return (-(-rows // a.rows)) * (-(-ks // depth)) * (-(-cols // a.cols))
    out = np.empty(rows.shape, np.int64)
    for idx in range(rows.size):
        p = systolic_plan(a.dataflow, int(rows.flat[idx]), int(ks.flat[idx]), int(cols.flat[idx]),
                          a.rows, a.cols)
        out.flat[idx] = p.row_folds * p.col_folds * p.cycles_per_fold
    return out


@dataclass(frozen=True)
class _Tiles:
    """Output tiles in execution order with their k-steps."""

    batch: np.ndarray
    ti: np.ndarray
    tj: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    ksteps: np.ndarray
    k_last: np.ndarray      # size of the last k-step of each tile


# peak bytes per k-step while a tiled GEMM is lowered and simulated (tiles, steps, tasks, deps,
# schedule); measured: 437 B per step on a 2M-step GEMM (16384 x 16384 x 8192, ascend-910b)
STEP_BYTES = 450


def _output_tiles(kern: GemmKernel) -> _Tiles:
    mt, nt = -(-kern.m // kern.m_t), -(-kern.n // kern.n_t)
    steps = kern.g * mt * nt * -(-kern.k // kern.k_t)
    require_memory(f"a GEMM of {steps:,} tile steps ({kern.g} x {kern.m} x {kern.k} x {kern.n})",
                   steps * STEP_BYTES, "split it (fewer tokens or a smaller batch per pass) or use a "
                   "preset with more cores / larger tiles")
    b, i, j = np.meshgrid(np.arange(kern.g), np.arange(mt), np.arange(nt), indexing="ij")
    if kern.order == "nm":
        b, i, j = (x.transpose(0, 2, 1) for x in (b, i, j))
    b, i, j = b.ravel(), i.ravel(), j.ravel()
    rows = np.minimum(kern.m_t, kern.m - i * kern.m_t)
    cols = np.minimum(kern.n_t, kern.n - j * kern.n_t)
    k_len = np.full(b.size, kern.k, np.int64)
    if kern.causal_axis:
        # the last query of a row tile sees causal_offset + query + 1 keys
        last_query = ((i + 1) * kern.m_t - 1).clip(max=kern.m - 1) // kern.causal_group
        visible = kern.causal_offset + last_query + 1
        if kern.causal_axis == "n":                         # scores: skip fully masked tiles
            keep = j * kern.n_t < visible
            b, i, j, rows, cols, k_len, visible = (x[keep] for x in (b, i, j, rows, cols, k_len, visible))
            cols = np.minimum(cols, visible - j * kern.n_t)
        else:                                               # context: stop at the last key
            k_len = np.minimum(k_len, visible)
    ksteps = -(-k_len // kern.k_t)
    k_last = k_len - (ksteps - 1) * kern.k_t
    return _Tiles(b, i, j, rows.astype(np.int64), cols.astype(np.int64), ksteps.astype(np.int64),
                  k_last.astype(np.int64))


def _panel_reuse(key: np.ndarray, core: np.ndarray, panel_bytes: np.ndarray, room: float) -> np.ndarray:
    """True where a tile reuses the previous tile's panel still held in the staging buffer."""
    same = np.zeros(key.size, bool)
    same[1:] = (key[1:] == key[:-1]) & (core[1:] == core[:-1])
    return same & (panel_bytes <= room)


def gemm_tasks(spec: NpuSpec, kern: GemmKernel):
    """Task arrays (dep CSR, unit, busy, latency) and traffic of one tiled GEMM kernel."""
    r = _rates(spec, kern.c_bytes)
    t = _output_tiles(kern)
    n_tiles = t.batch.size
    per_core = -(-n_tiles // spec.cores)
    core = np.arange(n_tiles) // per_core
    # per k-step arrays (global step order = tile order, steps in order)
    step_tile = np.repeat(np.arange(n_tiles), t.ksteps)
    first = np.zeros(n_tiles + 1, np.int64)
    np.cumsum(t.ksteps, out=first[1:])
    s_in_tile = np.arange(step_tile.size) - first[step_tile]
    is_last = s_in_tile == t.ksteps[step_tile] - 1
    ks = np.where(is_last, t.k_last[step_tile], kern.k_t)
    rows, cols = t.rows[step_tile], t.cols[step_tile]
    step_core = core[step_tile]
    # staging room per operand: half of L1 if the core has one, else half of its L0 buffer
    b = spec.buffers
    room_a = (b.l1_KiB / 2 if b.l1_KiB else b.ifmap_KiB / 2) * 1024
    room_b = (b.l1_KiB / 2 if b.l1_KiB else b.filter_KiB / 2) * 1024
    k_len = (t.ksteps - 1) * kern.k_t + t.k_last
    reuse_a = _panel_reuse(t.batch * (1 << 32) + t.ti, core, t.rows * k_len * kern.a_bytes, room_a)
    reuse_b = _panel_reuse(t.batch * (1 << 32) + t.tj, core, t.cols * k_len * kern.b_bytes, room_b)
    a_bytes = np.where(reuse_a[step_tile], 0, rows * ks * kern.a_bytes)
    b_bytes = np.where(reuse_b[step_tile], 0, ks * cols * kern.b_bytes)
    l2_room = spec.memory.l2_MiB * 1024 * 1024 / 2
    mt, nt = -(-kern.m // kern.m_t), -(-kern.n // kern.n_t)
    max_k = int(t.ksteps.max())
    reuse_a_ws, reuse_b_ws = reuse_working_sets(spec, kern)
    a_from = _first_touch_source(kern.a_src, (t.batch * mt + t.ti)[step_tile] * max_k + s_in_tile,
                                 reuse_a_ws, l2_room)
    b_from = _first_touch_source(kern.b_src, (t.batch * nt + t.tj)[step_tile] * max_k + s_in_tile,
                                 reuse_b_ws, l2_room)
    cube = cube_step_cycles(spec, rows, ks, cols, kern.int8)
    cube = cube + np.where(s_in_tile == 0, spec.array.pipeline_cycles, 0)
    out_elems = t.rows * t.cols
    epi = (np.ceil(out_elems * b.accumulator_bytes / r.fixpipe)
           + np.ceil(out_elems * kern.epilogue_flops / r.vector_flops)).astype(np.int64)
    c_bytes = out_elems * kern.c_bytes + (kern.extra_read_bytes * out_elems) // max(1, kern.g * kern.m * kern.n)

    # task layout per tile: [LA, LB, CU] per k-step, then EPI, WR
    tasks_per_tile = 3 * t.ksteps + 2
    tile_base = np.zeros(n_tiles + 1, np.int64)
    np.cumsum(tasks_per_tile, out=tile_base[1:])
    n = int(tile_base[-1])
    step_base = tile_base[step_tile] + 3 * s_in_tile
    la, lb, cu = step_base, step_base + 1, step_base + 2
    epi_t = tile_base[:-1] + 3 * t.ksteps
    wr_t = epi_t + 1

    unit = np.empty(n, np.int32)
    busy = np.zeros(n, np.int64)
    lat = np.zeros(n, np.int64)
    for idx, nbytes, src in ((la, a_bytes, a_from), (lb, b_bytes, b_from)):
        unit[idx], busy[idx], lat[idx] = _transfer(r, src, nbytes, staged=bool(b.l1_KiB))
    unit[cu], busy[cu] = CUBE, cube
    unit[epi_t], busy[epi_t] = VECTOR, np.maximum(epi, 1)
    unit[wr_t], busy[wr_t], lat[wr_t] = _transfer(r, kern.c_dst, c_bytes, staged=False)

    # dependencies
    g = np.arange(step_tile.size)
    prev_same = np.zeros(g.size, bool)
    prev_same[1:] = step_core[1:] == step_core[:-1]
    prev2_same = np.zeros(g.size, bool)
    prev2_same[2:] = step_core[2:] == step_core[:-2]
    tile_prev2 = np.zeros(n_tiles, bool)
    tile_prev2[2:] = core[2:] == core[:-2]
    cu_waits_epi = (s_in_tile == 0) & tile_prev2[step_tile]
    counts = np.zeros(n, np.int64)
    counts[la] = prev2_same
    counts[lb] = prev2_same
    counts[cu] = 2 + prev_same + cu_waits_epi
    counts[epi_t] = 1
    counts[wr_t] = 1
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    idx = np.empty(int(ptr[-1]), np.int32)
    load_dep = cu[np.maximum(g - 2, 0)]
    idx[ptr[la][prev2_same]] = load_dep[prev2_same]
    idx[ptr[lb][prev2_same]] = load_dep[prev2_same]
    at = ptr[cu]
    idx[at] = la
    idx[at + 1] = lb
    idx[(at + 2)[prev_same]] = cu[np.maximum(g - 1, 0)][prev_same]
    epi_of_prev2 = epi_t[np.maximum(step_tile - 2, 0)]
    idx[(at + 2 + prev_same)[cu_waits_epi]] = epi_of_prev2[cu_waits_epi]
    last_cu = cu[first[1:] - 1]
    idx[ptr[epi_t]] = last_cu
    idx[ptr[wr_t]] = epi_t
    traffic = _traffic(a_from, a_bytes) + _traffic(b_from, b_bytes) + _traffic(kern.c_dst, c_bytes)
    return ptr, idx, unit, busy, lat, traffic


def reuse_working_sets(spec: NpuSpec, kern: GemmKernel) -> tuple[int, int]:
    """Bytes touched between two reads of the same A block and of the same B block.

    The operand whose panel consecutive tiles share (A in "mn" order, B in "nm") is re-read
    after every core has moved on by one tile: its working set is one panel per core. The
    other operand is re-read only after a full sweep over it: its working set is all of it.
    """
    a_all = kern.g * kern.m * kern.k * kern.a_bytes
    b_all = kern.g * kern.k * kern.n * kern.b_bytes
    a_panel = spec.cores * min(kern.m, kern.m_t) * kern.k * kern.a_bytes
    b_panel = spec.cores * kern.k * min(kern.n, kern.n_t) * kern.b_bytes
    return (min(a_all, a_panel), b_all) if kern.order == "mn" else (a_all, min(b_all, b_panel))


def _first_touch_source(src: int, block_key: np.ndarray, working_set_bytes: int,
                        l2_room: float) -> np.ndarray:
    """Where each load of an operand's blocks is served from: the operand's own memory for
    the first load of a block (in tile order), L2 for re-reads when the bytes touched between
    two reads of a block fit in the L2 share (L2 as a reuse-distance filter: traffic is exact,
    the first touch is charged to the first tile in order)."""
    where = np.full(block_key.size, src, np.int32)
    if src != IN_HBM or working_set_bytes > l2_room:
        return where
    first = np.zeros(block_key.size, bool)
    first[np.unique(block_key, return_index=True)[1]] = True
    where[~first] = IN_L2
    return where


def _transfer(r: _Rates, src, nbytes: np.ndarray, staged: bool):
    """Unit, busy and latency of transfers of ``nbytes`` from/to memory ``src`` (a code, or
    one code per transfer)."""
    nbytes = np.asarray(nbytes, np.int64)
    src = np.broadcast_to(np.asarray(src, np.int32), nbytes.shape)
    unit = np.select([src == ON_CHIP, src == IN_L2], [ONCHIP, L2], HBM).astype(np.int32)
    bw = np.where(src == IN_HBM, r.hbm, r.l2)
    busy = np.where(src == ON_CHIP, 0, np.ceil(nbytes / bw)).astype(np.int64)
    port = np.ceil(nbytes / r.port).astype(np.int64)
    lat = r.dma_latency + np.maximum(port - busy, 0) + np.where(src == IN_HBM, r.hbm_latency, 0)
    if staged:
        lat = lat + np.ceil(nbytes / r.l1_to_l0).astype(np.int64)
    return unit, busy, np.where((nbytes > 0) & (src != ON_CHIP), lat, 0)


def _traffic(src, nbytes: np.ndarray) -> np.ndarray:
    """(hbm, l2) bytes of transfers to/from ``src`` (a code, or one per transfer)."""
    nbytes = np.asarray(nbytes, np.int64)
    src = np.broadcast_to(np.asarray(src, np.int32), nbytes.shape)
    return np.array([int(nbytes[src == IN_HBM].sum()), int(nbytes[src == IN_L2].sum())], np.int64)


# --- vector kernels ---------------------------------------------------------------------------
def vector_tasks(spec: NpuSpec, kern: VectorKernel):
    """Chunks of a vector kernel spread over the vector units: load -> compute -> store each,
    double-buffered in the unified buffer."""
    r = _rates(spec, kern.elem_bytes)
    ub_bytes = (spec.buffers.ub_KiB or spec.buffers.ofmap_KiB) * 1024
    per_elem = max(1.0, (kern.bytes_in + kern.bytes_out) / max(1, kern.elements))
    chunk = max(1, int(ub_bytes / 2 // per_elem))
    n_chunks = max(1, -(-kern.elements // chunk))
    units = spec.cores * spec.vector.units_per_core
    elems = np.full(n_chunks, chunk, np.int64)
    elems[-1] = kern.elements - chunk * (n_chunks - 1)
    frac = elems / max(1, kern.elements)
    b_in = np.round(frac * kern.bytes_in).astype(np.int64)
    b_out = np.round(frac * kern.bytes_out).astype(np.int64)
    comp = np.maximum(1, np.ceil(frac * kern.flops / r.vector_flops)).astype(np.int64)
    per_unit = -(-n_chunks // units)
    chain = np.arange(n_chunks) // per_unit
    n = 3 * n_chunks
    ld, vc, st = np.arange(0, n, 3), np.arange(1, n, 3), np.arange(2, n, 3)
    unit = np.empty(n, np.int32)
    busy = np.zeros(n, np.int64)
    lat = np.zeros(n, np.int64)
    unit[ld], busy[ld], lat[ld] = _transfer(r, kern.src, b_in, staged=False)
    unit[vc], busy[vc] = VECTOR, comp
    unit[st], busy[st], lat[st] = _transfer(r, kern.dst, b_out, staged=False)
    q = np.arange(n_chunks)
    prev = np.zeros(n_chunks, bool)
    prev[1:] = chain[1:] == chain[:-1]
    prev2 = np.zeros(n_chunks, bool)
    prev2[2:] = chain[2:] == chain[:-2]
    counts = np.zeros(n, np.int64)
    counts[ld] = prev2
    counts[vc] = 1 + prev
    counts[st] = 1
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    idx = np.empty(int(ptr[-1]), np.int32)
    idx[ptr[ld][prev2]] = vc[np.maximum(q - 2, 0)][prev2]
    idx[ptr[vc]] = ld
    idx[(ptr[vc] + 1)[prev]] = vc[np.maximum(q - 1, 0)][prev]
    idx[ptr[st]] = vc
    traffic = _traffic(kern.src, b_in) + _traffic(kern.dst, b_out)
    return ptr, idx, unit, busy, lat, traffic


def collective_kernel(kind: str, attrs) -> CollectiveKernel:
    """The kernel of a collective op (its kind and graph attributes)."""
    from accsim.core.engine.collectives import COLLECTIVE_CODES
    return CollectiveKernel(COLLECTIVE_CODES[kind], int(attrs["payload_bytes"]), int(attrs["group"]),
                            PATTERNS.index(attrs["pattern"]))


def _pattern_efficiency(spec: NpuSpec, pattern: int) -> float:
    """The pattern's achieved share of the link rate, relative to link_efficiency (which
    _rates already applies); a pattern without its own figure takes link_efficiency."""
    s = spec.system
    own = {"moe_dispatch": s.dispatch_link_efficiency,
           "moe_combine": s.combine_link_efficiency}.get(PATTERNS[pattern], 0.0)
    return own / s.link_efficiency if own else 1.0


def all_to_all_costs_us(spec: NpuSpec, pattern: str) -> tuple[float, float]:
    """(fixed, per peer) software cost of an all-to-all: combine's own when given."""
    s = spec.system
    if pattern == "moe_combine":
        return (s.all_to_all_fixed_us if s.combine_fixed_us < 0 else s.combine_fixed_us,
                s.all_to_all_per_peer_us if s.combine_per_peer_us < 0 else s.combine_per_peer_us)
    return s.all_to_all_fixed_us, s.all_to_all_per_peer_us


def collective_tasks(spec: NpuSpec, kern: CollectiveKernel):
    """One task on the die's port: wire bytes at the link rate, plus the latency of its steps;
    an all-to-all also pays a fixed cost and a cost per peer (a 256-way dispatch talks to 255)."""
    from accsim.core.engine.collectives import ALL_TO_ALL, collective_wire
    r = _rates(spec, 2)
    wire, steps = collective_wire(kern.code, kern.payload_bytes, kern.group)
    busy = np.array([math.ceil(wire / (r.link * _pattern_efficiency(spec, kern.pattern)))], np.int64)
    latency = steps * r.link_latency
    if kern.code == ALL_TO_ALL and kern.group > 1:
        fixed_us, per_peer_us = all_to_all_costs_us(spec, PATTERNS[kern.pattern])
        latency += math.ceil((fixed_us + per_peer_us * (kern.group - 1)) * 1e-6 * spec.clock_hz)
    lat = np.array([latency], np.int64)
    return (np.zeros(2, np.int64), np.zeros(0, np.int32), np.array([LINK], np.int32), busy, lat,
            np.array([0, 0], np.int64), int(wire))


# --- running one kernel -------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def simulate_kernel(spec: NpuSpec, kern) -> KernelResult:
    """Cycle-level tile schedule of one kernel on one die (memoised: a pure function)."""
    from accsim.core.engine import run_task_graph, unit_busy_cycles
    link_bytes = 0
    if isinstance(kern, GemmKernel):
        ptr, idx, unit, busy, lat, traffic = gemm_tasks(spec, kern)
    elif isinstance(kern, VectorKernel):
        ptr, idx, unit, busy, lat, traffic = vector_tasks(spec, kern)
    else:
        ptr, idx, unit, busy, lat, traffic, link_bytes = collective_tasks(spec, kern)
    sptr, sidx = successors_csr(ptr, idx)
    _, finish, _ = run_task_graph(ptr, idx, sptr, sidx, unit, busy, lat, unit_lanes(spec))
    per_unit = unit_busy_cycles(unit, busy, len(UNITS))
    return KernelResult(int(finish.max()) if finish.size else 0, tuple(int(x) for x in per_unit),
                        int(traffic[0]), int(traffic[1]), link_bytes, int(unit.size))


# --- Program rows <-> kernels -----------------------------------------------------------------
# An npu Program has one row per kernel; these columns describe it (unused ones are 0).
GEMM, VECTOR_KERNEL, COLLECTIVE = 0, 1, 2
ORDERS = ("mn", "nm")
CAUSAL_AXES = ("", "n", "k")
KERNEL_COLUMNS = {
    "kclass": np.int32, "g": np.int64, "m": np.int64, "k": np.int64, "n": np.int64,
    "m_t": np.int64, "k_t": np.int64, "n_t": np.int64, "order": np.int32,
    "a_bytes": np.int64, "b_bytes": np.int64, "c_bytes": np.int64,
    "a_src": np.int32, "b_src": np.int32, "c_dst": np.int32, "int8": np.bool_,
    "epilogue_flops": np.float64, "extra_read_bytes": np.int64, "causal_axis": np.int32,
    "causal_group": np.int64, "causal_offset": np.int64,
    "elements": np.int64, "vec_flops": np.float64, "bytes_in": np.int64, "bytes_out": np.int64,
    "elem_bytes": np.int64, "coll_code": np.int32, "payload_bytes": np.int64, "group": np.int64,
    "coll_pattern": np.int32,
    "flops": np.float64,     # the op's useful flops (for utilisation and the roofline check)
}


def kernel_row(kern, flops: float) -> dict:
    """The Program columns of one kernel."""
    row = {name: 0 for name in KERNEL_COLUMNS}
    row["int8"] = False
    row["flops"] = float(flops)
    if isinstance(kern, GemmKernel):
        row.update({f: getattr(kern, f) for f in ("g", "m", "k", "n", "m_t", "k_t", "n_t", "a_bytes",
                                                  "b_bytes", "c_bytes", "a_src", "b_src", "c_dst",
                                                  "int8", "extra_read_bytes", "causal_group",
                                                  "causal_offset")})
        row.update(kclass=GEMM, order=ORDERS.index(kern.order), epilogue_flops=float(kern.epilogue_flops),
                   causal_axis=CAUSAL_AXES.index(kern.causal_axis))
    elif isinstance(kern, VectorKernel):
        row.update(kclass=VECTOR_KERNEL, elements=kern.elements, vec_flops=float(kern.flops),
                   bytes_in=kern.bytes_in, bytes_out=kern.bytes_out, a_src=kern.src,
                   c_dst=kern.dst, elem_bytes=kern.elem_bytes)
    else:
        row.update(kclass=COLLECTIVE, coll_code=kern.code, payload_bytes=kern.payload_bytes,
                   group=kern.group, coll_pattern=kern.pattern)
    return row


def kernel_of_row(columns, i: int):
    """Rebuild the kernel of Program row ``i``."""
    c = {name: columns[name][i].item() for name in KERNEL_COLUMNS}
    if c["kclass"] == GEMM:
        return GemmKernel(c["g"], c["m"], c["k"], c["n"], c["m_t"], c["k_t"], c["n_t"],
                          ORDERS[c["order"]], c["a_bytes"], c["b_bytes"], c["c_bytes"], c["a_src"],
                          c["b_src"], c["c_dst"], bool(c["int8"]), c["epilogue_flops"],
                          c["extra_read_bytes"], CAUSAL_AXES[c["causal_axis"]], c["causal_group"],
                          c["causal_offset"])
    if c["kclass"] == VECTOR_KERNEL:
        return VectorKernel(c["elements"], c["vec_flops"], c["bytes_in"], c["bytes_out"],
                            c["a_src"], c["c_dst"], c["elem_bytes"])
    return CollectiveKernel(c["coll_code"], c["payload_bytes"], c["group"], c["coll_pattern"])
