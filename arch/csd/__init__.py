"""csd family: a GPU server with computational storage drives (InstInfer) and its offloading
baselines (FlexGen, DeepSpeed), on one event timeline.

``spec`` holds the schema; ``ir`` the storage tasks' vocabulary; ``model`` the family's
simulate/schedule. It composes components: the gpu family's roofline (the GPU side), the
flash component (each drive's array, the host's SSD), the shared task-graph engine.

Contract: ``model.simulate(spec, program)`` is pure and deterministic; ``by_op_kind`` exposed
times (GPU kernels, launches, host transfers, peer-to-peer, flash, engine, SSD) sum to the
step latency.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from accsim.core.registry import Family, lazy
from accsim.workloads.smoke import TINY_GPT2

if TYPE_CHECKING:
    from accsim.arch.csd.spec import CsdSpec


def _one_server(spec: CsdSpec) -> int:
    return 1


FAMILY = Family(
    name="csd", spec=lazy(".spec", "CsdSpec"), mapper="csd-offload",
    simulate=lazy(".model", "simulate"), schedule=lazy(".model", "schedule"),
    roofs=lazy(".spec", "roofs"), work_kind=lazy(".spec", "work_kind"),
    chips_field="drives.count", chips_per_report=_one_server,
    description="GPU server with computational storage drives (InstInfer: decode attention in flash), "
                "FlexGen and DeepSpeed offloading baselines",
    examples={"small": {"arch": "instinfer-a6000-1csd", "model": TINY_GPT2, "prompt": 8, "gen": 3},
              "too_big": {"arch": "instinfer-a6000-1csd", "model": "opt-175b", "gen": 2}},
)

__all__ = ["FAMILY"]
