"""Chrome trace-event timelines (open in Perfetto or chrome://tracing).

One process per simulated step (prefill, first and last simulated decode step), one thread
per unit, one complete event ("ph": "X") per task with its op, kind and unit. Large steps are
aggregated so a file stays small: when a step has more tasks than its share of
``max_events``, consecutive tasks of a unit are merged into one event that names how many
tasks and which kinds it covers. The file's metadata says what was sampled and aggregated.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from accsim.core.program import Program
from accsim.core.stats import Schedule, write_json_atomic


def _step_events(pid: int, program: Program, sched: Schedule, budget: int) -> tuple[list[dict], int]:
    us_per_cycle = 1e6 / sched.clock_hz
    cols = program.columns
    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "thread_name", "pid": pid, "tid": u, "args": {"name": name}}
        for u, name in enumerate(program.units)]
    group = max(1, int(np.ceil(program.n_tasks / max(budget, 1))))
    for unit in range(len(program.units)):
        tasks = np.flatnonzero(cols["unit"] == unit)
        tasks = tasks[np.argsort(sched.start[tasks], kind="stable")]
        for i in range(0, tasks.size, group):
            chunk = tasks[i:i + group]
            first, end = int(sched.start[chunk].min()), int(sched.finish[chunk].max())
            kinds = sorted({program.kinds[k] for k in cols["kind"][chunk]})
            name = (program.ops[cols["op"][chunk[0]]] if chunk.size == 1
                    else f"{chunk.size} tasks")
            events.append({"ph": "X", "pid": pid, "tid": unit, "name": name, "cat": ",".join(kinds),
                           "ts": first * us_per_cycle, "dur": (end - first) * us_per_cycle,
                           "args": {"first_op": program.ops[cols["op"][chunk[0]]], "tasks": int(chunk.size),
                                    "start_cycle": first, "end_cycle": end}})
    return events, group


def write_timeline(path: str | Path, steps: Sequence[tuple[str, Program, Schedule]],
                   meta: dict[str, Any], max_events: int = 50_000) -> Path:
    """Write the steps' schedules as one Chrome trace JSON file (atomically)."""
    events: list[dict[str, Any]] = []
    aggregation = {}
    budget = max_events // max(len(steps), 1)
    for pid, (label, program, sched) in enumerate(steps):
        events.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": label}})
        step_events, group = _step_events(pid, program, sched, budget)
        events += step_events
        aggregation[label] = {"tasks": program.n_tasks, "tasks_per_event": group}
    other = {**meta, "steps": [s[0] for s in steps], "aggregation": aggregation,
             "note": "one process per simulated step, each starting at 0 us; steps between the "
                     "first and last decode step are not drawn; tasks_per_event > 1 means "
                     "consecutive tasks of a unit were merged to keep the file small"}
    return write_json_atomic(path, {"traceEvents": events, "displayTimeUnit": "ns", "otherData": other})
