"""pim family: PIM-GPT, GDDR6-AiM channels that multiply in their banks, plus an ASIC.

Composes the DRAM component (``arch/dram``: timing state, rules, checker) with the AiM
command set (``standards``, registered with the component on import), PIM command streams
(``streams``, ``kernels``) and the system's schema (``spec``) and model (``model``).

Contract: ``model.simulate(spec, program)`` is pure and deterministic; its ``by_op_kind`` is
the critical-path breakdown (pim_mac, activation_refresh, data_movement, asic) and sums to
the pass latency. The prompt runs token by token (one GEMV pass per token, as PIM-GPT does).
"""
from accsim.arch.pim import standards as _aim   # noqa: F401  (registers the GDDR6-AiM standard)
from accsim.core.registry import Family, lazy
from accsim.workloads.smoke import TINY_GPT2

FAMILY = Family(
    name="pim", spec=lazy(".spec", "PimSpec"), mapper="pim-gemv",
    simulate=lazy(".model", "simulate"), schedule=lazy(".model", "schedule"),
    roofs=lazy(".spec", "roofs"), work_kind=lazy(".spec", "work_kind"),
    prefill="token_by_token",
    description="GDDR6-AiM processing-in-memory channels + ASIC (PIM-GPT), cycle-level command streams",
    examples={"small": {"arch": "pim-gpt", "model": TINY_GPT2, "prompt": 2, "gen": 3,
                         "overrides": {"dram.organization.channels": 2}},
              "too_big": {"arch": "pim-gpt", "model": "llama2-7b", "prompt": 2, "gen": 2}},
)

__all__ = ["FAMILY"]
