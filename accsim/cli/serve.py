"""accsim serve: request traffic on any family, batching policies, P50/P99 under SLOs."""
from __future__ import annotations

from typing import Any

import click

import accsim
from accsim.cli.common import cli, console, fmt_s, new_table, progress_bar
from accsim.files import OUTPUT
from accsim.scenario import click_options

MACHINE_FIELDS = ("arch", "model", "dtype", "mapper", "overrides", "chips", "draft_tokens", "acceptance")
SERIES_POINTS_IN_JSON = 5000     # iterations kept in the JSON's time series (evenly spaced)


def _traffic_options(f: Any) -> Any:
    for decorator in reversed([
        click.option("--request-trace", "trace_path", default=None, type=click.Path(dir_okay=False),
                     help="requests from a CSV/JSONL trace (columns arrival_s,prompt_tokens,output_tokens; "
                          "the Azure LLM inference and BurstGPT layouts are recognised)"),
        click.option("--arrivals", default="poisson", show_default=True,
                     type=click.Choice(("poisson", "gamma", "fixed")), help="generated arrivals"),
        click.option("--rate", default=1.0, show_default=True, type=float, help="requests per second"),
        click.option("--cv", default=2.0, show_default=True, type=float,
                     help="gamma arrivals: coefficient of variation of the gaps (> 1: bursty)"),
        click.option("--requests", "n_requests", default=200, show_default=True, type=click.IntRange(min=1),
                     help="generated requests"),
        click.option("--prompt-tokens", default="uniform:32,512", show_default=True,
                     help="fixed:N | uniform:LO,HI | lognormal:MEDIAN,SIGMA | hist:TOKENS=WEIGHT,..."),
        click.option("--output-tokens", default="uniform:16,256", show_default=True,
                     help="as --prompt-tokens"),
        click.option("--seed", default=0, show_default=True, type=int, help="generator seed"),
    ]):
        f = decorator(f)
    return f


def _policy_options(f: Any) -> Any:
    for decorator in reversed([
        click.option("--policy", default="continuous", show_default=True,
                     type=click.Choice(("static", "continuous", "chunked")), help="batching policy"),
        click.option("--max-batch", default=256, show_default=True, type=click.IntRange(min=1),
                     help="sequences running at once"),
        click.option("--max-batched-tokens", default=8192, show_default=True, type=click.IntRange(min=1),
                     help="prompt tokens per prefill iteration (chunked: the token budget per iteration)"),
        click.option("--block-tokens", default=16, show_default=True, type=click.IntRange(min=1),
                     help="tokens per paged-KV block"),
        click.option("--kv-capacity-tokens", default=0, show_default=True, type=click.IntRange(min=0),
                     help="KV tokens the machine holds (0: found with the family's capacity check)"),
        click.option("--preempt", default="recompute", show_default=True, type=click.Choice(("recompute", "swap")),
                     help="when KV blocks run out"),
        click.option("--swap-GBps", "swap_GBps", default=0.0, type=click.FloatRange(min=0),
                     help="--preempt swap: one device's host-link bandwidth"),
        click.option("--decode-only", is_flag=True,
                     help="requests arrive with their prompt's KV cache (a disaggregated decode instance)"),
        click.option("--prefill-instances", default=0, show_default=True, type=click.IntRange(min=0),
                     help="disaggregated serving: prefill instances (0: one instance does both)"),
        click.option("--decode-instances", default=1, show_default=True, type=click.IntRange(min=1),
                     help="disaggregated serving: decode instances (each an --arch/--chips machine)"),
        click.option("--prefill-arch", default="", help="disaggregated: the prefill instances' preset "
                                                        "('' = --arch; same model, dtype and --set)"),
        click.option("--prefill-chips", default=0, show_default=True, type=click.IntRange(min=0),
                     help="disaggregated: chips per prefill instance (0 = --chips)"),
        click.option("--kv-link-GBps", "kv_link_GBps", default=0.0, type=click.FloatRange(min=0),
                     help="disaggregated: a prefill instance's link to the decode pool"),
        click.option("--kv-link-latency-us", default=0.0, show_default=True, type=click.FloatRange(min=0),
                     help="disaggregated: fixed cost per KV transfer"),
    ]):
        f = decorator(f)
    return f


def _output_options(f: Any) -> Any:
    for decorator in reversed([
        click.option("--steps", "step_mode", default="grid", show_default=True, type=click.Choice(("grid", "exact")),
                     help="simulate every distinct pass (exact) or a grid, interpolated (grid)"),
        click.option("--grid-per-octave", default=4, show_default=True, type=click.IntRange(min=1),
                     help="grid points per doubling on each axis (batch, new tokens, context)"),
        click.option("--grid-check", default=8, show_default=True, type=click.IntRange(min=0),
                     help="grid: passes re-simulated exactly to report the interpolation error"),
        click.option("--slo-ttft-ms", default=None, type=click.FloatRange(min=0, min_open=True),
                     help="TTFT SLO (P99 for --find; per request for goodput)"),
        click.option("--slo-tpot-ms", default=None, type=click.FloatRange(min=0, min_open=True),
                     help="TPOT SLO (P99 for --find; per request for goodput)"),
        click.option("--find", default=None, type=click.Choice(("max-rate", "max-batch")),
                     help="search the highest arrival rate / max batch that meets the SLOs at P99"),
        click.option("--json", "json_path", default="serve.json", show_default=True, type=OUTPUT,
                     help="figures, per-iteration series and the search"),
        click.option("--requests-csv", default=None, type=OUTPUT, help="per-request times (CSV)"),
        click.option("--plot", "plot_path", default=None, type=OUTPUT,
                     help="batch, queue and KV over time, TTFT/TPOT distributions (png/svg/pdf)"),
        click.option("--timeline", "timeline_path", default=None, type=OUTPUT,
                     help="Perfetto / chrome://tracing timeline of the iterations"),
        click.option("--quiet", is_flag=True, help="no progress bar and no summary tables"),
    ]):
        f = decorator(f)
    return f


@cli.command("serve")
@click_options(only=MACHINE_FIELDS)
@_traffic_options
@_policy_options
@_output_options
def serve_cmd(**options: Any) -> None:
    """Serve request traffic on a machine: batching policy, paged KV, TTFT/TPOT percentiles."""
    from dataclasses import replace

    from accsim.presets import parse_set_options
    from accsim.scenario import Scenario
    from accsim.serving import Server
    from accsim.serving.engine import Policy

    o = options
    if o["trace_path"] and o["find"] == "max-rate":
        raise click.UsageError("--find max-rate scales generated arrivals; drop --request-trace or use --find max-batch")
    if o["preempt"] != "swap" and o["swap_GBps"]:
        raise click.UsageError("--swap-GBps is the host link of --preempt swap; drop it or add --preempt swap")
    scenario = Scenario(**{k: o[k] for k in MACHINE_FIELDS if k != "overrides"},
                        overrides=parse_set_options(o["overrides"]))
    policy = Policy(o["policy"], o["max_batch"], o["max_batched_tokens"], o["block_tokens"], o["preempt"],
                    o["swap_GBps"], o["decode_only"])
    policy.check()
    slo_ttft_s = o["slo_ttft_ms"] / 1e3 if o["slo_ttft_ms"] else None
    slo_tpot_s = o["slo_tpot_ms"] / 1e3 if o["slo_tpot_ms"] else None
    make_requests = _traffic(o)
    requests = make_requests(o["rate"])
    _check_disaggregated(o)
    with progress_bar("simulating passes", o["quiet"]) as on_pass:
        server = _server(o, scenario, lambda n: on_pass(n, n))
        search = None
        if o["find"] == "max-rate":
            from accsim.serving import find_max_rate
            search = find_max_rate(server, make_requests, policy, slo_ttft_s, slo_tpot_s, start_rate=o["rate"])
            requests = make_requests(search["max_rate_per_s"])
        elif o["find"] == "max-batch":
            from accsim.serving import find_max_batch
            search = find_max_batch(server, requests, policy, slo_ttft_s, slo_tpot_s)
            policy = replace(policy, max_batch=search["max_batch"])
        result = server.serve(requests, policy, slo_ttft_s, slo_tpot_s)
        grid_error = {name: steps.grid_error(o["grid_check"]) for name, steps in _step_models(server)}
    _write_outputs(o, scenario, server, requests, result, search, grid_error)
    if not o["quiet"]:
        _print_summary(scenario, policy, requests, result.figures, search, grid_error, server)
        written = [p for p in (o["json_path"], o["requests_csv"], o["plot_path"], o["timeline_path"]) if p]
        console.print("written: " + ", ".join(written))


def _check_disaggregated(o: dict) -> None:
    if o["prefill_instances"]:
        if o["decode_only"]:
            raise click.UsageError("--decode-only describes one decode instance; with --prefill-instances the "
                                   "decode pool already receives the KV cache: drop one of them")
        return
    given = [name for name in ("decode_instances", "prefill_arch", "prefill_chips", "kv_link_GBps",
                               "kv_link_latency_us") if o[name] != {"decode_instances": 1}.get(name, 0)
             and o[name] not in ("", 0, 0.0)]
    if given:
        raise click.UsageError(f"--{given[0].replace('_', '-').replace('GBps', 'GBps')} sets up disaggregated "
                               "serving; add --prefill-instances N")


def _server(o: dict, scenario: Any, on_simulate: Any) -> Any:
    """One Server, or prefill and decode pools joined by the KV link."""
    from dataclasses import replace

    from accsim.serving import Disaggregated, KvLink, Server
    grid = o["grid_per_octave"] if o["step_mode"] == "grid" else 0
    decode = Server(scenario, grid, o["kv_capacity_tokens"], on_simulate=on_simulate)
    if not o["prefill_instances"]:
        return decode
    link = KvLink(o["kv_link_GBps"], o["kv_link_latency_us"])
    link.check()
    prefill_scenario = replace(scenario, arch=o["prefill_arch"] or scenario.arch,
                               chips=o["prefill_chips"] or scenario.chips)
    prefill = Server(prefill_scenario, grid, o["kv_capacity_tokens"], on_simulate=on_simulate)
    return Disaggregated(prefill, decode, o["prefill_instances"], o["decode_instances"], link)


def _step_models(server: Any) -> list[tuple[str, Any]]:
    if hasattr(server, "steps"):
        return [("", server.steps)]
    return [("prefill pool", server.prefill.steps), ("decode pool", server.decode.steps)]


def _traffic(o: dict) -> Any:
    """rate -> Requests: the trace (rate ignored) or the generator at that rate (same seed)."""
    from accsim.serving.requests import generate, read_trace
    if o["trace_path"]:
        trace = read_trace(o["trace_path"])
        return lambda rate: trace
    # checked once here, so that a bad spec fails before any simulation
    generate(1, o["rate"], o["arrivals"], o["prompt_tokens"], o["output_tokens"], o["seed"], o["cv"])
    return lambda rate: generate(o["n_requests"], rate, o["arrivals"], o["prompt_tokens"], o["output_tokens"],
                                 o["seed"], o["cv"])


def _write_outputs(o: dict, scenario: Any, server: Any, requests: Any, result: Any, search: Any,
                   grid_error: dict) -> None:
    from dataclasses import asdict

    from accsim.serving.output import series_sample, write_plot, write_requests_csv, write_timeline
    from accsim.stats import write_json_atomic
    payload = {"accsim_version": accsim.__version__,
               "resolved_config": server.machine.preset.resolved_config(),
               "scenario": {**asdict(scenario), "overrides": dict(scenario.overrides),
                            "family": server.machine.preset.family},
               "policy": dict(result.outcome.policy.__dict__), "traffic": requests.describe(),
               "steps": {"mode": o["step_mode"], "grid_per_octave": o["grid_per_octave"],
                         "passes_simulated": sum(len(steps.passes) for _, steps in _step_models(server)),
                         "grid_error": grid_error},
               "figures": result.figures, "search": search,
               "series": series_sample(result.outcome.series, SERIES_POINTS_IN_JSON)}
    write_json_atomic(o["json_path"], payload)
    if o["requests_csv"]:
        write_requests_csv(o["requests_csv"], result.outcome)
    if o["plot_path"]:
        write_plot(o["plot_path"], result.outcome, result.figures)
    if o["timeline_path"]:
        tracks = ([("engine", result.outcome.series)] if result.pools is None else
                  [(f"{pool} instance {k}", run.series) for pool in ("prefill", "decode")
                   for k, run in enumerate(result.pools[pool])])
        write_timeline(o["timeline_path"], tracks, result.outcome.policy.name)


def _print_summary(scenario: Any, policy: Any, requests: Any, f: dict, search: Any, grid_error: dict,
                   server: Any) -> None:
    traffic = requests.describe()
    head = new_table(f"{scenario.model} on {scenario.arch}: {policy.name} batching, {traffic['requests']} requests "
                     f"({traffic['source']})")
    head.add_column("figure")
    head.add_column("value", justify="right")
    rows = [("throughput", f"{f['throughput_tokens_per_s']:.4g} tokens/s ({f['requests_per_s']:.4g} requests/s)"),
            ("per chip", f"{f['throughput_tokens_per_s_per_chip']:.4g} tokens/s ({server.chips} chip"
                         f"{'s' if server.chips > 1 else ''})"),
            ("goodput", f"{f['goodput_requests_per_s']:.4g} requests/s ({f['slo_attainment_pct']:.1f}% meet the SLOs)"),
            ("preemptions", f"{f['preemptions']} ({policy.preempt})")]
    if "decode_pool" in f:
        for pool in ("prefill", "decode"):
            p = f[f"{pool}_pool"]
            rows.append((f"{pool} pool", f"{p['instances']} x {p['chips'] // p['instances']} chips, busy "
                                         f"{p['busy_pct']:.1f}%, mean batch {p['mean_batch']:.1f}, KV "
                                         f"{p['kv_capacity_tokens']:,} tokens, peak {p['kv_peak_pct']:.1f}%"))
        rows.append(("KV transfer", f"mean {fmt_s(f['kv_transfer_s']['mean'])}, P99 "
                                    f"{fmt_s(f['kv_transfer_s']['p99'])} at {f['kv_transfer_s']['link_GBps']:g} GB/s"))
    else:
        rows += [("mean decode batch", f"{f['mean_decode_batch']:.1f} (max {f['max_batch_seen']})"),
                 ("KV cache", f"{f['kv_capacity_tokens']:,} tokens ({f['kv_capacity_source']}), peak "
                              f"{f['kv_peak_pct']:.1f}%"),
                 ("iterations", f"{f['iterations']:,}, busy {f['busy_pct']:.1f}% of {fmt_s(f['makespan_s'])}")]
    for name, steps in _step_models(server):
        e = grid_error[name]
        rows.append((f"passes simulated{' (' + name + ')' if name else ''}", f"{len(steps.passes):,}" + (
            f" (grid; interpolation error on {e['points_checked']} exact re-simulations: max "
            f"{100 * e['max_rel_error']:.2f}%, mean {100 * e['mean_rel_error']:.2f}%)" if e else " (exact)")))
    for row in rows:
        head.add_row(*row)
    console.print(head)
    lat = new_table("latency per request")
    for c in ("", "mean", "P50", "P90", "P99", "max"):
        lat.add_column(c, justify="left" if not c else "right")
    for name, label in (("queue_s", "queueing"), ("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("e2e_s", "end to end")):
        p = f[name]
        lat.add_row(label, *([fmt_s(p[k]) for k in ("mean", "p50", "p90", "p99", "max")] if p else ["n/a"] * 5))
    console.print(lat)
    if search:
        key = "rate_per_s" if search["found"] == "max_rate" else "max_batch"
        table = new_table(f"search: {search['found'].replace('_', ' ')} meeting the SLOs at P99")
        for c in (key.replace("_", " "), "meets", "P99 TTFT", "P99 TPOT"):
            table.add_column(c, justify="right")
        for t in search["tries"]:
            table.add_row(f"{t[key]:.4g}", "yes" if t["meets_slo"] else "no",
                          fmt_s(t["p99_ttft_s"]) if t["p99_ttft_s"] is not None else "n/a",
                          fmt_s(t["p99_tpot_s"]) if t["p99_tpot_s"] is not None else "n/a")
        console.print(table)
        found = (f"{search['max_rate_per_s']:.4g} requests/s" if search["found"] == "max_rate"
                 else f"max batch {search['max_batch']} ({search['batch_per_chip']:.4g} per chip)")
        console.print(f"found: {found}" + (" (limited by the number of requests: raise --requests)"
                                           if search.get("limited_by_requests") else ""))
