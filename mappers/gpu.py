"""Lower an OpGraph onto the gpu family: tasks as an eager framework (or a captured graph) runs them.

Per op: a host *launch* task (when the host launches kernels one by one; its length is the
op's kernel count times the per-kernel framework overhead), an optional *host_transfer* task for
data offloaded to host memory, and one device task (compute on the device stream, or a
collective on the interconnect). Device tasks keep stream order. Offloaded data is prefetched
at most one layer ahead (two layers' buffers), as double-buffered offloading runtimes do.

The framework (``framework.mode``) decides the kernel table and who launches: eager (HF
transformers' kernels per model type, launched one by one), graph (the same kernels, one
captured graph per step), vllm (fused kernels; decode one captured graph, prefill launched
one by one), trtllm (TensorRT-LLM: ops fused into kernels (``fuse_kernels``), every step one
captured graph, all-reduces by the custom one-shot / two-shot kernels up to their message sizes). Each step also carries the framework's fixed work: its per-forward kernels
(rotary tables, masks, positions) and the host's per-step time outside launches.
A GEMM's compute time counts its waves of output tiles over the SMs (``compute_util``).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from accsim.arch.gpu import kernels as K
from accsim.arch.gpu.spec import GpuSpec
from accsim.core.capacity import GIB, require_fits, resident_bytes
from accsim.core.errors import ConfigError
from accsim.core.program import Program, ProgramBuilder
from accsim.core.registry import Mapper
from accsim.workloads.graph import GEMM_KINDS, OP_KINDS, Op, OpGraph, Parallelism, build_graph, op_table_entry

UNITS = ("host", "device", "host_link", "interconnect")
TASK_KINDS = OP_KINDS + ("launch", "host_transfer", "framework")
COLUMNS = {"task_class": np.int32, "flops": np.float64, "mem_bytes": np.int64,
           "link_bytes": np.int64, "n_kernels": np.int64, "group": np.int64,
           "compute_util": np.float64, "host_us": np.float64}


def kernel_table(spec: GpuSpec, model_type: str) -> dict[str, int]:
    """The framework's kernels per op key for ``model_type`` (an engine's own table in vllm and
    trtllm mode)."""
    fw = spec.framework
    if fw.mode == "vllm":
        return dict(fw.fused_kernels_per_op)
    if fw.mode == "trtllm":
        return dict(fw.trtllm_kernels_per_op)
    if model_type not in fw.kernels_by_model_type:
        raise ConfigError([f"framework.kernels_by_model_type: no entry for model type '{model_type}' "
                           f"(known: {', '.join(fw.kernels_by_model_type)}); add the kernels its "
                           f"modeling code issues where they differ from kernels_per_op, or {{}}"])
    return {**fw.kernels_per_op, **fw.kernels_by_model_type[model_type]}


def table_name(spec: GpuSpec) -> str:
    return {"vllm": "framework.fused_kernels_per_op",
            "trtllm": "framework.trtllm_kernels_per_op"}.get(spec.framework.mode, "framework.kernels_per_op")


def wave_util(op: Op, spec: GpuSpec) -> float:
    """Share of the SMs a GEMM's output tiles keep busy over its waves (1 for other ops):
    tiles / (ceil(tiles / SMs) * SMs)."""
    if op.kind not in GEMM_KINDS:
        return 1.0
    a = op.attrs
    tile = spec.compute.gemm_tile
    tiles = a.get("batch", 1) * math.ceil(a["m"] / tile[0]) * math.ceil(a["n"] / tile[1])
    if op.kind == "expert_matmul":
        tiles *= max(1, math.ceil(a["experts_active"]))
    sms = spec.compute.sms
    return tiles / (math.ceil(tiles / sms) * sms)
COLLECTIVES = {"all_reduce": K.ALL_REDUCE, "all_gather": K.ALL_GATHER, "all_to_all": K.ALL_TO_ALL}


def collective_class(op: Op, spec: GpuSpec) -> int:
    """The task class of a collective: TensorRT-LLM's custom all-reduce picks one-shot or
    two-shot by message size (NCCL's ring past its workspace); the other frameworks use NCCL."""
    fw = spec.framework
    if op.kind == "all_reduce" and fw.mode == "trtllm":
        payload = int(op.attrs["payload_bytes"])
        if payload <= fw.allreduce_oneshot_max_bytes:
            return K.ALL_REDUCE_ONE_SHOT
        if payload <= fw.allreduce_twoshot_max_bytes:
            return K.ALL_REDUCE_TWO_SHOT
    return COLLECTIVES[op.kind]


def kernels_for(op: Op, spec: GpuSpec, table: dict[str, int]) -> int:
    """Kernels the framework runs for ``op`` (per active expert for expert matmuls)."""
    per_op = op_table_entry(table, op, table_name(spec), "add it to the preset or with --set")
    if op.kind == "expert_matmul":
        return per_op * math.ceil(op.attrs["experts_active"])
    return per_op


def offloaded_bytes(op: Op, spec: GpuSpec) -> int:
    """Bytes of this op's weights / KV cache that live in host memory and cross the host link."""
    if not (spec.offload.weights_fraction or spec.offload.kv_fraction):
        return 0                  # nothing offloaded (the common case; this runs for every op)
    weights = sum(t.bytes for t in op.weights)
    if op.kind == "expert_matmul":
        weights = round(weights * op.attrs["experts_active"] / op.attrs["experts"])
    kv = sum(t.bytes for t in op.inputs if t.role == "kv_cache")
    if op.kind == "kv_append":
        kv = op.bytes_written
    return round(weights * spec.offload.weights_fraction + kv * spec.offload.kv_fraction)


def check_capacity(graph: OpGraph, spec: GpuSpec) -> None:
    """Refuse a step whose resident weights + KV cache exceed device memory."""
    require_fits(graph, resident_bytes(graph, spec.offload.weights_fraction, spec.offload.kv_fraction),
                 spec.memory.capacity_GiB * GIB, "memory.capacity_GiB", "device",
                 ["more devices (--set devices=N)", "offload (--set offload.weights_fraction=F / "
                  "offload.kv_fraction=F)", "or a smaller batch/context"])


def as_executed(graph: OpGraph, spec: GpuSpec) -> OpGraph:
    """The pass as the framework really runs it on this device: in its number format
    (``compute.executes``: an fp16 model on a CPU without fp16 arithmetic runs in fp32), and
    with every expert on every token where the eager model code does that
    (``framework.eager_dense_experts``)."""
    model = graph.model.with_dtype(spec.compute.executed(graph.model.dtype))
    if spec.framework.mode in ("eager", "graph") and model.model_type in spec.framework.eager_dense_experts:
        model = replace(model, dense_experts=True)
    if model == graph.model:
        return graph
    return build_graph(model, graph.phase, graph.parallel)


def lower(graph: OpGraph, spec: GpuSpec) -> Program:
    """Lower one forward pass to a gpu Program."""
    if spec.devices != graph.parallel.tp:
        raise ConfigError([f"devices: the spec has {spec.devices} devices but the graph was built "
                           f"for tp={graph.parallel.tp}"])
    graph = as_executed(graph, spec)
    check_capacity(graph, spec)
    b = ProgramBuilder("gpu", UNITS, TASK_KINDS, COLUMNS)
    stream = GpuStream(b, spec, graph.model.model_type, graph.phase.kind)
    stream.framework_step()
    if spec.framework.mode == "trtllm":
        for op, n_kernels in fuse_kernels(list(graph.ops()), stream.table, spec):
            stream.emit(op, n_kernels=n_kernels)
    else:
        for op in graph.ops():
            stream.emit(op)
    return b.build(meta={"dtype": graph.model.dtype, "workload": graph.describe(),
                         "mode": spec.framework.mode})


class GpuStream:
    """Emits ops as the gpu family runs them (host launches, host-link transfers of offloaded
    data, one device task each, in stream order) into a builder with the gpu family's units,
    kinds and columns. A family that composes the gpu side (the csd family) passes its own
    builder, zeros for its extra columns, and the tasks an op must also wait for."""

    def __init__(self, b: ProgramBuilder, spec: GpuSpec, model_type: str, phase_kind: str,
                 extra_columns: dict | None = None, host: list | None = None) -> None:
        self.b, self.spec = b, spec
        self.extra = dict(extra_columns or {})
        self.table = kernel_table(spec, model_type)
        mode = spec.framework.mode
        self.eager = mode == "eager" or (mode == "vllm" and phase_kind == "prefill")   # trtllm: graphs
        self.zero = dict(flops=0.0, mem_bytes=0, link_bytes=0, group=1, compute_util=1.0,
                         host_us=0.0, **self.extra)   # a task's columns before its own values
        self.host = host if host is not None else []       # the host's launch chain (shareable)
        if not self.eager and not self.host:
            self.host.append(b.add("graph_launch", "host", "launch", task_class=K.GRAPH_LAUNCH,
                                   n_kernels=1, **self.zero))
        self.stream_prev: list[int] = []
        self.layer_last_device: dict[int, int] = {}

    def framework_step(self) -> None:
        """The framework's fixed work of one step: host time outside launches, then the
        per-forward kernels (launched by the host when it launches kernels one by one)."""
        spec, fw = self.spec, self.spec.framework
        host_us = {"vllm": fw.vllm_step_host_us, "trtllm": fw.trtllm_step_host_us}.get(fw.mode, fw.step_host_us)
        self.host.append(self.b.add("framework.step_host", "host", "framework", self.host[-1:],
                                    task_class=K.HOST_WORK, n_kernels=0, **{**self.zero, "host_us": host_us}))
        if "forward" not in self.table:
            raise ConfigError([f"{table_name(spec)}: no entry for 'forward' (kernels once per "
                               f"forward pass); add it, 0 if the framework has none"])
        n_kernels = self.table["forward"]
        if not n_kernels:
            return
        deps = self.host[-1:]
        if self.eager:
            launch = self.b.add("framework.forward", "host", "launch", deps, task_class=K.LAUNCH,
                                n_kernels=n_kernels, **self.zero)
            self.host.append(launch)
            deps = [launch]
        self.stream_prev = [self.b.add("framework.forward", "device", "framework", deps,
                                       task_class=K.COMPUTE, n_kernels=n_kernels, **self.zero)]

    def emit(self, op: Op, after: list[int] | tuple = (), transfer_after: list[int] | tuple = (),
             columns: dict | None = None, n_kernels: int | None = None) -> int:
        """Append ``op``'s tasks; return its device (or interconnect) task. ``after``: tasks the
        op also waits for; ``transfer_after``: tasks its host-link transfer waits for (data
        staged from elsewhere); ``columns``: values of the composing family's columns;
        ``n_kernels``: the kernels of a fused op (default: the table's for the op)."""
        b, spec = self.b, self.spec
        if n_kernels is None:
            n_kernels = kernels_for(op, spec, self.table)
        deps = list(self.stream_prev) + self.host[-1:] + list(after)
        zero = {**self.zero, **(columns or {})}
        if self.eager and n_kernels:
            launch = b.add(op.name, "host", "launch", self.host[-1:], task_class=K.LAUNCH,
                           n_kernels=n_kernels, **zero)
            self.host.append(launch)
            deps.append(launch)
        offload = offloaded_bytes(op, spec)
        if offload:
            window = [self.layer_last_device[op.layer - 2]] if op.layer - 2 in self.layer_last_device else []
            deps.append(b.add(op.name, "host_link", "host_transfer", window + list(transfer_after),
                              task_class=K.HOST_TRANSFER, n_kernels=0,
                              **{**zero, "link_bytes": offload}))
        if op.kind in COLLECTIVES:
            task = b.add(op.name, "interconnect", op.kind, deps, task_class=collective_class(op, spec),
                         n_kernels=n_kernels, **{**zero, "flops": float(op.flops),
                                                 "link_bytes": int(op.attrs["payload_bytes"]),
                                                 "group": int(op.attrs["group"])})
        else:
            task = b.add(op.name, "device", op.kind, deps, task_class=K.COMPUTE,
                         n_kernels=n_kernels, **{**zero, "flops": float(op.flops),
                                                 "mem_bytes": op.bytes_read + op.bytes_written,
                                                 "compute_util": wave_util(op, spec)})
        self.stream_prev = [task]
        self.layer_last_device[op.layer] = task
        return task


def fuse_kernels(ops: list[Op], table: dict[str, int], spec: GpuSpec) -> list[tuple[Op, int]]:
    """Ops as an engine that fuses them runs them, each with its kernel count: consecutive GEMMs
    that read the same activations become one GEMM (fused QKV and gate/up weights); an op with no
    kernel of its own (a 0 in the table) runs inside the kernel before it, or after a collective
    inside the next one (residual add with RMSNorm). A fused op's bytes leave out the activations
    passed inside it."""
    consumers: dict[str, set[str]] = {}
    for op in ops:
        for t in op.inputs:
            consumers.setdefault(t.name, set()).add(op.name)
    groups: list[list[Op]] = []
    pending: list[Op] = []          # kernel-less ops waiting for the next kernel
    for op in ops:
        fused_into_previous = groups and groups[-1][-1].kind not in COLLECTIVES and not pending
        if op.kind in COLLECTIVES:
            groups += [pending] if pending else []
            groups.append([op])
            pending = []
        elif kernels_for(op, spec, table) == 0:
            if fused_into_previous:
                groups[-1].append(op)
            else:
                pending.append(op)
        elif fused_into_previous and _shares_input_gemm(groups[-1], op):
            groups[-1].append(op)
        else:
            groups.append(pending + [op])
            pending = []
    groups += [pending] if pending else []
    return [(_fused_op(g, consumers), _group_kernels(g, spec, table)) for g in groups]


def _activations(op: Op) -> tuple[str, ...]:
    return tuple(t.name for t in op.inputs if t.role == "activation")


def _shares_input_gemm(group: list[Op], op: Op) -> bool:
    """``op`` is a GEMM reading what a group of GEMMs alone reads: one fused GEMM."""
    return (op.kind == "matmul" and all(g.kind == "matmul" for g in group)
            and _activations(group[0]) == _activations(op))


def _fused_gemms(group: list[Op]) -> list[Op]:
    """The GEMMs of a group that run as its one fused GEMM: the first and those reading its input."""
    first = next((op for op in group if op.kind == "matmul"), None)
    return [op for op in group if first and op.kind == "matmul" and _activations(op) == _activations(first)]


def _group_kernels(group: list[Op], spec: GpuSpec, table: dict[str, int]) -> int:
    """A group's kernels: its ops' own, a fused GEMM's counted once."""
    fused = _fused_gemms(group)
    return sum(kernels_for(op, spec, table) for op in group) - sum(kernels_for(op, spec, table) for op in fused[1:])


def _fused_op(group: list[Op], consumers: dict[str, set[str]]) -> Op:
    """One op for a fused group: summed work, the activations passed inside it not moved, the
    kind and shape of its first kernel (a fused GEMM's n is the sum of its GEMMs')."""
    if len(group) == 1:
        return group[0]
    names = {op.name for op in group}
    inside = {t.name: t for op in group for t in op.outputs
              if t.role == "activation" and consumers.get(t.name, set()) <= names}
    # an activation from outside that several ops of the group read is read once
    outside = [t for op in group for t in op.inputs if t.role == "activation" and t.name not in inside]
    reread = sum(t.bytes for t in outside) - sum({t.name: t.bytes for t in outside}.values())
    anchor = next((op for op in group if op.kind != "elementwise" and op.flops), group[0])
    attrs = dict(anchor.attrs)
    if anchor.kind == "matmul":
        attrs["n"] = sum(op.attrs["n"] for op in _fused_gemms(group))
    return Op(name="+".join(op.name for op in group), kind=anchor.kind, layer=anchor.layer,
              inputs=tuple(t for op in group for t in op.inputs if t.name not in inside),
              outputs=tuple(t for op in group for t in op.outputs if t.name not in inside),
              flops=sum(op.flops for op in group),
              bytes_read=sum(op.bytes_read for op in group) - reread
              - sum(t.bytes for op in group for t in op.inputs if t.name in inside),
              bytes_written=sum(op.bytes_written for op in group) - sum(t.bytes for t in inside.values()),
              attrs=attrs)


def parallelism(spec: GpuSpec, model: Any) -> Parallelism:
    """Tensor parallel over every device of the node (as Megatron-style serving does)."""
    return Parallelism(tp=spec.devices)


MAPPER = Mapper(name="gpu-kernels", family="gpu", lower=lower, parallelism=parallelism,
                description="One task per framework kernel group: host launch + device roofline")
