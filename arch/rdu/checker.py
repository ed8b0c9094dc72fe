"""Invariant checker of an rdu schedule: what the pipeline must never do, whatever the mapping.

For every section, on its own timeline: a task starts only after everything it depends on
has finished; a stage runs one step at a time; a tier (and the peer link, and each die's
die-to-die port) serves one transfer at a time; a load or store of step j of a stage starts only after the stage's step
j - DOUBLE_BUFFER has finished computing (its buffer slot is free); the section ends when its
last task does. Returns the first violations found (empty: the schedule is legal).
"""
from __future__ import annotations

import numpy as np

from accsim.arch.rdu import model as M
from accsim.arch.rdu.ir import D2D, DDR, HBM, LINK, PCU
from accsim.core.program import Program

DOUBLE_BUFFER = 2


def check_schedule(spec, program: Program, limit: int = 10) -> list[str]:
    problems: list[str] = []
    for number, (lo, hi) in enumerate(M._sections(program)):
        cols, ptr, idx = M._local(program, lo, hi)
        run = M.run_section(spec, cols, ptr, idx)
        problems += _check_section(number, cols, ptr, idx, run)
        if len(problems) >= limit:
            break
    return problems[:limit]


def _check_section(number: int, cols, ptr, idx, run) -> list[str]:
    out = []
    where = f"section {number}"
    owner = np.repeat(np.arange(ptr.shape[0] - 1), np.diff(ptr))
    late = np.flatnonzero(run.finish[idx] > run.start[owner])
    if late.size:
        out.append(f"{where}: task {owner[late[0]]} starts before its dependency {idx[late[0]]} finishes")
    unit, stage, step = cols["unit"], cols["stage"], cols["step"]
    ports = [(u, unit == u) for u in (HBM, DDR, LINK)] + \
        [(f"d2d of die {d}", (unit == D2D) & (cols["die"] == d)) for d in np.unique(cols["die"][unit == D2D])]
    for u, mask in ports:
        on = np.flatnonzero(mask)
        order = on[np.lexsort((on, run.start[on]))]
        if np.any(run.start[order][1:] < (run.start + run.busy)[order][:-1]):
            out.append(f"{where}: two transfers overlap on unit {u}")
    for s in np.unique(stage[unit == PCU]):
        steps = np.flatnonzero((unit == PCU) & (stage == s))
        if np.any(run.start[steps][1:] < (run.start + run.busy)[steps][:-1]):
            out.append(f"{where}: stage {s} runs two steps at once")
        done = dict(zip(step[steps].tolist(), run.finish[steps].tolist()))
        for t in np.flatnonzero(((unit == HBM) | (unit == DDR)) & (stage == s) & (step >= DOUBLE_BUFFER)):
            if run.start[t] < done[int(step[t]) - DOUBLE_BUFFER]:
                out.append(f"{where}: stage {s} moves tile {step[t]} before tile "
                           f"{step[t] - DOUBLE_BUFFER} left its buffer")
                break
    if run.finish.size and run.makespan != run.finish.max():
        out.append(f"{where}: makespan {run.makespan} is not the last finish {run.finish.max()}")
    return out
