"""dram: the DRAM memory system as a family (trace-driven ``accsim dram``) and a component.

Modules: ``standards`` (command sets and timing rules as data; ``register_standard`` for a
family's extension such as the AiM command set), ``spec`` (organization, timing, controller;
``DramConfig`` is the section another family embeds), ``trace`` (trace-driven simulation),
``kernels`` / ``kernels_per_bank`` (the shared timing state and the FR-FCFS and per-bank
controllers, numba), ``checker`` (an independent command-trace timing referee), ``patterns``
(synthetic request streams), ``tier`` (the interface for other families, below).

Component interface, for a family that puts a DRAM tier on its timeline (``tier``):
- cycle-level: ``tier.serve(config, addr, is_write)`` feeds requests (offered in order, one
  per cycle at most, as a saturating stream) and returns each request's completion cycle.
- characterised: ``tier.characterise(config, pattern)`` runs a pattern (``streaming`` or
  ``random``, reads or a read/write mix) through the cycle-level kernel once and returns the
  tier's effective bandwidth and latency; results are cached per (config, pattern).
A family states which it uses per tier. Neither form imports another family.
"""
from accsim.core.registry import Family, lazy

FAMILY = Family(
    name="dram", spec=lazy(".spec", "DramSpec"),
    description="DRAM memory standards (GDDR6, HBM2, HBM3, DDR4, DDR5, LPDDR5): trace-driven with 'accsim dram'; "
                "PIM presets extend them",
    usage="accsim dram --standard {preset} --trace FILE", component=True,
    commands={"dram": lazy(".cli", "dram_cmd")},
    metrics={"dram_trace": lazy(".validation", "metric_dram_trace")},
)

__all__ = ["FAMILY"]
