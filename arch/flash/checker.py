"""An independent referee of a flash run: every rule the array must obey, checked afterwards.

A die runs one operation at a time (operations that serve several planes share one interval);
an operation serves at most ``planes`` requests, each on its own plane (one without
multi-plane); a channel carries one transfer at a time; a read's transfer follows its tR and a
write's program follows its transfer; nothing starts before its request arrives; every
request completes. Returns the first violations (empty: legal).
"""
from __future__ import annotations

import numpy as np

from accsim.arch.flash.service import FlashRun
from accsim.arch.flash.spec import FlashConfig


def check_run(config: FlashConfig, run: FlashRun, limit: int = 10) -> list[str]:
    out: list[str] = []
    tR, tPROG, xfer = config.timing_ns()
    reads, writes = ~run.is_write, run.is_write
    if np.any(run.done <= 0) and run.done.size:
        out.append("a request never completed")
    first = np.where(reads, run.op_start, run.xfer_start)
    if np.any(first < run.arrival):
        out.append(f"request {int(np.argmax(first < run.arrival))} was served before it arrived")
    if np.any(run.xfer_start[reads] < run.op_end[reads]):
        out.append("a read left its die before its tR ended")
    if np.any(run.op_start[writes] < run.xfer_end[writes]):
        out.append("a write programmed before its data arrived")
    if np.any((run.op_end - run.op_start) != np.where(reads, tR, tPROG)):
        out.append("an operation did not last tR / tPROG")
    if np.any((run.xfer_end - run.xfer_start) != xfer):
        out.append("a transfer did not last one page's bus time")
    limit_planes = config.planes if config.multiplane else 1
    for d in np.unique(run.die):
        mine = np.flatnonzero(run.die == d)
        ops: dict[tuple[int, int], list[int]] = {}
        for i in mine:
            ops.setdefault((int(run.op_start[i]), int(run.op_end[i])), []).append(int(i))
        spans = sorted(ops)
        if any(b[0] < a[1] for a, b in zip(spans, spans[1:])):
            out.append(f"die {d} ran two operations at once")
        for members in ops.values():
            planes = run.plane[members]
            if len(members) > limit_planes or len(set(planes.tolist())) != len(members):
                out.append(f"die {d}: one operation served {len(members)} requests on planes "
                           f"{sorted(planes.tolist())}")
                break
    for c in np.unique(run.channel):
        mine = np.flatnonzero(run.channel == c)
        order = mine[np.lexsort((mine, run.xfer_start[mine]))]
        if np.any(run.xfer_start[order][1:] < run.xfer_end[order][:-1]):
            out.append(f"channel {c} carried two transfers at once")
    return out[:limit]
