"""npu family (first part): systolic-array cores; `accsim gemm` runs one GEMM cycle by cycle.

The LLM mapper, Da Vinci cores, DMA/buffer hierarchy and multi-chip collectives come with
the rest of issue #4; this package holds the systolic core they build on.
"""
from accsim.arch.npu.spec import NpuSpec

__all__ = ["NpuSpec"]
