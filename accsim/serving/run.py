"""One serving run from a scenario (the machine) and ServeOptions: what ``accsim serve`` and a
sweep's serve points both call."""
from __future__ import annotations

import dataclasses
import inspect

from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

import accsim
from accsim.serving.engine import Policy
from accsim.serving.options import MACHINE_FIELDS, ServeOptions
from accsim.serving.requests import Requests, generate, read_trace
from accsim.serving.server import Disaggregated, KvLink, ServeResult, Server, find_max_batch, find_max_rate
from accsim.simulation.scenario import Scenario


@dataclass(frozen=True, repr=False)
class ServeRun:
    scenario: Scenario
    options: ServeOptions
    server: Any                 # Server or Disaggregated
    requests: Requests
    policy: Policy
    result: ServeResult
    search: dict | None
    grid_error: dict

    def __repr__(self) -> str:
        """One line a notebook can show (the per-request arrays stay in .result)."""
        f = self.result.figures
        p99 = lambda name: f"{f[name]['p99'] * 1e3:.4g} ms" if f.get(name) else "n/a"
        return (f"ServeRun({self.scenario.model} on {self.scenario.arch}, {self.policy.name}, "
                f"{len(self.requests.arrival_s)} requests: {f['throughput_tokens_per_s']:.4g} tokens/s, "
                f"{f['requests_per_s']:.4g} requests/s, P99 TTFT {p99('ttft_s')}, P99 TPOT {p99('tpot_s')})")

    def to_pandas(self) -> Any:
        """Per request: arrival, prompt and output tokens, queueing, TTFT, TPOT, end to end."""
        from accsim.core.optional import pandas_module
        from accsim.serving.metrics import per_request
        return pandas_module("ServeRun.to_pandas").DataFrame(per_request(self.result.outcome))


def policy_of(o: ServeOptions) -> Policy:
    policy = Policy(o.policy, o.max_batch, o.max_batched_tokens, o.block_tokens, o.preempt, o.swap_GBps,
                    o.decode_only, o.prefix_cache, o.prefix_pool_GBps, o.prefix_pool_tokens)
    policy.check()
    return policy


def traffic(o: ServeOptions) -> Callable[[float], Requests]:
    """rate -> Requests: the trace (rate ignored) or the generator at that rate (same seed: the
    same requests, time-scaled). A bad spec fails here, before any simulation."""
    if o.request_trace:
        trace = read_trace(o.request_trace)
        return lambda rate: trace
    generate(1, o.rate, o.arrivals, o.prompt_tokens, o.output_tokens, o.seed, o.cv, o.prefix_groups, o.prefix_tokens)
    return lambda rate: generate(o.requests, rate, o.arrivals, o.prompt_tokens, o.output_tokens, o.seed, o.cv,
                                 o.prefix_groups, o.prefix_tokens)


def build_server(scenario: Scenario, o: ServeOptions) -> Any:
    """One Server, or prefill and decode pools joined by the KV link."""
    grid = o.grid_per_octave if o.steps == "grid" else 0
    decode = Server(scenario, grid, o.kv_capacity_tokens)
    if not o.prefill_instances:
        return decode
    link = KvLink(o.kv_link_GBps, o.kv_link_latency_us)
    link.check()
    prefill_scenario = replace(scenario, arch=o.prefill_arch or scenario.arch, chips=o.prefill_chips or scenario.chips)
    prefill = Server(prefill_scenario, grid, o.kv_capacity_tokens)
    return Disaggregated(prefill, decode, o.prefill_instances, o.decode_instances, link)


def step_models(server: Any) -> list[tuple[str, Any]]:
    """(label, StepModel) of each machine a server simulates."""
    if isinstance(server, Disaggregated):
        return [("prefill pool", server.prefill.steps), ("decode pool", server.decode.steps)]
    return [("", server.steps)]


def run_serve(scenario: Scenario, o: ServeOptions,
              on_progress: Callable[[int, int], None] = lambda done, total: None) -> ServeRun:
    """One serving run; ``on_progress(done, total)`` counts finished requests (each search try
    starts again from 0)."""
    o.check()
    policy = policy_of(o)
    make_requests = traffic(o)
    requests = make_requests(o.rate)
    server = build_server(scenario, o)
    search = None
    if o.find == "max-rate":
        search = find_max_rate(server, make_requests, policy, o.slo_ttft_s, o.slo_tpot_s, start_rate=o.rate,
                               on_progress=on_progress)
        requests = make_requests(search["max_rate_per_s"])
    elif o.find == "max-batch":
        search = find_max_batch(server, requests, policy, o.slo_ttft_s, o.slo_tpot_s, on_progress=on_progress)
        policy = replace(policy, max_batch=search["max_batch"])
    result = server.serve(requests, policy, o.slo_ttft_s, o.slo_tpot_s, on_progress)
    grid_error = {label: steps.grid_error(o.grid_check) for label, steps in step_models(server)}
    return ServeRun(scenario, o, server, requests, policy, result, search, grid_error)


def payload(run: ServeRun, series_points: int) -> dict:
    """The JSON of a run: versions, configuration, traffic, step model, figures, search, series."""
    from accsim.serving.output import series_sample
    machine = run.server.machine
    return {"accsim_version": accsim.__version__, "resolved_config": machine.preset.resolved_config(),
            "scenario": {**asdict(run.scenario), "overrides": dict(run.scenario.overrides),
                         "family": machine.preset.family},
            "serve": asdict(run.options), "policy": asdict(run.policy), "traffic": run.requests.describe(),
            "steps": {"mode": run.options.steps, "grid_per_octave": run.options.grid_per_octave,
                      "passes_simulated": sum(len(s.passes) for _, s in step_models(run.server)),
                      "grid_error": run.grid_error},
            "figures": run.result.figures, "search": run.search,
            "series": series_sample(run.result.outcome.series, series_points)}


def flat_figures(run: ServeRun) -> dict[str, Any]:
    """The figures one level deep (sweep table columns), numbers and names only."""
    out: dict[str, Any] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, (int, float, str, bool)):
            out[path] = node
    walk(run.result.figures, "")
    if run.search:
        walk({k: v for k, v in run.search.items() if k not in ("tries", "at_max")}, "search")
    walk({label or "steps": e for label, e in run.grid_error.items() if e}, "grid_error")
    return out


def _serve_signature() -> inspect.Signature:
    """accsim.serve's signature: the machine fields of the Scenario, then every ServeOptions
    field, each with its default (what help() and Jupyter show)."""
    from accsim.simulation.scenario import signature
    machine = [p for p in signature(first_positional=2).parameters.values() if p.name in MACHINE_FIELDS]
    options = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=f.type,
                                 default=(f.default if f.default is not dataclasses.MISSING
                                          else f.default_factory() if f.default_factory is not dataclasses.MISSING
                                          else inspect.Parameter.empty))
               for f in dataclasses.fields(ServeOptions)]
    return inspect.Signature(machine + options)


def serve(*args: Any, **fields: Any) -> ServeRun:
    """Serve request traffic (the ``accsim serve`` command): machine fields (arch, model, dtype,
    mapper, overrides, chips, draft_tokens, acceptance) and any ServeOptions field (policy, rate,
    requests, prompt_tokens, slo_tpot_ms, find, prefill_instances, ...). Returns the run:
    ``.result.figures`` (P50/P90/P99, throughput, goodput), ``.result.outcome`` (per request),
    ``.search``, ``.grid_error``."""
    from accsim.core.errors import ConfigError, did_you_mean
    from accsim.serving.options import FIELD_NAMES
    unknown = [k for k in fields if k not in MACHINE_FIELDS and k not in FIELD_NAMES]
    if unknown:
        raise ConfigError([f"{k}: unknown field{did_you_mean(k, [*MACHINE_FIELDS, *FIELD_NAMES])}" for k in unknown])
    try:
        fields = dict(SERVE_SIGNATURE.bind_partial(*args, **fields).arguments)
    except TypeError as exc:        # too many positional arguments, or one given twice
        raise ConfigError([f"accsim.serve: {exc}"]) from None
    machine = {k: v for k, v in fields.items() if k in MACHINE_FIELDS}
    machine["overrides"] = dict(machine.get("overrides") or {})
    return run_serve(Scenario(**machine), ServeOptions(**{k: v for k, v in fields.items() if k in FIELD_NAMES}))


SERVE_SIGNATURE = _serve_signature()
serve.__signature__ = SERVE_SIGNATURE        # what help() and Jupyter show
