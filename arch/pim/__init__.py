"""pim family: cycle-level DRAM (GDDR6/HBM2/HBM3) with processing-in-memory banks.

``accsim.arch.pim.dram`` holds the memory-system spec and the trace-driven simulation; the
numba kernels (``kernels``) load on first use.
"""
from accsim.arch.pim.dram import DramConfig, DramSpec

__all__ = ["DramConfig", "DramSpec"]
