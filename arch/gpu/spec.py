"""Schema of the ``gpu`` family: roofline devices (GPUs and server CPUs) plus framework overhead."""
from __future__ import annotations

from dataclasses import dataclass

from accsim.core.config import param, section
from accsim.core.power import PowerSpec

DTYPES = ("fp32", "fp16", "bf16", "fp8", "int8")
# framework.mode -> what a run's stats say the step models
EXECUTION_MODELS = {
    "eager": "eager framework: the host launches every kernel (PyTorch + HF transformers)",
    "graph": "captured graph: the eager framework's kernels, one graph launch per step",
    "vllm": "vLLM-like engine: fused kernels, decode as one captured graph, prefill launched by the host",
    "trtllm": "TensorRT-LLM engine: fused kernels (shared-input GEMMs as one, attention as one kernel), "
              "every step one captured graph, custom all-reduce (one-shot / two-shot by message size)",
}


@dataclass(frozen=True, kw_only=True)
class ComputeSpec:
    clock_MHz: float = param("MHz", "clock that counts the simulation's cycles (boost clock)", gt=0)
    peak_TFLOPS: dict[str, float] = param(
        "TFLOP/s", "dense peak per dtype (fp32, fp16, bf16, fp8, int8); a dtype not listed is unsupported")
    efficiency: float = param("fraction", "achieved / peak on large GEMMs", gt=0, le=1)
    sms: int = param("SMs", "streaming multiprocessors (CPU: cores): the units a GEMM's output "
                     "tiles are spread over, one tile per SM at a time (wave quantisation)", gt=0)
    gemm_tile: tuple[int, ...] = param(
        "elements", "output tile (rows, cols) of one GEMM thread block: a GEMM runs in "
        "ceil(tiles / sms) waves at the peak rate of full waves")
    executes: dict[str, str] = param(
        "", "number formats the framework runs in another format on this device: PyTorch on a CPU "
        "without fp16/bf16 arithmetic runs an fp16 model in fp32 (4-byte weights, activations and "
        "KV cache at the fp32 peak); a format not listed runs as itself", default={})

    def executed(self, dtype: str) -> str:
        """The number format ``dtype`` really runs in on this device."""
        return self.executes.get(dtype, dtype)


@dataclass(frozen=True, kw_only=True)
class MemorySpec:
    capacity_GiB: float = param("GiB", "device memory per device", gt=0)
    bandwidth_GBps: float = param("GB/s", "peak device-memory bandwidth per device", gt=0)
    efficiency: float = param("fraction", "achieved / peak on streaming copies", gt=0, le=1)
    latency_ns: float = param("ns", "first-byte latency of a kernel's memory stream (global-memory "
                              "load latency): a kernel moving B bytes takes latency + B / bandwidth", ge=0)


@dataclass(frozen=True, kw_only=True)
class LinkSpec:
    bandwidth_GBps: float = param("GB/s", "per direction, per device", gt=0)
    latency_us: float = param("us", "per transfer (or per collective step)", ge=0)
    efficiency: float = param("fraction", "achieved / peak bandwidth", gt=0, le=1, default=1.0)


@dataclass(frozen=True, kw_only=True)
class FrameworkSpec:
    mode: str = param("", "eager: the host launches every kernel (PyTorch + HF transformers); graph: "
                      "the same kernels in one captured graph per step; vllm: fused kernels "
                      "(fused_kernels_per_op), decode steps as one captured graph, prefill launched "
                      "kernel by kernel; trtllm: TensorRT-LLM as NeMo serves it (trtllm_kernels_per_op, "
                      "GEMMs sharing their input fused into one, ops without a kernel of their own run "
                      "inside a neighbour's, every step one captured graph, custom all-reduce)",
                      choices=tuple(EXECUTION_MODELS), default="eager")
    launch_overhead_us: float = param("us", "host framework + launch time per kernel launched by the "
                                      "host (eager; vllm prefill)", ge=0)
    host_speed: float = param("ratio", "single-thread speed of the host CPU relative to the host of the "
                              "H200 measurement the launch costs come from (1.0): every host time "
                              "(launches, graph launches, per-step work) divides by it", gt=0, default=1.0)
    graph_launch_us: float = param("us", "host time to launch one captured graph (graph, vllm decode)", ge=0)
    min_kernel_us: float = param("us", "shortest device time of one kernel (launch latency, tail)", ge=0)
    kernels_per_op: dict[str, int] = param(
        "kernels", "kernels the eager framework launches per op, keyed by op kind or kind_fn "
        "(activation_silu, elementwise_rope, ...); 'forward': kernels once per forward pass "
        "outside the ops (rotary tables, masks, positions); a missing key is an error")
    kernels_by_model_type: dict[str, dict[str, int]] = param(
        "kernels", "per Hugging Face model_type, entries that replace kernels_per_op's (its "
        "modeling code issues other kernels); every model type run needs an entry ({} = none)")
    eager_dense_experts: tuple[str, ...] = param(
        "model types", "eager and graph modes: model types whose Hugging Face MoE code multiplies "
        "every expert (the router's scores zero the others): each token runs through every expert "
        "and every expert's weights are read", default=())
    step_host_us: float = param("us", "host time per generation step outside kernel launches "
                                "(eager, graph: the generate loop's Python and its device sync)", ge=0)
    fused_kernels_per_op: dict[str, int] = param(
        "kernels", "vllm mode: kernels per op with fused kernels (QKV, add+RMSNorm, SiLU-and-mul, "
        "rotary, paged attention, cache write), same keys as kernels_per_op")
    vllm_step_host_us: float = param("us", "vllm mode: host time per step (scheduler, input "
                                     "preparation, sampler) not overlapped with the device", ge=0)
    trtllm_kernels_per_op: dict[str, int] = param(
        "kernels", "trtllm mode: kernels per op (same keys as kernels_per_op); 0 = the op runs inside "
        "the kernel next to it (rotary and KV-cache write inside attention, residual add inside "
        "add+RMSNorm, the gate multiply inside the activation)")
    trtllm_step_host_us: float = param("us", "trtllm mode: host time per step of the C++ runtime "
                                       "(in-flight batching scheduler, sampling setup) not overlapped "
                                       "with the device", ge=0)
    allreduce_oneshot_max_bytes: int = param(
        "bytes", "trtllm mode: largest all-reduce message of the one-shot custom all-reduce (every "
        "device reads every peer's buffer: one step); larger messages go two-shot", ge=0)
    allreduce_twoshot_max_bytes: int = param(
        "bytes", "trtllm mode: largest message of the custom all-reduce (its workspace); larger "
        "messages go to NCCL's ring", ge=0)


@dataclass(frozen=True, kw_only=True)
class OffloadSpec:
    weights_fraction: float = param("fraction", "share of the weights kept in host memory and "
                                    "streamed over the host link at every use", ge=0, le=1, default=0.0)
    kv_fraction: float = param("fraction", "share of the KV cache kept in host memory and "
                               "streamed over the host link at every use", ge=0, le=1, default=0.0)


@dataclass(frozen=True, kw_only=True)
class GpuSpec:
    device_kind: str = param("", "what the roofline device is", choices=("gpu", "cpu"))
    devices: int = param("devices", "devices running the model tensor-parallel", gt=0, default=1)
    compute: ComputeSpec = section(ComputeSpec, "math throughput")
    memory: MemorySpec = section(MemorySpec, "device memory")
    host_link: LinkSpec = section(LinkSpec, "host <-> device link (PCIe)")
    interconnect: LinkSpec = section(LinkSpec, "device <-> device link for collectives (NVLink)")
    framework: FrameworkSpec = section(FrameworkSpec, "framework execution model")
    power: PowerSpec = section(PowerSpec, "board power")
    offload: OffloadSpec = section(OffloadSpec, "scenario: data kept in host memory", default=True)
    host_memory_GiB: float = param("GiB", "host memory of the server (where inactive models wait in "
                                   "a composition of experts); 0 = none", ge=0, default=0.0)

    @property
    def clock_hz(self) -> float:
        return self.compute.clock_MHz * 1e6


def roofs(spec: GpuSpec, model) -> list:
    """One device: its dense peak at the model's number format over its memory bandwidth (peak
    figures, before the efficiencies the model applies)."""
    from accsim.core.registry import Roof
    dtype = spec.compute.executed(model.dtype)
    peak = spec.compute.peak_TFLOPS.get(dtype)
    if peak is None:
        return []
    return [Roof(f"{dtype} peak / device memory", peak * 1e12, spec.memory.bandwidth_GBps * 1e9)]
