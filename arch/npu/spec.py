"""Schema of the ``npu`` family: chips of AI cores (cube + vector + buffers + DMA) sharing HBM,
and chips on a network.

One schema covers a Da Vinci-class core (a cube unit that multiplies ``rows x depth`` by
``depth x cols`` per cycle) and a generic systolic array (``kind: systolic``, rows x cols PEs
with a dataflow): a TPU-like or SCALE-Sim-style NPU is just another preset.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from accsim.core.config import param, section
from accsim.core.errors import ConfigError
from accsim.core.power import PowerSpec

DTYPE_BYTES = {"fp16": 2, "bf16": 2, "int8": 1}


@dataclass(frozen=True, kw_only=True)
class SystolicArray:
    kind: str = param("", "systolic: R x C PEs streaming operands (fill/drain per fold); cube: "
                      "a Da Vinci cube finishing one rows x depth x cols block per cycle",
                      choices=("systolic", "cube"), default="systolic")
    rows: int = param("PEs", "systolic: processing elements per column; cube: the M side", gt=0)
    cols: int = param("PEs", "systolic: processing elements per row; cube: the N side", gt=0)
    depth: int = param("MACs", "cube: the K side per cycle at fp16/bf16 (systolic arrays: 1)",
                       gt=0, default=1)
    int8_rate: int = param("x", "MACs per cycle at int8 relative to fp16/bf16 (Da Vinci: int8 "
                           "cube is 16x32x16, so 2)", gt=0, default=1)
    pipeline_cycles: int = param("cycles", "cube: latency from the first operand to the first "
                                 "result, paid once per tile", ge=0, default=0)
    dataflow: str = param("", "os: output-stationary, ws: weight-stationary, is: input-stationary",
                          choices=("os", "ws", "is"), default="os")
    clock_MHz: float = param("MHz", "core clock (counts the simulation's cycles)", gt=0)


@dataclass(frozen=True, kw_only=True)
class Buffers:
    ifmap_KiB: float = param("KiB", "input operand buffer next to the array (L0A; SCALE-Sim ifmap SRAM)", gt=0)
    filter_KiB: float = param("KiB", "weight operand buffer next to the array (L0B; SCALE-Sim filter SRAM)", gt=0)
    ofmap_KiB: float = param("KiB", "accumulator / output buffer (L0C; SCALE-Sim ofmap SRAM)", gt=0)
    l1_KiB: float = param("KiB", "per-core staging buffer between memory and L0A/L0B (0 = none: "
                          "tiles stream straight into L0)", ge=0, default=0.0)
    ub_KiB: float = param("KiB", "per-core unified buffer of the vector unit (0 = the ofmap "
                          "buffer doubles as it)", ge=0, default=0.0)
    word_bytes: int = param("bytes", "bytes per operand word of single GEMMs ('accsim gemm')", gt=0)
    accumulator_bytes: int = param("bytes", "bytes per accumulator element in L0C (fp32/int32)",
                                   gt=0, default=4)


@dataclass(frozen=True, kw_only=True)
class Interface:
    bandwidth_words_per_cycle: float = param(
        "words/cycle", "off-chip bandwidth into the buffers of single GEMMs ('accsim gemm'); 0 = "
        "unlimited (compute-only, as SCALE-Sim's InterfaceBandwidth CALC)", ge=0, default=0.0)


@dataclass(frozen=True, kw_only=True)
class VectorUnit:
    bytes_per_cycle: int = param("B/cycle", "vector unit datapath width", gt=0)
    units_per_core: int = param("units", "vector units per core (Ascend 910B: 2 AIV per AIC)", gt=0,
                                default=1)
    flops_per_element: float = param("FLOP/element/cycle", "flops per lane per cycle (2 with fused "
                                     "multiply-add)", gt=0, default=2.0)


@dataclass(frozen=True, kw_only=True)
class Dma:
    memory_bytes_per_cycle: int = param("B/cycle", "one core's port to memory (MTE2/MTE3): the most "
                                        "a single core moves per cycle even when HBM is idle", gt=0)
    l1_to_l0_bytes_per_cycle: int = param("B/cycle", "L1 -> L0A/L0B (MTE1) per core", gt=0)
    l0c_to_ub_bytes_per_cycle: int = param("B/cycle", "L0C -> UB / memory (FixPipe) per core", gt=0)
    latency_cycles: int = param("cycles", "setup + first-byte latency of one tile transfer", ge=0)


@dataclass(frozen=True, kw_only=True)
class Memory:
    capacity_GiB: float = param("GiB", "HBM per chip (die)", gt=0)
    bandwidth_GBps: float = param("GB/s", "HBM bandwidth per chip (die), shared by all its cores: the "
                                  "data buses' peak when memory.dram is set", gt=0)
    dram: str = param("", "preset of the shared DRAM component (family dram) behind the HBM: its "
                      "controller, characterised once on a streaming pattern, sets the share of "
                      "bandwidth_GBps the cores get ('' = all of it)", default="")
    latency_ns: float = param("ns", "HBM access latency seen by a tile load", ge=0)
    l2_MiB: float = param("MiB", "on-chip L2 shared by the cores (0 = none); activations that "
                          "fit stay in it between kernels", ge=0, default=0.0)
    l2_bandwidth_GBps: float = param("GB/s", "L2 bandwidth (used when l2_MiB > 0)", gt=0,
                                     default=1.0)


@dataclass(frozen=True, kw_only=True)
class System:
    chips: int = param("chips", "NPU packages in the system (accsim run --chips)", gt=0, default=1)
    dies_per_chip: int = param("dies", "dies per package; each die is one simulated device with "
                               "its own cores and HBM", gt=0, default=1)
    link_GBps: float = param("GB/s", "network bandwidth per die per direction (collectives)", gt=0)
    link_efficiency: float = param("fraction", "achieved / peak link bandwidth of the collective "
                                   "kernels", gt=0, le=1, default=1.0)
    dispatch_link_efficiency: float = param(
        "fraction", "achieved / peak link bandwidth of MoE dispatch all-to-alls; 0 = link_efficiency",
        ge=0, le=1, default=0.0)
    combine_link_efficiency: float = param(
        "fraction", "achieved / peak link bandwidth of MoE combine all-to-alls; 0 = link_efficiency",
        ge=0, le=1, default=0.0)
    link_latency_us: float = param("us", "per collective step (hop + software)", ge=0)
    all_to_all_fixed_us: float = param(
        "us", "per all-to-all (MoE dispatch/combine): routing metadata exchange, token "
        "permutation and the final synchronisation, independent of the group", ge=0, default=0.0)
    all_to_all_per_peer_us: float = param(
        "us", "per all-to-all and per peer in the group: each destination's message setup, "
        "completion flag and wait", ge=0, default=0.0)
    combine_fixed_us: float = param(
        "us", "per MoE combine all-to-all: its own fixed cost (it reuses dispatch's routing layout, so "
        "it need not cost what dispatch does); -1 = all_to_all_fixed_us", ge=-1, default=-1.0)
    combine_per_peer_us: float = param(
        "us", "per MoE combine all-to-all and per peer; -1 = all_to_all_per_peer_us", ge=-1, default=-1.0)
    kernel_launch_us: float = param("us", "per kernel: task dispatch to the cores and the "
                                    "end-of-kernel synchronisation", ge=0)


@dataclass(frozen=True, kw_only=True)
class Parallel:
    tp: int = param("dies", "tensor-parallel degree; 0 = chosen by the mapper (dense models: "
                    "all dies; MoE: 1)", ge=0, default=0)
    ep: int = param("dies", "expert-parallel degree; 0 = chosen by the mapper (MoE: all dies)",
                    ge=0, default=0)
    expert_imbalance: float = param("ratio", "routed tokens of the busiest EP rank over the mean "
                                    "(1.0 = perfect balance); a workload input", ge=1.0, default=1.0)
    microbatches: int = param("microbatches", "the die's batch split into this many microbatches "
                              "whose kernels interleave, so one microbatch's collectives overlap "
                              "another's compute (1 = none)", gt=0, default=1)
    stream_cores: int = param(
        "cores", "with microbatches: cores of the attention stream; the MoE stream (router, "
        "experts, shared experts) runs on the other cores at the same time, so one microbatch's "
        "MoE overlaps another's attention; the streams share HBM as they run (contention "
        "simulated: a stream running alone has all of it) (0 = every kernel on all cores, one "
        "at a time)",
        ge=0, default=0)


@dataclass(frozen=True, kw_only=True)
class Search:
    max_candidates: int = param("tilings", "tilings enumerated per kernel shape (the search "
                                "budget)", gt=0, default=4096)
    top_k: int = param("tilings", "best analytic candidates simulated cycle-level per kernel "
                       "shape", gt=0, default=3)


@dataclass(frozen=True, kw_only=True)
class NpuSpec:
    cores: int = param("cores", "AI cores per die (each with an array, vector units, buffers, DMA)",
                       gt=0, default=1)
    array: SystolicArray = section(SystolicArray, "the matrix unit of one core")
    buffers: Buffers = section(Buffers, "per-core on-chip buffers")
    interface: Interface = section(Interface, "off-chip interface of single GEMMs", default=True)
    vector: VectorUnit = section(VectorUnit, "per-core vector units")
    dma: Dma = section(Dma, "per-core data movers")
    memory: Memory = section(Memory, "per-die memory")
    system: System = section(System, "chips, dies and the network between them")
    parallel: Parallel = section(Parallel, "how models split over dies", default=True)
    power: PowerSpec = section(PowerSpec, "power per die")
    search: Search = section(Search, "tiling-search budget of the npu mapper", default=True)

    @property
    def clock_hz(self) -> float:
        return self.array.clock_MHz * 1e6

    @property
    def dies(self) -> int:
        return self.system.chips * self.system.dies_per_chip

    def check(self) -> None:
        """Refuse fields the chosen array kind would silently ignore."""
        a, problems = self.array, []
        if a.kind == "systolic" and (a.depth != 1 or a.int8_rate != 1):
            problems.append("array.depth / array.int8_rate: only a cube (array.kind: cube) has "
                            "them; a systolic array takes one MAC per PE per cycle (set 1)")
        if a.kind == "cube" and a.dataflow != "os":
            problems.append(f"array.dataflow: a cube has no dataflow choice, got {a.dataflow!r}; "
                            f"remove it or use array.kind: systolic")
        if self.memory.dram:
            from accsim.core.presets import preset_reference_problems
            problems += preset_reference_problems([("memory.dram", self.memory.dram, "dram", "hbm2e-3125")])
        p = self.parallel
        if p.stream_cores and not 0 < p.stream_cores < self.cores:
            problems.append(f"parallel.stream_cores: {p.stream_cores} leaves no cores for the MoE "
                            f"stream; use 1..{self.cores - 1} (or 0 for no split)")
        if p.stream_cores and p.microbatches < 2:
            problems.append("parallel.stream_cores: streams overlap microbatches; set "
                            "parallel.microbatches >= 2 or stream_cores 0")
        if problems:
            raise ConfigError(problems)

    @property
    def hbm_GBps(self) -> float:
        """The HBM bandwidth the cores get: the peak times the DRAM component's streaming
        efficiency (its cycle-level controller), or the peak when no DRAM preset is named."""
        return self.memory.bandwidth_GBps * _streaming_efficiency(self.memory.dram)

    def stream_spec(self, stream: str) -> "NpuSpec":
        """The die as one stream sees it on its own: its cores, the die's memory ('all' when
        the cores are not split). The model shares HBM between streams that run at once."""
        split = self.parallel.stream_cores
        if stream == "all" or not split:
            return self
        return replace(self, cores=split if stream == "attention" else self.cores - split)

    def macs_per_cycle(self, dtype: str) -> int:
        """Peak MACs per cycle of one core at ``dtype``."""
        a = self.array
        return a.rows * a.cols * a.depth * (a.int8_rate if dtype == "int8" else 1)


@lru_cache(maxsize=16)
def _streaming_efficiency(dram: str) -> float:
    if not dram:
        return 1.0
    from accsim.arch.dram.tier import characterise
    from accsim.core.presets import preset_spec
    return characterise(preset_spec(dram).dram, "streaming").efficiency


def roofs(spec: NpuSpec, model) -> list:
    """One die: every core's matrix unit at the weights' number format over the die's HBM (and
    over its L2 when it has one)."""
    from accsim.core.registry import Roof
    dtype = model.role_dtype("weight")
    peak = 2.0 * spec.macs_per_cycle(dtype) * spec.cores * spec.clock_hz
    out = [Roof(f"{dtype} cube / HBM", peak, spec.memory.bandwidth_GBps * 1e9)]
    if spec.memory.l2_MiB > 0:
        out.append(Roof(f"{dtype} cube / L2", peak, spec.memory.l2_bandwidth_GBps * 1e9))
    return out


def work_kind(op_kind: str) -> str:
    """Kinds the npu mapper fuses into another's epilogue: softmax into the score GEMM (as
    FlashAttention does), activations into the GEMM before them."""
    return {"softmax": "attn_score", "activation": "matmul"}.get(op_kind, op_kind)
