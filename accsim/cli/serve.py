"""accsim serve: request traffic on any family, batching policies, P50/P99 under SLOs."""
from __future__ import annotations

from typing import Any

import click

from accsim.cli.common import cli, console, fmt_s, new_table, progress_bar, output_files
from accsim.core.files import FIGURE_OUTPUT, OUTPUT
from accsim.serving.options import MACHINE_FIELDS, ServeOptions
from accsim.simulation.scenario import click_options

SERIES_POINTS_IN_JSON = 5000     # iterations kept in the JSON's time series (evenly spaced)


def _output_options(f: Any) -> Any:
    for decorator in reversed([
        click.option("--json", "json_path", default="serve.json", show_default=True, type=OUTPUT,
                     help="figures, per-iteration series and the search"),
        click.option("--requests-csv", default=None, type=OUTPUT, help="per-request times (CSV)"),
        click.option("--plot", "plot_path", default=None, type=FIGURE_OUTPUT,
                     help="batch, queue and KV over time, TTFT/TPOT distributions (png/svg/pdf)"),
        click.option("--timeline", "timeline_path", default=None, type=OUTPUT,
                     help="Perfetto / chrome://tracing timeline: the iterations, and each request's phases"),
        click.option("--quiet", is_flag=True, help="no progress bar and no summary tables"),
    ]):
        f = decorator(f)
    return f


@cli.command("serve")
@click_options(only=MACHINE_FIELDS)
@click_options(cls=ServeOptions)
@_output_options
@output_files("json_path", "requests_csv", "plot_path", "timeline_path", inputs=("request_trace",))
def serve_cmd(json_path: str, requests_csv: str | None, plot_path: str | None, timeline_path: str | None,
              quiet: bool, **fields: Any) -> None:
    """Serve request traffic on a machine: batching policy, paged KV, TTFT/TPOT percentiles."""
    from accsim.core.presets import parse_set_options
    from accsim.serving.run import run_serve
    from accsim.simulation.scenario import Scenario

    scenario = Scenario(**{k: fields.pop(k) for k in MACHINE_FIELDS if k != "overrides"},
                        overrides=parse_set_options(fields.pop("overrides")))
    options = ServeOptions(**fields)
    options.check()
    with progress_bar("requests served", quiet) as on_progress:
        run = run_serve(scenario, options, on_progress)
    _write_outputs(run, json_path, requests_csv, plot_path, timeline_path)
    if not quiet:
        _print_summary(run)
        written = [p for p in (json_path, requests_csv, plot_path, timeline_path) if p]
        console.print("written: " + ", ".join(written))


def _write_outputs(run: Any, json_path: str, requests_csv: str | None, plot_path: str | None,
                   timeline_path: str | None) -> None:
    from accsim.core.stats import write_json_atomic
    from accsim.serving.output import request_events, write_requests_csv, write_timeline
    from accsim.serving.run import payload
    from accsim.view.serving import plot_serving
    result = run.result
    write_json_atomic(json_path, payload(run, SERIES_POINTS_IN_JSON))
    if requests_csv:
        write_requests_csv(requests_csv, result.outcome)
    if plot_path:
        plot_serving(plot_path, result.outcome, result.figures)
    if timeline_path:
        tracks = ([("engine", result.outcome.series)] if result.pools is None else
                  [(f"{pool} instance {k}", out.series) for pool in ("prefill", "decode")
                   for k, out in enumerate(result.pools[pool])])
        write_timeline(timeline_path, tracks, result.outcome.policy.name, request_events(result.outcome))


def _print_summary(run: Any) -> None:
    from accsim.serving.run import step_models
    scenario, policy, f, search, grid_error, server = (run.scenario, run.policy, run.result.figures, run.search,
                                                       run.grid_error, run.server)
    traffic = run.requests.describe()
    head = new_table(f"{scenario.model} on {scenario.arch}: {policy.name} batching, {traffic['requests']} requests "
                     f"({traffic['source']})")
    head.add_column("figure")
    head.add_column("value", justify="right")
    rows = [("throughput", f"{f['throughput_tokens_per_s']:.4g} tokens/s ({f['requests_per_s']:.4g} requests/s)"),
            ("per chip", f"{f['throughput_tokens_per_s_per_chip']:.4g} tokens/s ({server.chips} chip"
                         f"{'s' if server.chips > 1 else ''})"),
            ("goodput", f"{f['goodput_requests_per_s']:.4g} requests/s ({f['slo_attainment_pct']:.1f}% meet the SLOs)"
             if run.options.slo_ttft_s is not None or run.options.slo_tpot_s is not None
             else "n/a: no SLOs given (--slo-ttft-ms, --slo-tpot-ms)"),
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
        if "prefix_cache" in f:
            c = f["prefix_cache"]
            rows.append(("prefix cache", f"{c['tier']}: {c['hits']:,} hits of {c['lookups']:,} lookups "
                                         f"({100 * c['hit_rate']:.1f}%), prefill saved {c['prefill_saved_pct']:.1f}% "
                                         f"({c['prompt_tokens_saved']:,} tokens), {c['evictions']:,} evictions"
                                         + (f", {fmt_s(c['pool_copy_s'])} copying from the pool"
                                            if c['tier'] == 'pool' else "")))
    for name, steps in step_models(server):
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
        found = (f"{search['max_rate_per_s']:.4g} requests/s offered (the arrival rate the P99 SLOs hold "
                 f"at; the run there served {f['requests_per_s']:.4g} requests/s over its makespan)"
                 if search["found"] == "max_rate"
                 else f"max batch {search['max_batch']} ({search['batch_per_chip']:.4g} per chip)")
        console.print(f"found: {found}" + (" (limited by the number of requests: raise --requests)"
                                           if search.get("limited_by_requests") else ""))
