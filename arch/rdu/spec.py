"""Schema of the ``rdu`` family: sockets of a reconfigurable dataflow unit (SN40L-style).

A socket is a grid of PCUs (compute: a systolic mode for matrix ops, a multi-stage SIMD mode
for element-wise ops and reductions, a tail unit for transcendentals) and PMUs (banked SRAM
with a port each), joined by the RDN (per-hop bandwidth, credit-based flow control), with an
HBM tier and a DDR tier behind the AGCUs; sockets talk peer to peer. The memory tiers are
presets of the shared DRAM component (family ``dram``), characterised once by its
cycle-level controller (arch/dram/tier.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from accsim.core.config import param, section
from accsim.core.errors import ConfigError
from accsim.core.power import PowerSpec

DTYPE_BYTES = {"bf16": 2, "fp16": 2}


@dataclass(frozen=True, kw_only=True)
class Pcu:
    count: int = param("PCUs", "pattern compute units per socket", gt=0)
    lanes: int = param("lanes", "SIMD lanes of a PCU (the N side of its systolic mode)", gt=0)
    stages: int = param("stages", "pipeline stages of a PCU (the K side of its systolic mode; "
                        "element-wise ops chain through them)", gt=0)
    clock_MHz: float = param("MHz", "PCU/PMU clock (counts the simulation's cycles)", gt=0)
    tail_ops_per_cycle: int = param("results/cycle", "transcendental results (exp, tanh, rsqrt) "
                                    "of one PCU's tail unit per cycle", gt=0)
    pipeline_cycles: int = param("cycles", "latency from a tile's first operand to its first "
                                 "result through the stages and the reduction tree", ge=0)


@dataclass(frozen=True, kw_only=True)
class Pmu:
    count: int = param("PMUs", "pattern memory units per socket", gt=0)
    capacity_KiB: float = param("KiB", "banked SRAM of one PMU", gt=0)
    port_bytes_per_cycle: int = param("B/cycle", "read bandwidth of one PMU towards the PCUs", gt=0)


@dataclass(frozen=True, kw_only=True)
class Rdn:
    hop_bytes_per_cycle: int = param("B/cycle", "vector-network bandwidth of one hop link", gt=0)
    hop_latency_cycles: int = param("cycles", "latency of one switch hop", ge=0)
    hops: int = param("hops", "switch hops from a stage's PCUs to its consumer's PMUs (placement "
                      "keeps producers and consumers close)", gt=0)


@dataclass(frozen=True, kw_only=True)
class Tier:
    dram: str = param("", "preset of the shared DRAM component (family dram) this tier is built "
                      "from; its controller is characterised once (streaming and random)")
    devices: int = param("devices", "copies of that preset the socket drives (HBM stacks, DDR "
                         "channels); bandwidth scales with them", gt=0)
    capacity_GiB: float = param("GiB", "capacity of the tier per socket", gt=0)


@dataclass(frozen=True, kw_only=True)
class System:
    sockets: int = param("sockets", "RDU sockets (accsim run --chips)", gt=0, default=1)
    link_GBps: float = param("GB/s", "peer-to-peer bandwidth per socket per direction (collectives)", gt=0)
    link_latency_us: float = param("us", "per collective step (hop + protocol)", ge=0)
    all_reduce: str = param("", "all-reduce algorithm on the peer links: ring (2(p-1) steps, the fewest "
                            "bytes), one_shot (each socket sends its payload to every peer in one step), "
                            "auto (the faster of the two per message)", choices=("ring", "one_shot", "auto"),
                            default="ring")


@dataclass(frozen=True, kw_only=True)
class Die:
    count: int = param("dies", "dies of a socket; a section's stages are placed on them in program "
                       "order, each die taking its share of the section's PCUs and PMUs", gt=0, le=8,
                       default=1)
    link_GBps: float = param("GB/s", "die-to-die bandwidth per direction (a tile streamed to a stage "
                             "on another die crosses it)", ge=0, default=0.0)
    link_latency_ns: float = param("ns", "die-to-die latency of one transfer", ge=0, default=0.0)


@dataclass(frozen=True, kw_only=True)
class Runtime:
    orchestration: str = param("", "hardware: the AGCUs walk a static schedule of kernels; "
                               "software: the host launches every kernel", choices=("hardware", "software"),
                               default="hardware")
    host_call_us: float = param("us", "software orchestration: one host call (program load, "
                                "argument load and launch are one call each)", ge=0)
    agcu_launch_cycles: int = param("cycles", "hardware orchestration: the AGCU sequencer starts the "
                                    "next kernel of its schedule", ge=0)
    config_bytes_per_unit: int = param("bytes", "configuration of one PCU or PMU, loaded from HBM "
                                       "when a kernel's program differs from the previous one", ge=0)
    argument_bytes: int = param("bytes", "arguments of one kernel call (addresses, sizes)", ge=0,
                                default=256)


@dataclass(frozen=True, kw_only=True)
class MapperOptions:
    fusion: str = param("", "on: fuse operators into sections under PCU/PMU limits (a decoder "
                        "layer can be one section); off: one kernel per operator",
                        choices=("on", "off"), default="on")
    unit_fraction: float = param("fraction", "share of the PCUs and PMUs one section may use "
                                 "(placement and routing leave the rest)", gt=0, le=1, default=0.9)
    max_steps: int = param("steps", "largest step count (tiles per stage) the search considers (each "
                           "candidate builds its tasks per step: 4,096 bounds the work to seconds)", gt=0, le=4096,
                           default=256)
    top_k: int = param("tilings", "best analytic step counts simulated cycle-level per section "
                       "(the default simulates every candidate: a pipeline's credit loops make "
                       "the analytic order unreliable)", gt=0, default=16)


@dataclass(frozen=True, kw_only=True)
class RduSpec:
    pcu: Pcu = section(Pcu, "pattern compute units")
    pmu: Pmu = section(Pmu, "pattern memory units")
    rdn: Rdn = section(Rdn, "the on-chip reconfigurable dataflow network")
    hbm: Tier = section(Tier, "the HBM tier (weights, KV cache, materialised activations)")
    ddr: Tier = section(Tier, "the DDR capacity tier (what HBM cannot hold, inactive models)")
    die: Die = section(Die, "the dies of a socket and the link between them", default=True)
    system: System = section(System, "sockets and the links between them")
    runtime: Runtime = section(Runtime, "kernel launch")
    mapper: MapperOptions = section(MapperOptions, "options of the rdu mapper", default=True)
    power: PowerSpec = section(PowerSpec, "power per socket")

    @property
    def clock_hz(self) -> float:
        return self.pcu.clock_MHz * 1e6

    @property
    def macs_per_cycle(self) -> int:
        """Peak MACs per cycle of one PCU in systolic mode."""
        return self.pcu.lanes * self.pcu.stages

    def check(self) -> None:
        from accsim.core.presets import preset_reference_problems
        problems = preset_reference_problems([("hbm.dram", self.hbm.dram, "dram", "hbm3-7200"),
                                              ("ddr.dram", self.ddr.dram, "dram", "ddr5-3200")])
        if self.die.count > 1 and self.die.link_GBps <= 0:
            problems.append(f"die.link_GBps: a socket of {self.die.count} dies needs the die-to-die "
                            f"bandwidth (> 0 GB/s), got {self.die.link_GBps:g}; give it or set die.count: 1")
        if problems:
            raise ConfigError(problems)
