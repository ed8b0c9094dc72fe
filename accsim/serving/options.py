"""What a serving run depends on besides the machine, declared once: the ``accsim serve``
options, the ``serve:`` section of a sweep spec and its ``serve.*`` axes come from here."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from accsim.core.config import param
from accsim.core.errors import ConfigError
POLICIES = ("static", "continuous", "chunked")
PREEMPTION = ("recompute", "swap")
PREFIX_CACHES = ("none", "device", "pool")
ARRIVALS = ("poisson", "gamma", "fixed")
FINDS = ("none", "max-rate", "max-batch")
MAX_REQUESTS = 10_000_000      # generated requests (about 3 months at 1 request/s)
MAX_INSTANCES = 100_000        # disaggregated pools (each instance is simulated: a bound on the work)
# the scenario fields that choose the machine a serving run uses
MACHINE_FIELDS = ("arch", "model", "dtype", "mapper", "overrides", "chips", "draft_tokens", "acceptance",
                  "routing_skew")


@dataclass(frozen=True, kw_only=True)
class ServeOptions:
    """Traffic, scheduling, disaggregation, step model and SLOs of a serving run."""

    request_trace: str = param("", "requests from a CSV/JSONL trace (columns arrival_s,prompt_tokens,"
                               "output_tokens; the Azure LLM inference and BurstGPT layouts are recognised; "
                               "'' = generated)", default="")
    arrivals: str = param("", "generated arrivals", default="poisson", choices=ARRIVALS)
    rate: float = param("requests/s", "generated arrival rate", default=1.0, gt=0.0)
    cv: float = param("", "gamma arrivals: coefficient of variation of the gaps (> 1: bursty)", default=2.0,
                      ge=0.01, le=100.0)
    requests: int = param("requests", "generated requests", default=200, ge=1, le=MAX_REQUESTS)
    prompt_tokens: str = param("tokens", "fixed:N | uniform:LO,HI | lognormal:MEDIAN,SIGMA | hist:TOKENS=WEIGHT,...",
                               default="uniform:32,512")
    output_tokens: str = param("tokens", "as --prompt-tokens", default="uniform:16,256")
    seed: int = param("", "generator seed", default=0, ge=0)
    prefix_groups: int = param("prefixes", "generated prompts start with one of this many shared prefixes "
                               "(drawn uniformly; 0 = none)", default=0, ge=0, le=MAX_REQUESTS)
    prefix_tokens: int = param("tokens", "tokens of each shared prefix (added to the drawn prompt)", default=0,
                               ge=0, le=1 << 20)
    prefix_cache: str = param("", "keep the KV blocks of shared prefixes for later requests, LRU: none; device "
                              "(in the machine's KV memory, evicted before any sequence is preempted); pool (a "
                              "pooled memory tier over a link, as CloudMatrix's EMS: a hit copies the prefix in)",
                              default="none", choices=PREFIX_CACHES)
    prefix_pool_GBps: float = param("GB/s", "prefix_cache pool: the link from the pool to one device", default=0.0,
                                    ge=0.0)
    prefix_pool_tokens: int = param("tokens", "prefix_cache pool: the pool's capacity", default=0, ge=0,
                                    le=1 << 40)
    policy: str = param("", "batching policy", default="continuous", choices=POLICIES)
    max_batch: int = param("sequences", "sequences running at once", default=256, ge=1)
    max_batched_tokens: int = param("tokens", "prompt tokens per prefill iteration (chunked: the token budget "
                                    "per iteration)", default=8192, ge=1)
    block_tokens: int = param("tokens", "tokens per paged-KV block", default=16, ge=1)
    kv_capacity_tokens: int = param("tokens", "KV tokens the machine holds (0: found with the family's "
                                    "capacity check)", default=0, ge=0)
    preempt: str = param("", "when KV blocks run out", default="recompute", choices=PREEMPTION)
    swap_GBps: float = param("GB/s", "--preempt swap: one device's host-link bandwidth", default=0.0, ge=0.0)
    decode_only: bool = param("", "requests arrive with their prompt's KV cache (a disaggregated decode "
                              "instance)", default=False)
    prefill_instances: int = param("instances", "disaggregated serving: prefill instances (0: one instance "
                                   "does both; at most 100,000)", default=0, ge=0, le=MAX_INSTANCES)
    decode_instances: int = param("instances", "disaggregated serving: decode instances (each an "
                                  "--arch/--chips machine; at most 100,000)", default=1, ge=1, le=MAX_INSTANCES)
    prefill_arch: str = param("preset", "disaggregated: the prefill instances' preset ('' = --arch; same "
                              "model, dtype and --set)", default="")
    prefill_chips: int = param("chips", "disaggregated: chips per prefill instance (0 = --chips)", default=0, ge=0)
    kv_link_GBps: float = param("GB/s", "disaggregated: a prefill instance's link to the decode pool",
                                default=0.0, ge=0.0)
    kv_link_latency_us: float = param("us", "disaggregated: fixed cost per KV transfer", default=0.0, ge=0.0)
    steps: str = param("", "simulate every distinct pass (exact) or a grid, interpolated (grid)",
                       default="grid", choices=("grid", "exact"))
    grid_per_octave: int = param("points", "grid points per doubling on each axis (batch, new tokens, "
                                 "context)", default=4, ge=1)
    grid_check: int = param("passes", "grid: passes re-simulated exactly to report the interpolation error",
                            default=8, ge=0)
    slo_ttft_ms: float = param("ms", "TTFT SLO (P99 for --find; per request for goodput); 0 = none",
                               default=0.0, ge=0.0)
    slo_tpot_ms: float = param("ms", "TPOT SLO (P99 for --find; per request for goodput); 0 = none",
                               default=0.0, ge=0.0)
    find: str = param("", "search the highest arrival rate / max batch that meets the SLOs at P99",
                      default="none", choices=FINDS)

    def check(self) -> None:
        """Every problem, all at once: field values, then combinations."""
        from accsim.simulation.scenario import field_problem
        problems = [p for f in dataclasses.fields(self)
                    if (p := field_problem(f.name, getattr(self, f.name), ServeOptions))]
        if not problems:
            problems = self._combination_problems()
        if problems:
            raise ConfigError(problems)

    def _combination_problems(self) -> list[str]:
        problems = []
        if self.request_trace and self.find == "max-rate":
            problems.append("find: max-rate scales generated arrivals; drop the request trace or use max-batch")
        if self.preempt != "swap" and self.swap_GBps:
            problems.append("swap_GBps: the host link of preempt swap; drop it or preempt by swap")
        if self.find != "none" and not (self.slo_ttft_ms or self.slo_tpot_ms):
            problems.append("find: give the SLO to meet (slo_ttft_ms and/or slo_tpot_ms)")
        if (self.prefix_groups > 0) != (self.prefix_tokens > 0):
            problems.append("prefix_groups/prefix_tokens: shared prefixes need both (groups >= 1 and tokens >= 1)")
        if self.prefix_groups and self.request_trace:
            problems.append("prefix_groups: a trace brings its own prefixes (prefix_id, prefix_tokens columns); drop it")
        if self.prefix_cache != "none":
            if self.policy == "static":
                problems.append("prefix_cache: a static batch is padded to its longest prompt; use policy continuous "
                                "or chunked")
            if self.prefill_instances or self.decode_only:
                problems.append("prefix_cache: caches prompts where they are prefilled; disaggregated and decode-only "
                                "instances are not modelled with it")
        if (self.prefix_cache == "pool") != bool(self.prefix_pool_GBps or self.prefix_pool_tokens):
            problems.append("prefix_pool_GBps/prefix_pool_tokens: they describe prefix_cache pool; set prefix_cache "
                            "pool with both, or drop them")
        elif self.prefix_cache == "pool" and not (self.prefix_pool_GBps > 0 and self.prefix_pool_tokens > 0):
            problems.append("prefix_cache pool: give the pool's link (prefix_pool_GBps > 0) and capacity "
                            "(prefix_pool_tokens > 0)")
        if self.prefill_instances and self.decode_only:
            problems.append("decode_only: describes one decode instance; with prefill_instances the decode pool "
                            "already receives the KV cache: drop one of them")
        disaggregation = {"decode_instances": 1, "prefill_arch": "", "prefill_chips": 0, "kv_link_GBps": 0.0,
                          "kv_link_latency_us": 0.0}
        if not self.prefill_instances:
            problems += [f"{name}: sets up disaggregated serving; add prefill_instances >= 1"
                         for name, unset in disaggregation.items() if getattr(self, name) != unset]
        return problems

    @property
    def slo_ttft_s(self) -> float | None:
        return self.slo_ttft_ms / 1e3 if self.slo_ttft_ms else None

    @property
    def slo_tpot_s(self) -> float | None:
        return self.slo_tpot_ms / 1e3 if self.slo_tpot_ms else None


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(ServeOptions))


def serve_options(values: Mapping[str, Any], where: str) -> ServeOptions:
    """ServeOptions from a mapping (a sweep's ``serve:`` section), unknown keys named."""
    from accsim.core.errors import did_you_mean
    unknown = [f"{where}.{k}: unknown serve option{did_you_mean(str(k), FIELD_NAMES)}" for k in values
               if k not in FIELD_NAMES]
    if unknown:
        raise ConfigError(unknown)
    return ServeOptions(**values)
