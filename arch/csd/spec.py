"""Schema of the ``csd`` family: a GPU server whose decode attention runs in computational
storage drives (InstInfer), and the offloading baselines on the same machine (FlexGen: weights
and KV cache over GPU, host memory and an SSD; DeepSpeed ZeRO-Inference: weights and KV cache
in host memory).

The GPU side is a preset of the gpu family (a composed component); each drive's flash array
and the host's SSD are presets of the flash component. The attention engine's per-unit rates
come from the InstInfer prototype (Table I: one unit, one head, 16 tokens), its unit counts
from the paper's compute ceiling or, where the paper gives none, a stated design rule.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accsim.core.config import param, section
from accsim.core.errors import ConfigError

SYSTEMS = ("instinfer", "flexgen", "deepspeed")


@dataclass(frozen=True, kw_only=True)
class Engine:
    """The drive's attention engine as built: units of three kinds, each with one unit's rate;
    the units of a kind work in parallel over heads and token blocks, and the three kinds
    pipeline (scores, softmax, context, filters on successive blocks), so a chunk of work takes
    as long as its slowest kind."""

    clock_MHz: float = param("MHz", "clock of the in-storage attention engine", gt=0)
    gemv_macs_per_cycle: float = param("MAC/cycle", "one GeMV unit (scores q.K and context p.V)", gt=0)
    gemv_units: int = param("units", "GeMV units of the drive (all its attention kernels)", gt=0)
    softmax_elements_per_cycle: float = param("elements/cycle", "one softmax unit", gt=0)
    softmax_units: int = param("units", "softmax units of the drive", gt=0)
    filter_bytes_per_cycle: float = param("B/cycle", "one SparF filter unit (approximate scores, top-k)", gt=0)
    filter_units: int = param("units", "SparF filter units of the drive (per flash channel)", gt=0)

    def cycles(self, macs, softmax_elements, filter_bytes):
        """Engine cycles of a chunk of work: its slowest unit kind, the others pipelined behind it."""
        return np.maximum.reduce([np.asarray(macs) / (self.gemv_macs_per_cycle * self.gemv_units),
                                  np.asarray(softmax_elements) / (self.softmax_elements_per_cycle * self.softmax_units),
                                  np.asarray(filter_bytes) / (self.filter_bytes_per_cycle * self.filter_units)])


@dataclass(frozen=True, kw_only=True)
class Drives:
    count: int = param("drives", "computational storage drives holding the KV cache (heads split "
                       "over them); 0 for the baselines", ge=0, default=0)
    flash: str = param("", "flash preset (family flash) of each drive", default="instinfer-csd-flash")
    link_GBps: float = param("GB/s", "each drive's PCIe link (peer-to-peer with the GPU)", gt=0, default=7.0)
    link_latency_us: float = param("us", "per peer-to-peer DMA", ge=0, default=5.0)
    queue_depth: int = param("pages", "page reads the engine keeps in the drive's flash array at once "
                             "(its flash rate comes from the cycle-level array under that closed loop); "
                             "0 = the array kept saturated", ge=0, default=0)
    engine: Engine = section(Engine, "the in-storage attention engine", default=False)


@dataclass(frozen=True, kw_only=True)
class Host:
    memory_GiB: float = param("GiB", "host DRAM (offloaded weights / KV cache, staging buffers)", gt=0)
    ssd: str = param("", "flash preset (family flash) of the host's NVMe SSD", default="samsung-980pro-flash")
    ssd_link_GBps: float = param("GB/s", "the SSD's PCIe link", gt=0, default=7.0)
    file_read_efficiency: float = param(
        "fraction", "share of the SSD's read rate (its flash array, its link) that an offloading "
        "runtime's file reads achieve into host memory (memory-mapped file through the page cache, "
        "copies into a pinned relay buffer)", gt=0, le=1)
    file_read_GBps: float = param("GB/s", "override: the file-read rate itself (0 = the SSD's rate "
                                  "times file_read_efficiency)", ge=0, default=0.0)
    ssd_latency_us: float = param("us", "per file read request", ge=0, default=100.0)
    gpudirect: bool = param("", "FlexGen-GDS: disk-resident data moves from the SSD to the GPU by "
                            "GPUDirect Storage, at the SSD's own rate (no page cache, no pinned host relay; "
                            "file_read_efficiency does not apply)", default=False)
    cpu: str = param("", "gpu-family preset (device_kind cpu) of the host's CPU: DeepSpeed's "
                     "ZeRO-Inference computes decode attention there, over the cache in host memory",
                     default="xeon-gold-5320")


@dataclass(frozen=True, kw_only=True)
class Attention:
    mode: str = param("", "dense: every KV page; sparf: SparF (top-r query channels, approximate "
                      "scores, top-k tokens, whole pages skipped first)", choices=("dense", "sparf"),
                      default="dense")
    channel_fraction: float = param("fraction", "SparF: query channels r / head dim", gt=0, le=1,
                                    default=0.125)
    token_fraction: float = param("fraction", "SparF: tokens kept k / context", gt=0, le=1, default=0.125)
    channels_per_page: int = param(
        "channels", "SparF: channels of the channel-major K copy that one flash page holds (the page's "
        "2,048 fp16 values are channels x tokens); reading the top-r channels reads every page group "
        "one of them falls in", gt=0, default=4)
    page_sparsity_kept: float = param(
        "fraction", "SparF: share of the token step's sparsity that its first, page-level step keeps: "
        "the pages read hold token_fraction / page_sparsity_kept of the cache, the filters in the "
        "flash controller drop the rest token by token", gt=0, le=1, default=0.5)


@dataclass(frozen=True, kw_only=True)
class Pipeline:
    microbatches: int = param("microbatches", "decode batch split so one microbatch's in-storage "
                              "attention overlaps another's GPU layers", gt=0, le=64, default=2)
    chunks: int = param("chunks", "pieces of one drive's attention, so its flash reads overlap its "
                        "engine", gt=0, le=256, default=8)


@dataclass(frozen=True, kw_only=True)
class Policy:
    grid_step: float = param("fraction", "FlexGen placement search: fractions of weights and KV cache on "
                             "GPU / host / disk in steps of this", gt=0, le=0.5, default=0.1)
    kv_tiers: tuple[str, ...] = param("", "where the search may put the KV cache (gpu, host, ssd)",
                                      default=("gpu", "host", "ssd"))


@dataclass(frozen=True, kw_only=True)
class CsdSpec:
    system: str = param("", "instinfer: attention and KV cache in the drives; flexgen: weights and KV "
                        "placed by FlexGen's policy over GPU, host and SSD; deepspeed: ZeRO-Inference, "
                        "weights and KV cache in host memory", choices=SYSTEMS)
    gpu: str = param("", "gpu preset (family gpu) of the server's GPU")
    drives: Drives = section(Drives, "computational storage drives (instinfer; count 0 for the baselines)")
    host: Host = section(Host, "host memory and SSD")
    attention: Attention = section(Attention, "decode attention in the drives", default=True)
    pipeline: Pipeline = section(Pipeline, "overlap of GPU and drives", default=True)
    policy: Policy = section(Policy, "FlexGen's placement search", default=True)

    def check(self) -> None:
        from accsim.core.presets import preset_reference_problems
        problems = preset_reference_problems([
            ("gpu", self.gpu, "gpu", "a6000"), ("drives.flash", self.drives.flash, "flash", "instinfer-csd-flash"),
            ("host.ssd", self.host.ssd, "flash", "samsung-980pro-flash"),
            ("host.cpu", self.host.cpu, "gpu", "xeon-gold-5320")])
        if self.system == "instinfer" and self.drives.count < 1:
            problems.append("drives.count: instinfer keeps the KV cache in drives; set 1 or more")
        if self.system != "instinfer" and self.drives.count:
            problems.append(f"drives.count: the {self.system} baseline has no computational storage; set 0")
        bad = sorted(set(self.policy.kv_tiers) - {"gpu", "host", "ssd"})
        if bad or not self.policy.kv_tiers:
            problems.append(f"policy.kv_tiers: expected a non-empty list of gpu, host, ssd; got "
                            f"{list(self.policy.kv_tiers)}")
        if not problems and self.system == "deepspeed" and self.host_cpu_spec().device_kind != "cpu":
            problems.append(f"host.cpu: '{self.host.cpu}' is a {self.host_cpu_spec().device_kind}, not a CPU; "
                            "name a CPU preset of the gpu family (e.g. xeon-gold-5320)")
        if self.host.gpudirect and self.system != "flexgen":
            problems.append(f"host.gpudirect: GPUDirect Storage is FlexGen's disk path (FlexGen-GDS); the "
                            f"{self.system} system reads no offloaded data from the SSD; set false")
        if self.system != "instinfer" and self.attention.mode != "dense":
            problems.append(f"attention.mode: SparF runs in the drives; the {self.system} baseline is dense")
        if problems:
            raise ConfigError(problems)

    @property
    def clock_hz(self) -> float:
        return self.gpu_spec().clock_hz

    def gpu_spec(self):
        from accsim.core.presets import preset_spec
        return preset_spec(self.gpu)

    def host_cpu_spec(self):
        from accsim.core.presets import preset_spec
        return preset_spec(self.host.cpu)


def roofs(spec: CsdSpec, model) -> list:
    """The server's GPU (its own roof), and the drives' attention engines over what their flash
    delivers (the slower of the dies and the channel buses), all drives together."""
    from accsim.arch.gpu.spec import roofs as gpu_roofs
    from accsim.core.presets import preset_spec
    from accsim.core.registry import Roof
    out = gpu_roofs(spec.gpu_spec(), model)
    d = spec.drives
    if d.count and spec.system == "instinfer":
        flash = preset_spec(d.flash).flash
        engines_flops = 2.0 * d.engine.gemv_macs_per_cycle * d.engine.gemv_units * d.engine.clock_MHz * 1e6 * d.count
        flash_Bps = min(flash.bus_peak_GBps(), flash.array_peak_GBps()) * 1e9 * d.count
        out.append(Roof("drive attention engines / flash", engines_flops, flash_Bps))
    return out


def work_kind(op_kind: str) -> str:
    """Decode attention runs in the drives' engines and the new keys and values are programmed
    into their flash (when the KV cache is not on the GPU)."""
    if op_kind == "kv_append":
        return "flash_write"
    return "engine" if op_kind in ("attn_score", "softmax", "attn_context") else op_kind
