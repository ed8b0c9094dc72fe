"""Serving figures from an Outcome: per-request latencies, percentiles, throughput, goodput.

Per request: queueing delay (arrival to the first iteration that works on it), TTFT (arrival
to first token), TPOT (first token to last, over the output tokens after the first) and
end-to-end latency. Throughput counts output tokens over the makespan (first arrival to last
finish). Goodput is the rate of requests that meet every SLO given (DistServe's definition);
without SLOs every request counts.
"""
from __future__ import annotations

import math

import numpy as np

from accsim.serving.engine import Outcome

PERCENTILES = (50, 90, 99)


def per_request(outcome: Outcome) -> dict[str, np.ndarray]:
    r = outcome.requests
    with np.errstate(invalid="ignore", divide="ignore"):
        decode_tokens = (r.output - 1).astype(float)
        tpot = np.where(decode_tokens > 0, (outcome.finish_s - outcome.first_token_s) / decode_tokens, np.nan)
        if outcome.policy.decode_only:   # the first token came from the prefill instance
            tpot = (outcome.finish_s - outcome.start_s) / decode_tokens
    return {"arrival_s": r.arrival_s, "prompt_tokens": r.prompt, "output_tokens": r.output,
            "queue_s": outcome.start_s - r.arrival_s, "ttft_s": outcome.first_token_s - r.arrival_s,
            "tpot_s": tpot, "e2e_s": outcome.finish_s - r.arrival_s, "preemptions": outcome.preemptions}


def percentiles(values: np.ndarray) -> dict:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {}
    return {"mean": float(finite.mean()), **{f"p{q}": float(np.percentile(finite, q)) for q in PERCENTILES},
            "max": float(finite.max())}


def meets_slo(rows: dict, slo_ttft_s: float | None, slo_tpot_s: float | None) -> np.ndarray:
    ok = np.ones(rows["e2e_s"].size, dtype=bool)
    if slo_ttft_s is not None:
        ok &= ~(rows["ttft_s"] > slo_ttft_s)      # decode-only requests have no TTFT (nan): not judged
    if slo_tpot_s is not None:
        ok &= ~(rows["tpot_s"] > slo_tpot_s)
    return ok


def summarise(outcome: Outcome, slo_ttft_s: float | None = None, slo_tpot_s: float | None = None,
              chips: int = 1) -> dict:
    """Request figures over every request, and the engine's figures from its series."""
    return {**request_figures(outcome, slo_ttft_s, slo_tpot_s, chips),
            **engine_figures([outcome.series], outcome.capacity_blocks, _makespan(outcome)),
            "preemptions": int(outcome.preemptions.sum()), "swap_s": outcome.swap_s,
            "prompt_tokens_processed": outcome.prompt_tokens_processed,
            **({"prefix_cache": prefix_figures(outcome)} if outcome.prefix else {})}


def prefix_figures(outcome: Outcome) -> dict:
    """Hit rate and the prefill work the prefix cache saved (of the prompt tokens processed
    plus those it skipped)."""
    p = outcome.prefix
    total = outcome.prompt_tokens_processed + p["prompt_tokens_saved"]
    return {**p, "prefill_saved_pct": 100.0 * p["prompt_tokens_saved"] / total if total else 0.0}


def _makespan(outcome: Outcome) -> float:
    return float(np.nanmax(outcome.finish_s) - outcome.requests.arrival_s[0])


def request_figures(outcome: Outcome, slo_ttft_s: float | None, slo_tpot_s: float | None, chips: int) -> dict:
    rows = per_request(outcome)
    r = outcome.requests
    makespan = _makespan(outcome)
    tokens = int(outcome.tokens_out.sum())
    ok = meets_slo(rows, slo_ttft_s, slo_tpot_s)
    figures = {
        "requests": len(r), "output_tokens": tokens, "makespan_s": makespan,
        "throughput_tokens_per_s": tokens / makespan if makespan else math.inf,
        "throughput_tokens_per_s_per_chip": tokens / makespan / chips if makespan else math.inf,
        "requests_per_s": len(r) / makespan if makespan else math.inf,
        "goodput_requests_per_s": int(ok.sum()) / makespan if makespan else math.inf,
        "slo_attainment_pct": 100.0 * float(ok.mean()),
        "slo": {"ttft_s": slo_ttft_s, "tpot_s": slo_tpot_s},
    }
    for name in ("queue_s", "ttft_s", "tpot_s", "e2e_s"):
        figures[name] = percentiles(rows[name])
    return figures


def engine_figures(instances: list[dict], capacity_blocks: int, makespan: float) -> dict:
    """Iterations, busy share (mean over the instances), decode batch and KV peak of engines."""
    busy = [float((s["end_s"] - s["start_s"]).sum()) for s in instances]
    batch = np.concatenate([s["batch"][s["kind"] != "prefill"] for s in instances])
    return {"iterations": int(sum(s["end_s"].size for s in instances)),
            "busy_pct": 100.0 * float(np.mean(busy)) / makespan if makespan else 100.0,
            "mean_decode_batch": float(batch.mean()) if batch.size else 0.0,
            "mean_batch": float(np.concatenate([s["batch"] for s in instances]).mean()),
            "max_batch_seen": int(max(s["batch"].max() for s in instances)),
            "kv_capacity_blocks": capacity_blocks,
            "kv_peak_pct": 100.0 * float(max(s["kv_blocks"].max() for s in instances)) / capacity_blocks}
