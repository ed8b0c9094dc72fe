"""The PIM-GPT system's schema: GDDR6-AiM channels (the shared DRAM component with the AiM
command set), the banks' MAC units, the non-linear/control ASIC and the energy per command."""
from __future__ import annotations

from dataclasses import dataclass

from accsim.arch.dram.spec import DramConfig
from accsim.arch.pim.standards import AIM_COMMANDS
from accsim.core.config import param, section
from accsim.core.errors import ConfigError

BARRIER_KIND = "BARRIER"     # a Program task kind: channels join for ASIC work
ASIC_KIND = "asic"


@dataclass(frozen=True, kw_only=True)
class PimUnits:
    mac_lanes_per_bank: int = param("bf16 lanes", "multipliers per bank MAC unit (one 32 B slice per MAC)", gt=0)
    global_buffer_bytes: int = param("bytes", "per-channel global buffer holding the input vector", gt=0)


@dataclass(frozen=True, kw_only=True)
class Asic:
    clock_MHz: float = param("MHz", "ASIC clock", gt=0)
    vector_lanes: int = param("ops/cycle", "elementwise operations per cycle (adders/multipliers)", gt=0)
    special_lanes: int = param("ops/cycle", "exp / reciprocal / square-root results per cycle", gt=0)
    op_latency_cycles: int = param("cycles", "pipeline latency of one ASIC operation", ge=0)


@dataclass(frozen=True, kw_only=True)
class Energy:
    """Energy by where data goes inside and out of the DRAM: a bit read from the cells to its
    bank's column I/O, on across the die to the I/O circuits, and through the pins. An in-bank
    MAC pays the first step only (plus its arithmetic); a read over the channel pays all three.
    Row activations, refresh and background come from the DRAM's datasheet currents
    (``dram.power``)."""

    cell_access_pJ_per_bit: float = param("pJ/bit", "cells to the bank's column I/O (sense amplifiers, "
                                          "column select): every column access", ge=0)
    bank_to_io_pJ_per_bit: float = param("pJ/bit", "the bank's column I/O across the die to the I/O "
                                         "circuits (bank-group and global data lines)", ge=0)
    io_pJ_per_bit: float = param("pJ/bit", "through the pins to the controller (driver, termination, "
                                 "the controller's PHY)", ge=0)
    mac_pJ: float = param("pJ", "one bf16 multiply-add of a bank's MAC unit (one lane)", ge=0)
    asic_op_pJ: float = param("pJ", "one ASIC elementwise operation", ge=0)
    asic_static_mW: float = param("mW", "ASIC leakage and clock power", ge=0)


@dataclass(frozen=True, kw_only=True)
class Mapping:
    """How the mapper lays tensors out over the banks (PIM-GPT's choices are the defaults)."""

    v_layout: str = param(
        "", "column_major: each value dimension runs along a DRAM row, so the attention context is an "
        "in-bank MAC GEMV, but a new token's values land in head_dim different rows (one activation "
        "each); row_major: a token's values are contiguous (a burst of writes), and the context reads "
        "the value cache out to the ASIC", choices=("column_major", "row_major"), default="column_major")
    channels_per_gemv: int = param(
        "channels", "channels each GEMV of an op of several independent ones (attention heads, active "
        "experts) spreads over; the others work on other GEMVs at once; 0 = chosen by the placement "
        "search", ge=0, default=0)


@dataclass(frozen=True, kw_only=True)
class PimSpec:
    dram: DramConfig = section(DramConfig, "the PIM memory system (GDDR6-AiM channels)")
    pim: PimUnits = section(PimUnits, "processing-in-memory units")
    asic: Asic = section(Asic, "the non-linear / control ASIC")
    energy: Energy = section(Energy, "energy per command and per operation")
    mapping: Mapping = section(Mapping, "tensor layout over channels and banks", default=True)

    @property
    def clock_hz(self) -> float:
        return self.dram.clock_hz

    def check(self) -> None:
        self.dram.check()
        missing = [c for c in AIM_COMMANDS if c not in self.dram.std.commands]
        if missing:
            raise ConfigError([f"dram.standard: {self.dram.standard} has no PIM commands "
                               f"({', '.join(missing)}); a pim system needs GDDR6-AiM"])
        channels = self.dram.organization.channels
        if self.mapping.channels_per_gemv and channels % self.mapping.channels_per_gemv:
            divisors = [g for g in range(1, channels + 1) if channels % g == 0]
            raise ConfigError([f"mapping.channels_per_gemv: {self.mapping.channels_per_gemv} does not divide the "
                               f"{channels} channels into groups; use 0 (searched) or one of {divisors}"])
        if not self.dram.power.given:
            raise ConfigError(["dram.power: a pim system prices row activations, refresh and background "
                               "from the DRAM's datasheet currents; give VDD_V, IDD0_mA, IDD2N_mA, "
                               "IDD3N_mA, IDD4R_mA, IDD4W_mA, IDD5AB_mA and devices_per_channel"])


def roofs(spec: PimSpec, model) -> list:
    """The whole PIM memory: every bank's MAC unit, one MAC command per nCCD_MAC, each bank
    reading its own 32 B slice (the internal bandwidth PIM exists for)."""
    from accsim.core.registry import Roof
    banks = int(spec.dram.level_sizes().prod())
    macs_per_s = banks * spec.pim.mac_lanes_per_bank * spec.clock_hz / spec.dram.timing["nCCD_MAC"]
    bytes_per_s = banks * spec.dram.organization.tx_bytes * spec.clock_hz / spec.dram.timing["nCCD_MAC"]
    return [Roof("bank MACs / bank arrays", 2.0 * macs_per_s, bytes_per_s)]


def work_kind(op_kind: str) -> str:
    """Where an op's time shows in the breakdown: GEMVs run as bank MACs, the rest on the ASIC."""
    from accsim.workloads.graph import GEMM_KINDS
    return "pim_mac" if op_kind in GEMM_KINDS else ASIC_KIND
