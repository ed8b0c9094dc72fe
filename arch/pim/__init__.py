"""pim family: cycle-level DRAM (GDDR6/HBM2/HBM3) with processing-in-memory banks (PIM-GPT)."""
from accsim.arch.pim.dram import DramConfig, DramSpec, simulate_trace

__all__ = ["DramConfig", "DramSpec", "simulate_trace"]
