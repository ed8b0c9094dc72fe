"""npu family: chips of Da Vinci-class or systolic cores, multi-chip systems.

``spec`` holds the schema; ``tiles`` the tile task graphs of one kernel on one die; ``model``
the family's simulate/schedule; ``systolic`` the SCALE-Sim-exact fold schedule behind
``accsim gemm`` on systolic presets; ``cli`` the ``gemm`` command. Models load on first use;
importing the package only brings the family record (the spec schema loads on first use).

Contract: ``model.simulate(spec, program)`` is pure and deterministic; ``by_op_kind`` exposed
times (kernel launches, kernels, collectives, stalls) sum to the step latency.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from accsim.core.registry import Family, lazy
from accsim.workloads.smoke import TINY_GPT2

if TYPE_CHECKING:
    from accsim.arch.npu.spec import NpuSpec


def _packages(spec: NpuSpec) -> int:
    return spec.system.chips


FAMILY = Family(
    name="npu", spec=lazy(".spec", "NpuSpec"), mapper="npu-tiles",
    simulate=lazy(".model", "simulate"), schedule=lazy(".model", "schedule"),
    roofs=lazy(".spec", "roofs"), work_kind=lazy(".spec", "work_kind"),
    chips_field="system.chips", chips_per_report=_packages,
    description="NPU chips of Da Vinci-class or systolic cores (cube/vector, L0/L1/UB, DMA, shared HBM), "
                "multi-chip collectives; single GEMMs with 'accsim gemm'",
    commands={"gemm": lazy(".cli", "gemm_cmd")},
    metrics={"gemm_cycles": lazy(".validation", "metric_gemm_cycles"),
             "moe_all_to_all_us": lazy(".validation", "metric_moe_all_to_all_us"),
             "kernel_hbm_efficiency_pct": lazy(".validation", "metric_kernel_hbm_efficiency_pct")},
    examples={"small": {"arch": "ascend-910b", "model": TINY_GPT2, "prompt": 8, "gen": 3},
              "too_big": {"arch": "ascend-910b", "model": "llama2-70b", "gen": 2}},
)

__all__ = ["FAMILY"]
