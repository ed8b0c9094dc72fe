"""rdu family: sockets of a reconfigurable dataflow unit after the SambaNova SN40L.

``spec`` holds the schema; ``ir`` the vocabulary of an rdu Program; ``tiers`` the HBM and DDR
tiers, characterised by the shared DRAM component; ``model`` the family's simulate/schedule
(sections of pipelined stages on the shared task-graph engine). Models load on first use;
importing the package only brings the family record (the spec schema loads on first use).

Contract: ``model.simulate(spec, program)`` is pure and deterministic; ``by_op_kind`` exposed
times (kernel launch, program load, the sections' op kinds) sum to the step latency.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from accsim.core.registry import Family, lazy
from accsim.workloads.smoke import TINY_GPT2

if TYPE_CHECKING:
    from accsim.arch.rdu.spec import RduSpec


def _sockets(spec: RduSpec) -> int:
    return spec.system.sockets


FAMILY = Family(
    name="rdu", spec=lazy(".spec", "RduSpec"), mapper="rdu-sections",
    simulate=lazy(".model", "simulate"), schedule=lazy(".model", "schedule"),
    roofs=lazy(".tiers", "roofs"),
    chips_field="system.sockets", chips_per_report=_sockets,
    describe_program=lazy(".describe", "describe_program"),
    model_tiers=lazy(".model", "model_tiers"),
    description="Reconfigurable dataflow sockets (SN40L-style): fused sections pipelined over PCUs/PMUs, "
                "SRAM/HBM/DDR tiers, peer links",
    examples={"small": {"arch": "sn40l", "model": TINY_GPT2, "prompt": 8, "gen": 3},
              "too_big": {"arch": "sn40l", "model": "llama3.1-405b", "gen": 2,
                          "overrides": {"ddr.capacity_GiB": 64}}},
)

__all__ = ["FAMILY"]
