"""npu family: chips of Da Vinci-class or systolic cores, multi-chip systems.

``spec`` holds the schema; ``tiles`` the tile task graphs of one kernel on one die; ``model``
the family's simulate/schedule; ``systolic`` the SCALE-Sim-exact fold schedule behind
``accsim gemm`` on systolic presets. Models load on first use; importing the package only
brings the spec schema.
"""
from accsim.arch.npu.spec import NpuSpec

__all__ = ["NpuSpec"]
