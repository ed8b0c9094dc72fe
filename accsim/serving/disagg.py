"""Disaggregated serving (Splitwise / DistServe / CloudMatrix style): a pool of prefill
instances and a pool of decode instances, the KV cache moving between them over a link.

The pipeline only feeds forward (prefill -> link -> decode), so it is simulated stage by stage,
each stage exact given the one before: every prefill instance serves its share of the requests
(round robin in arrival order) with outputs of one token (the prefill's); each request's KV
then crosses its prefill instance's link, first come first served (a transfer waits for the
one before it: contention shows), taking latency + bytes / bandwidth; the decode pool receives
the requests in the order their KV lands (round robin over its instances) as decode-only
requests. A request's first token is its prefill's; its TPOT comes from the decode pool. The
prefill pool holds a request's KV until it is sent; back-pressure from a full decode pool onto
the prefill pool is not modelled (its queue absorbs the requests).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from accsim.core.errors import ConfigError
from accsim.serving.engine import Outcome, Policy, simulate
from accsim.serving.requests import Requests


@dataclass(frozen=True)
class Pool:
    """Instances of one machine: its step model, KV blocks and bytes per token."""

    steps: object                 # StepModel
    instances: int
    capacity_blocks: int
    kv_bytes_per_token: float     # one device's share (swap copies)
    kv_bytes_per_token_all: float  # a token's whole KV (what crosses the link)


@dataclass(frozen=True)
class KvLink:
    GBps: float                   # one prefill instance's egress toward the decode pool
    latency_us: float = 0.0

    def check(self) -> None:
        if not (self.GBps > 0 and np.isfinite(self.GBps)):
            raise ConfigError(["--kv-link-GBps: disaggregated serving moves each request's KV cache from the "
                               "prefill to the decode pool; give the link's bandwidth (e.g. 50 for a 400 Gb/s NIC)"])
        if not (self.latency_us >= 0 and np.isfinite(self.latency_us)):
            raise ConfigError([f"--kv-link-latency-us: expected >= 0, got {self.latency_us}"])


def _subset(requests: Requests, ids: np.ndarray, arrival_s: np.ndarray, output: np.ndarray) -> Requests:
    return Requests(arrival_s[ids], requests.prompt[ids], output[ids])


def transfer_done_s(ready_s: np.ndarray, bytes_: np.ndarray, link: KvLink) -> np.ndarray:
    """When each KV lands: transfers leave one link first come first served."""
    order = np.argsort(ready_s, kind="stable")
    done = np.empty_like(ready_s)
    free_s = 0.0
    for i in order.tolist():
        free_s = max(free_s, ready_s[i]) + link.latency_us * 1e-6 + bytes_[i] / (link.GBps * 1e9)
        done[i] = free_s
    return done


def simulate_disaggregated(requests: Requests, prefill: Pool, decode: Pool, policy: Policy, link: KvLink,
                           on_progress: Callable[[int, int], None] = lambda done, total: None,
                           ) -> tuple[Outcome, dict]:
    """Serve through the two pools; returns the requests' outcome (series: the first decode
    instance's) and each pool's instances' outcomes. ``on_progress(done, total)`` counts the
    requests the decode pool has finished."""
    link.check()
    if policy.name == "static" or policy.decode_only:
        raise ConfigError(["--policy: a disaggregated prefill pool batches continuously or chunked; "
                           "use --policy continuous or chunked (without --decode-only)"])
    n = len(requests)
    first_token = np.full(n, np.nan)
    start = np.full(n, np.nan)
    landed = np.full(n, np.nan)
    pools: dict[str, list[Outcome]] = {"prefill": [], "decode": []}
    prefill_policy = replace(policy, decode_only=False)
    for k in range(prefill.instances):
        ids = np.arange(k, n, prefill.instances)
        if not ids.size:
            continue
        out = simulate(_subset(requests, ids, requests.arrival_s, np.ones(n, dtype=np.int64)), prefill.steps,
                       prefill_policy, prefill.capacity_blocks, prefill.kv_bytes_per_token)
        pools["prefill"].append(out)
        first_token[ids], start[ids] = out.finish_s, out.start_s
        landed[ids] = transfer_done_s(out.finish_s, requests.prompt[ids] * prefill.kv_bytes_per_token_all, link)
    finish = first_token.copy()
    decoding = np.flatnonzero(requests.output > 1)
    by_landing = decoding[np.argsort(landed[decoding], kind="stable")]
    decode_policy = replace(policy, name="continuous", decode_only=True)
    preemptions = np.zeros(n, dtype=np.int64)
    finished = n - decoding.size            # one-token requests end in the prefill pool
    for k in range(decode.instances):
        ids = by_landing[k::decode.instances]
        if not ids.size:
            continue
        out = simulate(_subset(requests, ids, landed, requests.output), decode.steps, decode_policy,
                       decode.capacity_blocks, decode.kv_bytes_per_token,
                       lambda done, total, before=finished: on_progress(before + done, n))
        finished += ids.size
        pools["decode"].append(out)
        order = np.argsort(landed[ids], kind="stable")      # the subset is sorted by its arrivals
        finish[ids[order]] = out.finish_s
        preemptions[ids[order]] += out.preemptions
    main = pools["decode"][0] if pools["decode"] else pools["prefill"][0]
    outcome = Outcome(requests, policy, first_token, finish, start, preemptions, requests.output.copy(),
                      sum(o.prompt_tokens_processed for o in pools["prefill"]), decode.capacity_blocks,
                      sum(o.swap_s for o in pools["decode"]), main.series)
    return outcome, {"landed_s": landed, **pools}
