"""Schema of the ``npu`` family (first part: one systolic-array core with its buffers)."""
from __future__ import annotations

from dataclasses import dataclass

from accsim.config import param, section


@dataclass(frozen=True, kw_only=True)
class SystolicArray:
    rows: int = param("PEs", "processing elements per column (array height)", gt=0)
    cols: int = param("PEs", "processing elements per row (array width)", gt=0)
    dataflow: str = param("", "os: output-stationary, ws: weight-stationary, is: input-stationary",
                          choices=("os", "ws", "is"), default="os")
    clock_MHz: float = param("MHz", "array clock", gt=0)


@dataclass(frozen=True, kw_only=True)
class Buffers:
    ifmap_KiB: float = param("KiB", "input (activation) buffer", gt=0)
    filter_KiB: float = param("KiB", "weight buffer", gt=0)
    ofmap_KiB: float = param("KiB", "output buffer", gt=0)
    word_bytes: int = param("bytes", "bytes per operand word", gt=0)


@dataclass(frozen=True, kw_only=True)
class Interface:
    bandwidth_words_per_cycle: float = param(
        "words/cycle", "off-chip bandwidth into the buffers; 0 = unlimited (compute-only, as "
        "SCALE-Sim's InterfaceBandwidth CALC)", ge=0, default=0.0)


@dataclass(frozen=True, kw_only=True)
class NpuSpec:
    array: SystolicArray = section(SystolicArray, "the systolic array")
    buffers: Buffers = section(Buffers, "on-chip operand buffers")
    interface: Interface = section(Interface, "off-chip interface", default=True)

    @property
    def clock_hz(self) -> float:
        return self.array.clock_MHz * 1e6
