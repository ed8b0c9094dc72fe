"""Lower an OpGraph onto a GPU server with computational storage (InstInfer) or onto its
offloading baselines (FlexGen, DeepSpeed), as one Program on one timeline.

The GPU side is lowered as the gpu family lowers it (``mappers.gpu.GpuStream``: host launches,
host-link transfers of offloaded data, device tasks). Per system:

* instinfer: weights on the GPU, the KV cache in the drives' flash, heads split over the
  drives (KV pages of a head stripe over the drive's channels and dies; the flash component's
  page striping). Prefill runs on the GPU and writes each layer's KV cache peer-to-peer to the
  drives as soon as the layer has produced it. In decode, each layer's attention (the cache
  append, scores, softmax, context) runs in the drives: the GPU sends the new q, k, v
  peer-to-peer; each drive appends the new keys and values, reads its KV pages in chunks
  (dense: every page; SparF: the page groups of the channel-major K copy that the top-r
  query channels fall in, then the token pages its page-level step selects, which keep about
  half of the top-k sparsity) and runs its engine on each chunk as it arrives; the context
  returns peer-to-peer before the GPU's output projection. The decode batch splits into
  microbatches so one's in-storage attention overlaps another's GPU layers.
* deepspeed: ZeRO-Inference: weights in host memory, streamed over PCIe at every use (one layer
  ahead); the KV cache in host memory too, where its decode attention runs on the host CPU
  (DeepSpeedExamples zero_inference/model-support.md: the new keys, values and query go to the
  CPU, scores, softmax and context run there, the context comes back for the output
  projection); prefill's attention runs on the GPU and its new cache is copied out.
* flexgen: FlexGen's policy search: fractions of the weights and of the KV cache on GPU, host
  memory and SSD (a grid of ``policy.grid_step``), each placement costed by FlexGen's
  overlapped cost model (the slowest of GPU compute, host-link traffic and SSD traffic per
  decode step), the fitting placement with the lowest cost kept; disk-resident data is read
  from the SSD into host memory, then crosses the host link, one layer ahead.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Any


from accsim.arch.csd.ir import (ENGINE, EXTRA_COLUMNS, FLASH_READ, FLASH_WRITE, HOST_CPU, P2P,
                                SSD_READ, STORAGE_KINDS, ZERO, drive_units)
from accsim.arch.csd.spec import CsdSpec
from accsim.arch.gpu.kernels import HOST_TRANSFER
from accsim.core.capacity import GIB, CapacityError, require_fits, resident_bytes
from accsim.core.errors import ConfigError
from accsim.core.program import Program, ProgramBuilder
from accsim.core.registry import Mapper
from accsim.mappers.gpu import COLUMNS as GPU_COLUMNS
from accsim.mappers.gpu import TASK_KINDS as GPU_KINDS
from accsim.mappers.gpu import UNITS as GPU_UNITS
from accsim.mappers.gpu import GpuStream
from accsim.workloads.graph import Op, OpGraph, Parallelism, build_graph

DTYPES = ("fp16", "bf16")
ATTENTION = ("kv_append", "attn_score", "softmax", "attn_context")
KV_OPS = ("kv_append", "attn_score", "attn_context")


def lower(graph: OpGraph, spec: CsdSpec) -> Program:
    """One pass of the server as one Program."""
    spec.check()
    if graph.model.dtype not in DTYPES:
        raise ConfigError([f"dtype: the csd family runs {', '.join(DTYPES)} (the attention engine's "
                           f"format); got {graph.model.dtype!r}"])
    gpu = spec.gpu_spec()
    if gpu.devices != graph.parallel.tp:
        raise ConfigError([f"gpu: '{spec.gpu}' has {gpu.devices} devices but the graph was built for "
                           f"tp={graph.parallel.tp}"])
    if gpu.devices > 1 and spec.system != "instinfer":
        raise ConfigError([f"gpu: '{spec.gpu}' has {gpu.devices} GPUs; the {spec.system} baseline runs on one "
                           "GPU (its host memory and SSD are not split between GPUs here); use a one-GPU preset"])
    if spec.drives.count > graph.model.n_kv_heads:
        raise ConfigError([f"drives.count: {spec.drives.count} drives for {graph.model.n_kv_heads} KV heads; "
                           f"heads split over the drives, so use at most {graph.model.n_kv_heads}"])
    placement = place(graph, spec, gpu)
    # DeepSpeed's decode attention runs where its cache lives: nothing of the cache crosses PCIe
    cache_on_host_cpu = spec.system == "deepspeed" and graph.phase.kind == "decode"
    gpu_side = replace(gpu, offload=replace(gpu.offload, weights_fraction=placement.weights_off_gpu,
                                            kv_fraction=0.0 if cache_on_host_cpu else placement.kv_off_gpu))
    mb = _microbatches(graph, spec)
    if mb > 1:
        graph = build_graph(graph.model, replace(graph.phase, batch=graph.phase.batch // mb), graph.parallel)
    units = GPU_UNITS + ("ssd",) + drive_units(spec.drives.count) + (("host_cpu",) if cache_on_host_cpu else ())
    b = ProgramBuilder("csd", units, GPU_KINDS + STORAGE_KINDS, {**GPU_COLUMNS, **EXTRA_COLUMNS})
    host: list[int] = []
    gpu_streams = [GpuStream(b, gpu_side, graph.model.model_type, graph.phase.kind, ZERO, host)
                   for _ in range(mb)]
    lowering = [_Stream(b, spec, graph, placement, stream, j) for j, stream in enumerate(gpu_streams)]
    for op in graph.ops():
        for stream in lowering:
            stream.op(op)
    return b.build(meta={"dtype": graph.model.dtype, "workload": graph.describe(), "mode": gpu.framework.mode,
                         "microbatches": mb, "placement": placement.describe()})


def _microbatches(graph: OpGraph, spec: CsdSpec) -> int:
    """The largest divisor of the batch up to ``pipeline.microbatches`` (decode in the drives)."""
    if spec.system != "instinfer" or graph.phase.kind != "decode":
        return 1
    return max(d for d in range(1, spec.pipeline.microbatches + 1) if graph.phase.batch % d == 0)


# --- placement ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Placement:
    weights: tuple[float, float, float]     # fractions on GPU, host, SSD
    kv: tuple[float, float, float]
    search: dict

    @property
    def weights_off_gpu(self) -> float:
        return self.weights[1] + self.weights[2]

    @property
    def kv_off_gpu(self) -> float:
        return self.kv[1] + self.kv[2]

    def describe(self) -> dict:
        return {"weights_gpu_host_ssd": list(self.weights), "kv_gpu_host_ssd": list(self.kv), **self.search}


def place(graph: OpGraph, spec: CsdSpec, gpu: Any) -> Placement:
    resident = resident_bytes(graph)
    if spec.system == "instinfer":
        require_fits(graph, replace(resident, kv_bytes=0), gpu.memory.capacity_GiB * GIB, "gpu.memory.capacity_GiB", "GPU",
                     ["more GPUs (gpu=a6000x2)", "a GPU with more memory (gpu=...)", "or a smaller model"])
        capacity = _flash_capacity(spec) * spec.drives.count
        if resident.kv_bytes * graph.parallel.tp > capacity:     # every GPU's heads live in the drives
            raise CapacityError([f"drives.count: the KV cache needs {resident.kv_bytes * graph.parallel.tp / GIB:.0f} GiB but "
                                 f"{spec.drives.count} drive(s) hold {capacity / GIB:.0f} GiB; add drives or "
                                 f"use a smaller batch/context"])
        return Placement((1.0, 0.0, 0.0), (0.0, 0.0, 0.0), {})    # KV in the drives
    if spec.system == "deepspeed":
        # ZeRO-Inference: the weights live in host memory and stream to the GPU layer by layer
        # (CPU offload), the KV cache too (KV offload); past host memory it would swap
        host_need = resident.weights_bytes + resident.kv_bytes
        if host_need > spec.host.memory_GiB * GIB:
            raise CapacityError([f"host.memory_GiB: ZeRO-Inference keeps {resident.weights_bytes / GIB:.0f} GiB of "
                                 f"weights and {resident.kv_bytes / GIB:.0f} GiB of KV cache in host memory but "
                                 f"the host has {spec.host.memory_GiB:g} GiB (it would swap to the SSD); use a "
                                 f"smaller batch/context"])
        return Placement((0.0, 1.0, 0.0), (0.0, 1.0, 0.0), {})
    placement = flexgen_policy(graph, spec, gpu)
    if graph.phase.kind == "prefill":
        _flexgen_prefill_fits(graph, gpu, placement)
    return placement


def _flexgen_prefill_fits(graph: OpGraph, gpu: Any, placement: Placement) -> None:
    """FlexGen's prefill materialises a layer's attention scores (batch x heads x prompt^2): two
    such tensors live at once (the scores and their masked copy or softmax; FlexLLMGen's mha)
    beside the GPU-resident weights, the layer's new keys and values and its hidden states.
    The placement search plans for decode and does not count them: past GPU memory the prefill
    runs out of memory (the InstInfer paper: FlexGen OOM at batch 128)."""
    m, ph = graph.model, graph.phase
    act = m.role_bytes("activation")
    scores = 2 * ph.batch * m.n_heads * ph.new_tokens ** 2 * act
    new_kv = 2 * ph.batch * ph.new_tokens * m.n_kv_heads * m.head_dim * m.role_bytes("kv_cache")
    hidden = 2 * ph.batch * ph.new_tokens * m.d_model * act
    weights = placement.weights[0] * resident_bytes(graph).weights_bytes
    need, capacity = weights + scores + new_kv + hidden, gpu.memory.capacity_GiB * GIB
    if need > capacity:
        raise CapacityError([f"gpu.memory.capacity_GiB: FlexGen's prefill needs {need / GIB:.1f} GiB on the GPU "
                             f"({weights / GIB:.1f} GiB of weights placed there, {scores / GIB:.1f} GiB of two "
                             f"attention-score tensors, {(new_kv + hidden) / GIB:.1f} GiB of new keys, values and "
                             f"hidden states) but it has {gpu.memory.capacity_GiB:g} GiB; use a smaller batch or prompt"])


def _flash_capacity(spec: CsdSpec) -> float:
    from accsim.core.presets import preset_spec
    return preset_spec(spec.drives.flash).flash.capacity_GiB * GIB


def flexgen_policy(graph: OpGraph, spec: CsdSpec, gpu: Any) -> Placement:
    """FlexGen's placement search over (GPU, host, SSD) fractions of weights and KV cache."""
    from accsim.arch.csd.model import storage_rates
    from accsim.arch.gpu.model import device_rates
    resident = resident_bytes(graph)
    # FlexGen plans once for the whole sequence: the cache at the model's full context
    W = float(resident.weights_bytes)
    planned = max(graph.model.max_positions, graph.phase.kv_len)
    KV = float(resident.kv_bytes) * planned / max(1, graph.phase.kv_len)
    layers = max(1, graph.model.n_layers)
    rates = device_rates(gpu, graph.model.dtype)
    hz = gpu.clock_hz
    compute_s = sum(max(op.flops / rates["flops_per_cycle"], (op.bytes_read + op.bytes_written)
                        / rates["mem_bytes_per_cycle"]) for op in graph.ops()) / hz
    host_Bps = rates["host_bytes_per_cycle"] * hz
    ssd_Bps = storage_rates(spec).ssd * hz
    steps = round(1 / spec.policy.grid_step)
    grid = [(g / steps, c / steps, (steps - g - c) / steps) for g in range(steps, -1, -1)
            for c in range(steps - g, -1, -1)]
    gpu_cap, host_cap = gpu.memory.capacity_GiB * GIB, spec.host.memory_GiB * GIB
    best, enumerated, fitting = None, 0, 0
    allowed = spec.policy.kv_tiers
    kv_grid = [kv for kv in grid if all(f == 0 or tier in allowed for f, tier in zip(kv, ("gpu", "host", "ssd")))]
    for w, kv in itertools.product(grid, kv_grid):
        enumerated += 1
        # streamed data needs two layers' buffers where it is staged (GPU, and host for SSD data)
        gpu_need = w[0] * W + kv[0] * KV + 2 * ((w[1] + w[2]) * W + (kv[1] + kv[2]) * KV) / layers
        host_need = w[1] * W + kv[1] * KV + 2 * (w[2] * W + kv[2] * KV) / layers
        if gpu_need > gpu_cap or host_need > host_cap:
            continue
        fitting += 1
        cost = max(compute_s, ((w[1] + w[2]) * W + (kv[1] + kv[2]) * KV) / host_Bps,
                   (w[2] * W + kv[2] * KV) / ssd_Bps)
        if best is None or cost < best[0]:
            best = (cost, w, kv)
    if best is None:
        raise CapacityError([f"host.memory_GiB: no FlexGen placement of {W / GIB:.0f} GiB of weights and "
                             f"{KV / GIB:.0f} GiB of KV cache fits the GPU ({gpu.memory.capacity_GiB:g} GiB) and "
                             f"the host ({spec.host.memory_GiB:g} GiB) with its staging buffers; use a smaller "
                             f"batch/context"])
    return Placement(best[1], best[2], {"policy_enumerated": enumerated, "policy_fitting": fitting,
                                        "policy_cost_s": best[0]})


# --- one microbatch's tasks -------------------------------------------------------------------
class _Stream:
    def __init__(self, b: ProgramBuilder, spec: CsdSpec, graph: OpGraph, placement: Placement,
                 gpu: GpuStream, index: int) -> None:
        self.b, self.spec, self.g, self.placement, self.gpu = b, spec, graph, placement, gpu
        self.index = index
        self.pending: list[int] = []         # the drives' (host's) results the next GPU op waits for
        self.host_cpu_prev: list[int] = []   # DeepSpeed: the host CPU's last attention task
        self.decode = graph.phase.kind == "decode"
        # the Program is one GPU's share (tensor parallel); the drives serve every GPU's heads
        self.tp = graph.parallel.tp

    def op(self, op: Op) -> None:
        kv = {"kv": op.kind in KV_OPS}
        if self.spec.system == "instinfer" and self.decode and op.kind in ATTENTION:
            if op.kind == "kv_append":
                self.pending = self.attention_in_drives(op)
            return
        if self.spec.system == "deepspeed" and self.decode and op.kind in ATTENTION:
            self.attention_on_host_cpu(op)
            return
        if self.spec.system == "instinfer" and op.kind == "kv_append":
            task = self.gpu.emit(op, columns=kv)
            self.write_prompt_cache(op, task)
            return
        staged = self.from_ssd(op) if self.spec.system == "flexgen" else []
        self.gpu.emit(op, after=self.pending, transfer_after=staged, columns=kv)
        self.pending = []

    def add(self, op: Op, unit: str, kind: str, deps, code: int, **values) -> int:
        return self.b.add(op.name, unit, kind, deps, task_class=code, **{"n_kernels": 0, **self.gpu.zero, **values})

    def from_ssd(self, op: Op) -> list[int]:
        """FlexGen: the op's SSD-resident share read into host memory (one layer ahead)."""
        w, kv = self.placement.weights[2], self.placement.kv[2]
        weights = sum(t.bytes for t in op.weights)
        cache = op.bytes_written if op.kind == "kv_append" else sum(t.bytes for t in op.inputs if t.role == "kv_cache")
        nbytes = round(weights * w + cache * kv)
        if not nbytes or op.kind == "kv_append":
            return []
        window = self.gpu.layer_last_device.get(op.layer - 2)
        return [self.add(op, "ssd", "ssd_read", [window] if window is not None else [], SSD_READ,
                         storage_bytes=nbytes, kv=cache > 0)]

    def attention_on_host_cpu(self, op: Op) -> None:
        """DeepSpeed decode: the new keys, values and query cross PCIe to the host, which appends
        them to its cache and runs scores, softmax and context over it; the context crosses
        back before the GPU's output projection."""
        if op.kind == "kv_append":
            score = self.g.op(f"L{op.layer}.attn.score")
            sent = self.add(op, "host_link", "host_transfer", self.gpu.stream_prev, HOST_TRANSFER,
                            link_bytes=op.bytes_written + score.inputs[0].bytes, kv=True)
            self.host_cpu_prev = [sent]
        task = self.add(op, "host_cpu", op.kind, self.host_cpu_prev, HOST_CPU, n_kernels=1,
                        flops=float(op.flops), mem_bytes=op.bytes_read + op.bytes_written, kv=op.kind in KV_OPS)
        self.host_cpu_prev = [task]
        if op.kind == "attn_context":
            self.pending = [self.add(op, "host_link", "host_transfer", [task], HOST_TRANSFER,
                                     link_bytes=op.bytes_written)]

    def shares(self) -> list[float]:
        """Each drive's share of the KV heads (heads split as evenly as they go)."""
        heads, n = self.g.model.n_kv_heads, self.spec.drives.count
        counts = [heads // n + (1 if i < heads % n else 0) for i in range(n)]
        return [c / heads for c in counts]

    def programmed(self, nbytes: int) -> int:
        """Flash bytes for ``nbytes`` of new keys and values: SparF keeps K twice (token-major
        pages for the exact attention, channel-major pages for the approximate scores)."""
        return nbytes + nbytes // 2 if self.spec.attention.mode == "sparf" else nbytes

    def write_prompt_cache(self, op: Op, produced: int) -> None:
        """Prefill: the layer's new keys and values go peer-to-peer to the drives and are
        programmed into their flash."""
        for i, share in enumerate(self.shares()):
            nbytes = round(op.bytes_written * self.tp * share)
            if nbytes:
                sent = self.add(op, f"csd{i}_link", "p2p", [produced], P2P, storage_bytes=nbytes, kv=True)
                self.add(op, f"csd{i}_flash", "flash_write", [sent], FLASH_WRITE,
                         storage_bytes=self.programmed(nbytes), kv=True)

    def attention_in_drives(self, append: Op) -> list[int]:
        """Decode: one layer's attention in every drive; returns the tasks returning its context."""
        m, ph, att = self.g.model, self.g.phase, self.spec.attention
        B, T, hd = ph.batch, ph.new_tokens, m.head_dim
        cached, kv_len = ph.context_len, ph.kv_len
        score = self.g.op(f"L{append.layer}.attn.score")
        group = m.n_heads // m.n_kv_heads
        sparf = att.mode == "sparf"
        chunks = self.spec.pipeline.chunks
        returned = []
        for i, share in enumerate(self.shares()):
            if share == 0:
                continue
            kv_heads = m.n_kv_heads * share
            q_heads = kv_heads * group
            k_bytes = B * kv_heads * cached * hd * score.inputs[1].dtype_bytes
            q_bytes = round(B * T * q_heads * hd * score.inputs[0].dtype_bytes)
            new_kv = round(append.bytes_written * self.tp * share)
            sent = self.add(append, f"csd{i}_link", "p2p", self.gpu.stream_prev, P2P,
                            storage_bytes=q_bytes + new_kv, kv=True)
            # the new tokens' keys and values join the drive's buffer and are programmed
            self.add(append, f"csd{i}_flash", "flash_write", [sent], FLASH_WRITE,
                     storage_bytes=self.programmed(new_kv), kv=True)
            if sparf:
                # step 1: the top-r channels of the channel-major K copy (approximate scores);
                # step 2: whole token pages (K and V) of the selected pages, which keep only part
                # of the token sparsity; the controller's filters drop the other tokens
                token_pages = 2 * k_bytes * min(1.0, att.token_fraction / att.page_sparsity_kept)
                read = k_bytes * channel_groups_read(hd, att.channel_fraction, att.channels_per_page) + token_pages
                macs = B * q_heads * T * kv_len * hd * (att.channel_fraction + 2 * att.token_fraction)
                soft = B * q_heads * T * kv_len * att.token_fraction
                filt = token_pages
            else:
                read, macs, soft, filt = 2 * k_bytes, 2 * B * q_heads * T * kv_len * hd, B * q_heads * T * kv_len, 0
            previous = sent
            for c in range(chunks):
                got = self.add(append, f"csd{i}_flash", "flash_read", [sent], FLASH_READ,
                               storage_bytes=round(read / chunks), kv=True)
                previous = self.add(append, f"csd{i}_engine", "engine", [got, previous], ENGINE,
                                    engine_macs=macs / chunks, softmax_elems=round(soft / chunks),
                                    filter_bytes=round(filt / chunks))
            returned.append(self.add(append, f"csd{i}_link", "p2p", [previous], P2P,
                                     storage_bytes=q_bytes))
        return returned


def channel_groups_read(head_dim: int, channel_fraction: float, channels_per_page: int) -> float:
    """Share of the channel-major K copy read for the top-r channels of a query: pages group
    ``channels_per_page`` channels, and a group is read when any of the r channels (which vary
    from query to query: taken as random) falls in it: 1 - C(d - g, r) / C(d, r)."""
    r = max(1, round(channel_fraction * head_dim))
    g = min(channels_per_page, head_dim)
    return 1.0 - math.comb(head_dim - g, r) / math.comb(head_dim, r)


def parallelism(spec: CsdSpec, model: Any) -> Parallelism:
    """Tensor parallel over the server's GPUs (one for the paper's OPT-13B runs, two for
    OPT-30B); the KV heads split over the drives inside the mapping."""
    return Parallelism(tp=spec.gpu_spec().devices)


MAPPER = Mapper(name="csd-offload", family="csd", lower=lower, parallelism=parallelism,
                description="GPU side as the gpu family lowers it; decode attention in the drives (InstInfer, "
                            "dense or SparF) or KV offloaded by FlexGen's policy / DeepSpeed")
