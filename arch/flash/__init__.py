"""flash: NAND flash arrays as a family (trace-driven ``accsim flash``) and a component.

Modules: ``spec`` (channels, dies, planes, page timing; ``FlashConfig`` is the section another
family embeds), ``kernels`` (the event-driven array, numba), ``service`` (the component
interface: ``serve`` cycle-level, ``characterise`` bandwidth and latency), ``checker`` (an
independent referee of a run), ``cli`` (``accsim flash``). Garbage collection and wear are out
of scope (a fresh drive). A family states which form it uses; neither imports another family.
"""
from accsim.core.registry import Family, lazy

FAMILY = Family(
    name="flash", spec=lazy(".spec", "FlashSpec"),
    description="NAND flash arrays (channels x dies x planes, tR/tPROG, bus): trace-driven with "
                "'accsim flash'; computational storage composes them",
    usage="accsim flash --preset {preset} --trace FILE", component=True,
    commands={"flash": lazy(".cli", "flash_cmd")},
)

__all__ = ["FAMILY"]
