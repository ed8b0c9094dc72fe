"""gpu family: roofline + framework-overhead baseline for GPUs and server CPUs.

The model (``model``: simulate, schedule) and its numba kernels load on first use; importing
the package only brings the family record (the spec schema loads on first use).

Contract: ``model.simulate(spec, program)`` is pure and deterministic; ``by_op_kind`` exposed
times (host launch, device kernels, stalls) sum to the step latency.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from accsim.core.registry import Family, lazy
from accsim.workloads.smoke import TINY_GPT2

if TYPE_CHECKING:
    from accsim.arch.gpu.spec import GpuSpec


def _devices(spec: GpuSpec) -> int:
    return spec.devices


FAMILY = Family(
    name="gpu", spec=lazy(".spec", "GpuSpec"), mapper="gpu-kernels",
    simulate=lazy(".model", "simulate"), schedule=lazy(".model", "schedule"),
    roofs=lazy(".spec", "roofs"),
    chips_field="devices", chips_per_report=_devices, model_tiers=lazy(".tiers", "model_tiers"),
    description="Roofline + per-kernel launch overhead baseline (GPUs and server CPUs)",
    metrics={"eager_kernels_per_step": lazy(".validation", "metric_eager_kernels_per_step")},
    # the roofline is the GPU side other families compose (a csd server's GPU)
    component=True,
    examples={"small": {"arch": "t4", "model": TINY_GPT2, "prompt": 8, "gen": 3},
              "too_big": {"arch": "t4", "model": "llama2-70b", "gen": 2}},
)

__all__ = ["FAMILY"]
