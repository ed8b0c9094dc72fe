"""accsim run, show-graph, show-program: one scenario, its graph, its Program."""
from __future__ import annotations

from typing import Any

import click

import accsim
from accsim.cli.common import cli, console, fmt_s, new_table, progress_bar, output_files
from accsim.core.files import OUTPUT
from accsim.simulation.completion import complete_models, complete_presets
from accsim.simulation.scenario import DTYPES, click_options

PHASES = ("prefill", "decode")


def _print_run_summary(stats: Any) -> None:
    sc = stats["scenario"]
    head = new_table(f"{sc['model']} on {sc['arch']} ({sc['family']}): batch {sc['batch']}, "
                       f"prompt {sc['prompt']}, gen {sc['gen']}, {sc['dtype']}")
    head.add_column("metric")
    head.add_column("value", justify="right")
    ttft = "n/a (decode only: no prefill)" if sc["decode_only"] else fmt_s(stats["ttft_s"])
    rows = [("TTFT", ttft), ("TPOT", fmt_s(stats["tpot_s"])),
            ("tokens/s (whole generation)", f"{stats['tokens_per_s']:.4g}"),
            ("decode tokens/s", f"{stats['decode_tokens_per_s']:.4g}"),
            ("latency", fmt_s(stats["latency_s"])), ("energy", f"{stats['energy_J']:.4g} J"),
            ("energy / token", f"{stats['energy_per_token_J']:.4g} J"),
            ("decode steps simulated", f"{stats['decode.steps_simulated']} of {stats['decode.steps']}")]
    per_chip = stats["per_chip"]
    if per_chip["chips"] > 1:
        rows += [(f"prefill tokens/s per chip ({per_chip['chips']} chips)",
                  f"{per_chip['prefill_tokens_per_s']:.4g}"),
                 ("decode tokens/s per chip", f"{per_chip['decode_tokens_per_s']:.4g}")]
    last_step = stats["decode"].get("last_step", {})
    if "execution_model" in last_step:     # what the family says its step models (a framework's mode)
        head.caption, head.caption_justify = f"models: {last_step['execution_model']}", "left"
    for r in rows:
        head.add_row(*r)
    console.print(head)
    if "coe" in stats:
        _print_coe(stats["coe"])
    total = stats["latency_s"]
    kinds = new_table("where the time goes (exposed time, sums to the latency)")
    for c, j in (("op kind", "left"), ("time", "right"), ("share", "right")):
        kinds.add_column(c, justify=j)
    for kind, v in sorted(stats["by_op_kind"].items(), key=lambda kv: -kv[1]["exposed_s"]):
        kinds.add_row(kind, fmt_s(v["exposed_s"]), f"{100 * v['exposed_s'] / total:.1f}%")
    kinds.add_row("total", fmt_s(sum(v["exposed_s"] for v in stats["by_op_kind"].values())), "100.0%")
    console.print(kinds)
    units = new_table("units")
    for c in ("unit", "busy", "utilization"):
        units.add_column(c, justify="left" if c == "unit" else "right")
    for unit, v in stats["by_unit"].items():
        units.add_row(unit, fmt_s(v["busy_s"]), f"{v['util_pct']:.1f}%")
    console.print(units)


def _print_coe(coe: Any) -> None:
    table = new_table(f"composition of experts: {coe['experts']} x {coe['expert_model']} (the rows "
                        f"above are one expert's generation)")
    table.add_column("part")
    table.add_column("value", justify="right")
    for row in (("router", fmt_s(coe["router_s"])),
                ("model switches (expected)", f"{coe['expected_switches']:.2f} x {fmt_s(coe['switch_s'])}"
                                              f" at {coe['copy_GBps']:.4g} GB/s"),
                (f"experts ({coe['distinct_experts']} x {coe['requests_per_expert']} requests)",
                 fmt_s(coe["experts_s"])),
                ("overall", fmt_s(coe["overall_s"])),
                ("experts resident / held", f"{coe['experts_resident']} / {coe['experts_held']} "
                                            f"({coe['slow_tier']})")):
        table.add_row(*row)
    console.print(table)


@cli.command("run")
@click_options
@click.option("--json", "json_path", default="stats.json", show_default=True, type=OUTPUT,
              help="where to write the stats (resolved config, program hashes, version)")
@click.option("--trace", "trace_path", default=None, type=OUTPUT,
              help="write a Chrome trace-event timeline (Perfetto, chrome://tracing)")
@click.option("--trace-max-events", default=50_000, show_default=True, type=click.IntRange(min=100),
              help="aggregate tasks beyond this many timeline events")
@click.option("--quiet", is_flag=True, help="no progress bar and no summary tables")
@output_files('json_path', 'trace_path')
def run_cmd(json_path: str, trace_path: str | None, trace_max_events: int, quiet: bool,
            **fields: Any) -> None:
    """Simulate prefill + decode of a model on a hardware preset."""
    from accsim.core.presets import parse_set_options
    from accsim.core.stats import write_json_atomic
    from accsim.simulation.api import run_scenario
    from accsim.simulation.scenario import Scenario
    from accsim.view.roofline import machine_roofs
    from accsim.view.timeline import write_timeline

    scenario = Scenario(**{**fields, "overrides": parse_set_options(fields["overrides"])})
    with progress_bar("simulating passes", quiet) as on_pass:
        result = run_scenario(scenario, timeline=trace_path is not None, on_pass=on_pass)
    payload = {"accsim_version": accsim.__version__, "resolved_config": result.preset.resolved_config(),
               "program_digests": dict(result.program_digests), "stats": result.stats.to_dict(),
               "roofs": machine_roofs(result.preset, result.model)}
    write_json_atomic(json_path, payload)
    if trace_path:
        write_timeline(trace_path, result.timeline_steps,
                       {"accsim_version": accsim.__version__, "scenario": result.stats["scenario"].to_dict()},
                       trace_max_events)
    if not quiet:
        _print_run_summary(result.stats)
        console.print(f"stats written to {json_path}" + (f", timeline to {trace_path}" if trace_path else ""))


def _phase_options(f: Any) -> Any:
    for decorator in reversed([
        click.option("--model", default="gpt2-small", show_default=True, shell_complete=complete_models),
        click.option("--phase", default="decode", show_default=True, type=click.Choice(PHASES)),
        click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1)),
        click.option("--tokens", default=64, show_default=True, type=click.IntRange(min=1),
                     help="prompt length (prefill) or cached context length (decode)"),
        click.option("--dtype", default="fp16", show_default=True, type=click.Choice(DTYPES),
                     help="w8a8: int8 linear layers, bf16 attention and KV cache"),
    ]):
        f = decorator(f)
    return f


def _phase(phase: str, batch: int, tokens: int) -> Any:
    from accsim.workloads import Phase
    return Phase.prefill(batch, tokens) if phase == "prefill" else Phase.decode(batch, tokens)


@cli.command("show-graph")
@_phase_options
@click.option("--tp", default=1, show_default=True, type=click.IntRange(min=1), help="tensor-parallel degree")
@click.option("--ep", default=1, show_default=True, type=click.IntRange(min=1), help="expert-parallel degree")
@click.option("--layers", default=1, show_default=True, type=click.IntRange(min=0),
              help="decoder layers to list op by op (all ops are totalled)")
def show_graph(model: str, phase: str, batch: int, tokens: int, dtype: str, tp: int, ep: int,
               layers: int) -> None:
    """The OpGraph of one forward pass: ops, shapes, FLOPs and bytes."""
    from accsim.workloads import Parallelism, build_graph, load_model

    g = build_graph(load_model(model).with_dtype(dtype), _phase(phase, batch, tokens), Parallelism(tp, ep))
    table = new_table(g.describe())
    for c in ("op", "kind", "outputs", "GFLOP", "MB read", "MB written", "deps"):
        table.add_column(c, justify="right" if c in ("GFLOP", "MB read", "MB written") else "left")
    for op in g.ops():
        if op.layer >= layers:
            continue
        outs = ", ".join("x".join(map(str, t.shape)) for t in op.outputs)
        table.add_row(op.name, op.kind, outs, f"{op.flops / 1e9:.4g}", f"{op.bytes_read / 1e6:.4g}",
                      f"{op.bytes_written / 1e6:.4g}", ", ".join(g.predecessors(op.name)))
    console.print(table)
    console.print(f"{len(g)} ops, {g.total_flops() / 1e9:.4g} GFLOP, {g.total_bytes() / 1e9:.4g} GB moved, "
                  f"{g.num_weight_params() / 1e9:.4g} B weight parameters on this device")


MAX_PROGRAM_COLUMNS = 8      # family columns show-program lists beside op, unit and kind


@cli.command("show-program")
@click.option("--arch", default="t4", show_default=True, shell_complete=complete_presets)
@_phase_options
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
@click.option("--mapper", default=None)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=0), help="tasks to list")
@click.option("--save", "save_stem", default=None, help="save as STEM.npz + STEM.json")
def show_program(arch: str, model: str, phase: str, batch: int, tokens: int, dtype: str,
                 sets: tuple[str, ...], mapper: str | None, limit: int, save_stem: str | None) -> None:
    """The lowered Program of one forward pass: tasks per unit and the first tasks."""
    from accsim.core.presets import parse_set_options, resolve_preset
    from accsim.core.units import si_number
    from accsim.simulation.runner import family_mapper, step_graph
    from accsim.workloads import load_model

    preset = resolve_preset(arch, parse_set_options(sets))
    graph = step_graph(preset, load_model(model).with_dtype(dtype), _phase(phase, batch, tokens), mapper)
    program = family_mapper(preset, mapper).lower(graph, preset.spec)
    console.print(f"{program.family} Program: {program.n_tasks} tasks, "
                  f"{int(program.dep_idx.size)} dependencies, digest {program.digest()[:16]}")
    console.print("tasks per unit: " + ", ".join(f"{u} {n}" for u, n in program.summary_rows()))
    from accsim.core.registry import families
    describe = families().get(preset.family).describe_program
    for title, header, body in (describe(program) if describe else []):
        view = new_table(title)
        for c in header:
            view.add_column(c)
        for row in body:
            view.add_row(*map(str, row))
        console.print(view)
    cols = program.columns
    shown = range(min(limit, program.n_tasks))
    # family columns that are zero on every listed task say nothing: leave them out; one row per
    # task, the first MAX_PROGRAM_COLUMNS of the rest, the others named (all of them in --save)
    extra = [c for c in cols if c not in ("op", "unit", "kind") and any(cols[c][:len(shown)])]
    listed, left_out = extra[:MAX_PROGRAM_COLUMNS], extra[MAX_PROGRAM_COLUMNS:]
    table = new_table(f"first {len(shown)} of {program.n_tasks} tasks")
    table.add_column("task", justify="right")
    table.add_column("op", no_wrap=True, max_width=32, overflow="ellipsis")
    for c in ("unit", "kind"):
        table.add_column(c, no_wrap=True)
    for c in listed:
        table.add_column(c.replace("_", " "), justify="right")
    table.add_column("deps", no_wrap=True)
    for t in shown:
        deps = program.dep_idx[program.dep_ptr[t]:program.dep_ptr[t + 1]]
        table.add_row(str(t), program.ops[cols["op"][t]], program.units[cols["unit"][t]],
                      program.kinds[cols["kind"][t]], *[si_number(cols[c][t]) for c in listed],
                      ",".join(map(str, deps[:4])) + (f" +{len(deps) - 4}" if len(deps) > 4 else ""))
    console.print(table)
    if left_out:
        console.print(f"other columns: {', '.join(left_out)} (--save writes every column)")
    if save_stem:
        npz, js = program.save(save_stem)
        console.print(f"saved {npz} and {js}")
