"""Servers: one machine, or disaggregated pools, serving requests; the capacity searches."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from accsim.core.capacity import resident_bytes
from accsim.core.errors import ConfigError
from accsim.core.registry import families
from accsim.serving.disagg import KvLink, Pool, simulate_disaggregated
from accsim.serving.engine import Outcome, Policy, simulate
from accsim.serving.metrics import engine_figures, request_figures, summarise
from accsim.serving.requests import Requests
from accsim.serving.steps import Machine, StepModel, kv_capacity_tokens, largest_passing, load_machine, lowers
from accsim.simulation.runner import step_graph
from accsim.simulation.scenario import Scenario
from accsim.workloads.graph import Phase

__all__ = ["Disaggregated", "KvLink", "ServeResult", "Server", "find_max_batch", "find_max_rate"]


@dataclass(frozen=True)
class ServeResult:
    outcome: Outcome
    figures: dict
    pools: dict | None = None     # disaggregated: each pool's instances' outcomes


class Server:
    """One machine and model, ready to serve: its KV capacity is found once and its step
    passes are memoised across every ``serve`` call (a capacity search reuses them)."""

    def __init__(self, scenario: Scenario, grid_per_octave: int = 0, kv_capacity_tokens_override: int = 0) -> None:
        self.machine: Machine = load_machine(scenario)
        self.steps = StepModel(self.machine, grid_per_octave)
        if kv_capacity_tokens_override < 0:
            raise ConfigError([f"--kv-capacity-tokens: expected >= 0 (0 = the machine's), got "
                               f"{kv_capacity_tokens_override}"])
        self.kv_tokens = kv_capacity_tokens_override or kv_capacity_tokens(self.machine)
        self.kv_source = "given" if kv_capacity_tokens_override else "the family's capacity check"
        m = self.machine
        graph = step_graph(m.preset, m.model, Phase.decode(m.batch_unit, 0), scenario.mapper or None)
        # one cached token of one sequence, on one device (what each device's host link copies)
        self.kv_bytes_per_token = resident_bytes(graph).kv_bytes / (m.batch_unit // m.dp)
        self.batches_checked: set[int] = set()
        family = families().get(self.machine.preset.family)
        self.chips = family.chips_per_report(self.machine.preset.spec) if family.chips_per_report else 1

    def pool(self, instances: int, block_tokens: int) -> Pool:
        return Pool(self.steps, instances, self.kv_tokens // block_tokens, self.kv_bytes_per_token,
                    self.kv_bytes_per_token * self.machine.tp)

    def check_batch(self, max_batch: int) -> None:
        """Refuse a --max-batch the machine cannot run as one pass (before simulating)."""
        m = self.machine
        padded = math.ceil(max_batch / m.batch_unit) * m.batch_unit
        if padded in self.batches_checked:
            return
        try:
            lowers(m.preset, m.model, m.scenario.mapper, padded)
        except ConfigError as exc:
            raise ConfigError([f"--max-batch: {m.preset.name} does not run {padded} sequences in one pass "
                               f"({'; '.join(exc.problems)}); lower --max-batch (this machine runs "
                               f"{m.batch_unit})"]) from None
        self.batches_checked.add(padded)

    def serve(self, requests: Requests, policy: Policy, slo_ttft_s: float | None = None,
              slo_tpot_s: float | None = None,
              on_progress: Callable[[int, int], None] = lambda done, total: None) -> ServeResult:
        policy.check()
        self.check_batch(policy.max_batch)
        blocks = self.kv_tokens // policy.block_tokens
        outcome = simulate(requests, self.steps, policy, blocks, self.kv_bytes_per_token, on_progress)
        figures = summarise(outcome, slo_ttft_s, slo_tpot_s, self.chips)
        figures["kv_capacity_tokens"] = self.kv_tokens
        figures["kv_capacity_source"] = self.kv_source
        figures["passes_simulated"] = len(self.steps.passes)
        return ServeResult(outcome, figures)


@dataclass
class Disaggregated:
    """Prefill and decode pools (each a Server and an instance count) joined by a KV link; it
    serves like a Server (so the capacity searches take it too)."""

    prefill: Server
    decode: Server
    prefill_instances: int
    decode_instances: int
    link: KvLink

    @property
    def machine(self) -> Machine:
        return self.decode.machine

    @property
    def chips(self) -> int:
        return self.prefill.chips * self.prefill_instances + self.decode.chips * self.decode_instances

    def serve(self, requests: Requests, policy: Policy, slo_ttft_s: float | None = None,
              slo_tpot_s: float | None = None,
              on_progress: Callable[[int, int], None] = lambda done, total: None) -> ServeResult:
        policy.check()
        if self.prefill_instances < 1 or self.decode_instances < 1:
            raise ConfigError(["--prefill-instances/--decode-instances: each pool needs >= 1 instance"])
        outcome, pools = simulate_disaggregated(
            requests, self.prefill.pool(self.prefill_instances, policy.block_tokens),
            self.decode.pool(self.decode_instances, policy.block_tokens), policy, self.link, on_progress)
        figures = request_figures(outcome, slo_ttft_s, slo_tpot_s, self.chips)
        makespan = figures["makespan_s"]
        for name, server, count in (("prefill", self.prefill, self.prefill_instances),
                                    ("decode", self.decode, self.decode_instances)):
            runs = pools[name]
            figures[f"{name}_pool"] = {
                "instances": count, "chips": server.chips * count,
                **(engine_figures([o.series for o in runs], runs[0].capacity_blocks, makespan) if runs else {}),
                "preemptions": int(sum(o.preemptions.sum() for o in runs)),
                "kv_capacity_tokens": server.kv_tokens, "passes_simulated": len(server.steps.passes)}
        transfer = pools["landed_s"] - outcome.first_token_s
        figures["kv_transfer_s"] = {"mean": float(np.mean(transfer)), "p99": float(np.percentile(transfer, 99)),
                                    "link_GBps": self.link.GBps}
        figures["preemptions"] = int(outcome.preemptions.sum())
        figures["prompt_tokens_processed"] = outcome.prompt_tokens_processed
        return ServeResult(outcome, figures, pools)


def meets(figures: dict, slo_ttft_s: float | None, slo_tpot_s: float | None, percentile: int = 99) -> bool:
    """Whether the run's P99 (or another percentile) TTFT and TPOT are within the SLOs."""
    key = f"p{percentile}"
    return all(limit is None or not figures[name] or figures[name][key] <= limit
               for name, limit in (("ttft_s", slo_ttft_s), ("tpot_s", slo_tpot_s)))


def _require_slo(slo_ttft_s: float | None, slo_tpot_s: float | None) -> None:
    if slo_ttft_s is None and slo_tpot_s is None:
        raise ConfigError(["--find: give the SLO to meet (--slo-ttft-ms and/or --slo-tpot-ms)"])


def find_max_rate(server: Server, make_requests: Callable[[float], Requests], policy: Policy,
                  slo_ttft_s: float | None, slo_tpot_s: float | None, start_rate: float = 1.0,
                  precision: float = 0.02, on_try: Callable[[float, bool], None] = lambda r, ok: None,
                  on_progress: Callable[[int, int], None] = lambda done, total: None) -> dict:
    """The highest arrival rate (requests/s) whose P99 TTFT/TPOT meet the SLOs: doubling or
    halving from ``start_rate`` to bracket it, then bisection to ``precision`` (relative).
    ``make_requests(rate)`` draws the traffic (same seed: the same requests, time-scaled)."""
    _require_slo(slo_ttft_s, slo_tpot_s)
    tried: dict[float, ServeResult] = {}

    def ok(rate: float) -> bool:
        tried[rate] = server.serve(make_requests(rate), policy, slo_ttft_s, slo_tpot_s, on_progress)
        passed = meets(tried[rate].figures, slo_ttft_s, slo_tpot_s)
        on_try(rate, passed)
        return passed

    lo, hi = 0.0, start_rate
    while ok(hi):
        lo, hi = hi, hi * 2
        if hi > 1e7:
            raise ConfigError(["--find max-rate: the SLO holds beyond 10M requests/s; the requests are too "
                               "few to load the machine (raise --requests)"])
    while lo == 0.0 and hi > 1e-6:
        if ok(hi / 2):
            lo = hi / 2
            break
        hi /= 2
    if lo == 0.0:
        raise ConfigError(["--find max-rate: no arrival rate meets the SLO (a request alone misses it); "
                           "loosen the SLO or use a faster machine"])
    while (hi - lo) / lo > precision:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return {"found": "max_rate", "max_rate_per_s": lo, "first_failing_rate_per_s": hi,
            "tries": [{"rate_per_s": r, "meets_slo": meets(res.figures, slo_ttft_s, slo_tpot_s),
                       "p99_ttft_s": res.figures["ttft_s"].get("p99"), "p99_tpot_s": res.figures["tpot_s"].get("p99"),
                       "throughput_tokens_per_s": res.figures["throughput_tokens_per_s"]}
                      for r, res in sorted(tried.items())],
            "at_max": tried[lo].figures}


def find_max_batch(server: Server, requests: Requests, policy: Policy, slo_ttft_s: float | None,
                   slo_tpot_s: float | None, on_try: Callable[[int, bool], None] = lambda b, ok: None,
                   on_progress: Callable[[int, int], None] = lambda done, total: None) -> dict:
    """The largest ``max_batch`` (a multiple of the machine's batch unit) whose P99 TTFT/TPOT
    meet the SLOs on ``requests`` (load them enough to fill the batch), and its throughput."""
    _require_slo(slo_ttft_s, slo_tpot_s)
    unit = server.machine.batch_unit
    tried: dict[int, ServeResult] = {}

    def ok(groups: int) -> bool:
        batch = groups * unit
        tried[batch] = server.serve(requests, replace(policy, max_batch=batch), slo_ttft_s, slo_tpot_s, on_progress)
        passed = meets(tried[batch].figures, slo_ttft_s, slo_tpot_s)
        on_try(batch, passed)
        return passed

    most_groups = max(1, math.ceil(len(requests) / unit))
    if not ok(1):
        raise ConfigError([f"--find max-batch: even a batch of {unit} (the smallest the machine runs) "
                           "misses the SLO; loosen it or use a faster machine"])
    lo = largest_passing(ok, most_groups)
    best = tried[lo * unit].figures
    return {"found": "max_batch", "max_batch": lo * unit, "batch_per_chip": lo * unit / server.chips,
            "limited_by_requests": lo == most_groups,
            "tries": [{"max_batch": b, "meets_slo": meets(res.figures, slo_ttft_s, slo_tpot_s),
                       "p99_ttft_s": res.figures["ttft_s"].get("p99"), "p99_tpot_s": res.figures["tpot_s"].get("p99"),
                       "throughput_tokens_per_s_per_chip": res.figures["throughput_tokens_per_s_per_chip"]}
                      for b, res in sorted(tried.items())],
            "at_max": best}
