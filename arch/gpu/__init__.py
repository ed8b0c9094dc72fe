"""gpu family: roofline + framework-overhead baseline for GPUs and server CPUs.

The model (``accsim.arch.gpu.model``: simulate, schedule) and its numba kernels load on first
use; importing the package only brings the spec schema.
"""
from accsim.arch.gpu.spec import GpuSpec

__all__ = ["GpuSpec"]
