"""The vocabulary of an rdu Program, shared by the mapper (which writes it) and the model.

One row per task. A section (kernel) starts with a launch task on the AGCU; then, per step and
stage, loads from a memory tier into the stage's PMUs (unit hbm or ddr), the stage's compute on
its PCUs (unit pcu; a collective step on the peer links: unit link) and stores of its output
tile (unit hbm); on a socket of several dies, a tile a stage streams to a consumer on another
die crosses the die-to-die link (unit d2d, one port per sending die). Dependencies carry both
the data flow and the credits of double-buffered PMU buffers, so a stage fires only when its
inputs are buffered and its consumers have room.
Sections are contiguous and run one at a time, in order.
"""
import numpy as np

from accsim.workloads.graph import OP_KINDS

UNITS = ("agcu", "hbm", "ddr", "pcu", "link", "d2d")
AGCU, HBM, DDR, PCU, LINK, D2D = range(len(UNITS))
KINDS = OP_KINDS + ("kernel_launch",)
LAUNCH_KIND = KINDS.index("kernel_launch")

COLUMNS = {
    "section": np.int32,      # section (kernel call) the task belongs to
    "stage": np.int32,        # stage within the section
    "step": np.int32,         # step (tile) of that stage
    "m": np.int64, "k": np.int64, "n": np.int64,   # matrix work of the step (systolic mode)
    "simd_elems": np.int64,   # elements through the SIMD stages
    "simd_ops": np.float64,   # operations per element (chained through the stages)
    "tail_ops": np.int64,     # transcendental results (tail unit)
    "pmu_bytes": np.int64,    # operand bytes the PCUs read from the stage's PMUs
    "out_bytes": np.int64,    # bytes the step sends on (RDN to consumers; collective payload)
    "bytes": np.int64,        # bytes a load / store moves
    "random": np.bool_,       # a gather (random pattern) rather than a stream
    "store": np.bool_,        # a write of the stage's output tile (posted: nobody waits for DRAM)
    "link_code": np.int32,    # collective (accsim.core.engine.collectives codes) of link tasks
    "group": np.int32,        # sockets in that collective
    "pcus": np.int32,         # PCUs of the stage
    "pmus": np.int32,         # PMUs of the stage
    "die": np.int32,          # die the stage is placed on (a d2d task: the sending die)
    "config_units": np.int32, # launch task: PCUs + PMUs the section configures
    "program_id": np.int32,   # launch task: sections with one id run the same program
    "flops": np.float64,      # useful flops of the step (for utilisation)
}
