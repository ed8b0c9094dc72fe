"""Shared discrete-event machinery (numba): event heap, unit timelines, links, task graphs
(fixed times, or tasks sharing a bandwidth)."""
from accsim.core.engine.heap import heap_new, heap_pop, heap_push, heap_size
from accsim.core.engine.resources import lane_offsets, link_transfer, reserve_unit, transfer_cycles
from accsim.core.engine.shared import run_shared_bandwidth
from accsim.core.engine.taskgraph import attribute_makespan, covered_cycles, run_task_graph, unit_busy_cycles

__all__ = ["heap_new", "heap_pop", "heap_push", "heap_size", "lane_offsets", "link_transfer",
           "reserve_unit", "transfer_cycles", "attribute_makespan", "covered_cycles", "run_task_graph",
           "run_shared_bandwidth", "unit_busy_cycles"]
