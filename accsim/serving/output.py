"""What ``accsim serve`` writes besides its JSON: per-request CSV and a Perfetto timeline (its
figure: ``accsim.view.serving``)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from accsim.core.files import write_atomic
from accsim.serving.engine import Outcome
from accsim.serving.metrics import per_request

TIMELINE_MAX_ITERATIONS = 100_000    # beyond this, the timeline keeps evenly spaced iterations
TIMELINE_MAX_REQUESTS = 2_000        # requests drawn as their own tracks (evenly spaced beyond)


def evenly_spaced(n: int, most: int) -> np.ndarray:
    """Indices of at most ``most`` of ``n`` items, evenly spaced, the first and last kept."""
    if n == 0:
        return np.zeros(0, np.int64)
    return np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(np.int64))


def series_sample(series: dict, points: int) -> dict:
    """The per-iteration series at most ``points`` long (evenly spaced iterations, the last kept)."""
    n = series["end_s"].size
    keep = evenly_spaced(n, points)
    return {"iterations": int(n), "kept": int(keep.size),
            **{k: v[keep].tolist() for k, v in series.items()}}


def write_requests_csv(path: str | Path, outcome: Outcome) -> None:
    rows = per_request(outcome)
    names = list(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["request", *names])
    for i in range(rows["e2e_s"].size):
        writer.writerow([i, *(_cell(rows[n][i]) for n in names)])
    write_atomic(path, out.getvalue())


def _cell(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else repr(float(value))
    return str(int(value))


def request_events(outcome: Outcome) -> list[dict]:
    """Each request (up to TIMELINE_MAX_REQUESTS) as a track of its own: queued, then prefill
    up to its first token, then decode up to its last."""
    n = len(outcome.requests)
    keep = evenly_spaced(n, TIMELINE_MAX_REQUESTS)
    events: list[dict] = [{"name": "process_name", "ph": "M", "pid": 2, "args": {"name": "requests"}}]
    arrival = outcome.requests.arrival_s
    for i in keep.tolist():
        first = outcome.first_token_s[i] if np.isfinite(outcome.first_token_s[i]) else outcome.start_s[i]
        phases = (("queued", arrival[i], outcome.start_s[i]), ("prefill", outcome.start_s[i], first),
                  ("decode", first, outcome.finish_s[i]))
        events.append({"name": "thread_name", "ph": "M", "pid": 2, "tid": i, "args": {"name": f"request {i}"}})
        events += [{"name": name, "ph": "X", "pid": 2, "tid": i, "ts": a * 1e6, "dur": (b - a) * 1e6,
                    "args": {"prompt_tokens": int(outcome.requests.prompt[i]),
                             "output_tokens": int(outcome.requests.output[i])}}
                   for name, a, b in phases if b > a]
    return events


def write_timeline(path: str | Path, tracks: list[tuple[str, dict]], policy: str,
                   requests: list[dict] = ()) -> None:
    """Chrome trace events: per engine (a thread each), one slice per iteration (its kind and
    batch) and counters for the batch, the queue and the KV blocks in use; then ``requests``
    (``request_events``)."""
    events: list[dict] = [{"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "serving"}}]
    shown = total = 0
    for tid, (label, s) in enumerate(tracks, start=1):
        n = s["end_s"].size
        keep = evenly_spaced(n, TIMELINE_MAX_ITERATIONS // len(tracks))
        total, shown = total + n, shown + keep.size
        events.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": label}})
        for i in keep.tolist():
            start_us, end_us = s["start_s"][i] * 1e6, s["end_s"][i] * 1e6
            events.append({"name": str(s["kind"][i]), "ph": "X", "pid": 1, "tid": tid, "ts": start_us,
                           "dur": end_us - start_us, "args": {"batch": int(s["batch"][i]),
                                                               "prompt_tokens": int(s["prompt_tokens"][i])}})
            events.append({"name": f"load ({label})", "ph": "C", "pid": 1, "ts": start_us,
                           "args": {"batch": int(s["batch"][i]), "waiting": int(s["waiting"][i]),
                                    "kv_blocks": int(s["kv_blocks"][i])}})
    meta = {"iterations": int(total), "iterations_shown": int(shown), "policy": policy}
    write_atomic(path, json.dumps({"traceEvents": [*events, *requests], "otherData": meta}))
