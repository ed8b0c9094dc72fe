"""Where a GPU server keeps models in a composition of experts (accsim/simulation/coe.py)."""
from __future__ import annotations

from accsim.arch.gpu.spec import GpuSpec


def model_tiers(spec: GpuSpec):
    """Models run from device memory; inactive models wait in host memory; a switch streams a
    model over one host link at its peak (the SN40L paper estimated DGX switching this way:
    32 GB/s for A100, 64 GB/s for H100)."""
    from accsim.core.capacity import GIB
    from accsim.core.registry import ModelTiers
    link = spec.host_link

    def switch_s(nbytes: float) -> float:
        return link.latency_us * 1e-6 + nbytes / (link.bandwidth_GBps * 1e9)

    return ModelTiers(fast_bytes=spec.memory.capacity_GiB * GIB * spec.devices,
                      slow_bytes=spec.host_memory_GiB * GIB, switch_s=switch_s,
                      fast_field="memory.capacity_GiB", slow_field="host_memory_GiB", slow_name="host memory",
                      copy_path=f"one host link at {link.bandwidth_GBps:g} GB/s")
