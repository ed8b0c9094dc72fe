"""gpu family: roofline + framework-overhead baseline for GPUs and server CPUs."""
from accsim.arch.gpu.model import schedule, simulate
from accsim.arch.gpu.spec import GpuSpec

__all__ = ["GpuSpec", "schedule", "simulate"]
