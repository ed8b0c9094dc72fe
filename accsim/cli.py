"""The ``accsim`` command line.

Every user error (bad option, unknown name, bad YAML, impossible configuration) ends in
``error: ...`` lines on stderr and a non-zero exit code, never a traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np
from rich.console import Console
from rich.table import Table

import accsim
from accsim.errors import AccsimError

# tables keep their shape when stdout is a pipe or a file (rich would assume 80 columns)
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
PHASES = ("prefill", "decode")


def _fmt_s(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale or unit == "ns":
            return f"{seconds / scale:.4g} {unit}"
    return f"{seconds} s"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(accsim.__version__, prog_name="accsim")
def cli() -> None:
    """accsim: cycle-level simulator of LLM accelerators."""


@cli.command("list")
@click.argument("what", required=False, type=click.Choice(["families", "presets", "models", "mappers"]))
def list_cmd(what: str | None) -> None:
    """List machine families, hardware presets, models and mappers."""
    from accsim.presets import load_merged, preset_names
    from accsim.registry import families, mappers
    from accsim.workloads import load_model, model_names

    def show(title: str, columns: Sequence[str], rows: list[Sequence[Any]]) -> None:
        table = Table(title=title, title_justify="left")
        for c in columns:
            table.add_column(c)
        for r in rows:
            table.add_row(*[str(x) for x in r])
        console.print(table)

    if what in (None, "families"):
        show("families", ("name", "default mapper", "description"),
             [(f.name, f.default_mapper, f.description) for f in map(families().get, families().names())])
    if what in (None, "presets"):
        rows = []
        for name in preset_names():
            data = load_merged(name)
            rows.append((name, data.get("family", "?"), data.get("description", "")))
        show("presets", ("name", "family", "description"), rows)
    if what in (None, "models"):
        rows = []
        for name in model_names():
            m = load_model(name)
            rows.append((name, m.model_type, f"{m.num_params / 1e9:.3f}", m.n_layers, m.d_model,
                         f"{m.n_experts}x top-{m.experts_per_token}" if m.is_moe else "-"))
        show("models", ("name", "type", "params (B)", "layers", "d_model", "experts"), rows)
    if what in (None, "mappers"):
        show("mappers", ("name", "family", "description"),
             [(m.name, m.family, m.description) for m in map(mappers().get, mappers().names())])


@cli.command("show-preset")
@click.argument("preset")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="override a field")
def show_preset(preset: str, sets: tuple[str, ...]) -> None:
    """Every field of a preset: value, unit, help and source."""
    from accsim import config
    from accsim.presets import parse_set_options, resolve_preset
    from accsim.registry import families

    p = resolve_preset(preset, parse_set_options(sets))
    table = Table(title=f"{p.name} ({p.family}): {p.description}", title_justify="left")
    for c in ("field", "value", "unit", "help", "source"):
        table.add_column(c, overflow="fold")
    for info in config.describe(families().get(p.family).spec_cls):
        node: Any = p.spec
        for part in info.path.split("."):
            node = getattr(node, part)
        in_preset = _has_path(p.data, info.path)
        source = next((p.sources[k] for k in _prefixes(info.path) if k in p.sources),
                      "(set, no source given)" if in_preset else "schema default")
        table.add_row(info.path, str(node), info.unit, info.help, source)
    console.print(table)


def _has_path(data: Any, path: str) -> bool:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _prefixes(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _print_run_summary(stats: Any) -> None:
    sc = stats["scenario"]
    head = Table(title=f"{sc['model']} on {sc['arch']} ({sc['family']}): batch {sc['batch']}, "
                       f"prompt {sc['prompt']}, gen {sc['gen']}, {sc['dtype']}", title_justify="left")
    head.add_column("metric")
    head.add_column("value", justify="right")
    rows = [("TTFT", _fmt_s(stats["ttft_s"])), ("TPOT", _fmt_s(stats["tpot_s"])),
            ("tokens/s (whole generation)", f"{stats['tokens_per_s']:.4g}"),
            ("decode tokens/s", f"{stats['decode_tokens_per_s']:.4g}"),
            ("latency", _fmt_s(stats["latency_s"])), ("energy", f"{stats['energy_J']:.4g} J"),
            ("energy / token", f"{stats['energy_per_token_J']:.4g} J"),
            ("decode steps simulated", f"{stats['decode.steps_simulated']} of {stats['decode.steps']}")]
    per_chip = stats["per_chip"]
    if per_chip["chips"] > 1:
        rows += [(f"prefill tokens/s per chip ({per_chip['chips']} chips)",
                  f"{per_chip['prefill_tokens_per_s']:.4g}"),
                 ("decode tokens/s per chip", f"{per_chip['decode_tokens_per_s']:.4g}")]
    for r in rows:
        head.add_row(*r)
    console.print(head)
    total = stats["latency_s"]
    kinds = Table(title="where the time goes (exposed time, sums to the latency)", title_justify="left")
    for c, j in (("op kind", "left"), ("time", "right"), ("share", "right")):
        kinds.add_column(c, justify=j)
    for kind, v in sorted(stats["by_op_kind"].items(), key=lambda kv: -kv[1]["exposed_s"]):
        kinds.add_row(kind, _fmt_s(v["exposed_s"]), f"{100 * v['exposed_s'] / total:.1f}%")
    kinds.add_row("total", _fmt_s(sum(v["exposed_s"] for v in stats["by_op_kind"].values())), "100.0%")
    console.print(kinds)
    units = Table(title="units", title_justify="left")
    for c in ("unit", "busy", "utilization"):
        units.add_column(c, justify="left" if c == "unit" else "right")
    for unit, v in stats["by_unit"].items():
        units.add_row(unit, _fmt_s(v["busy_s"]), f"{v['util_pct']:.1f}%")
    console.print(units)


@cli.command("run")
@click.option("--arch", default="t4", show_default=True, help="hardware preset name or YAML path")
@click.option("--model", default="gpt2-small", show_default=True, help="model name or config.json path")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--prompt", default=64, show_default=True, type=click.IntRange(min=1), help="prompt tokens")
@click.option("--gen", default=16, show_default=True, type=click.IntRange(min=1), help="generated tokens")
@click.option("--dtype", default="fp16", show_default=True,
              type=click.Choice(["fp32", "fp16", "bf16", "fp8", "int8", "w8a8"]),
              help="w8a8: int8 linear layers, bf16 attention and KV cache")
@click.option("--mapper", default=None, help="mapper name (default: the family's)")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="override a preset field, e.g. --set memory.bandwidth_GBps=400 (repeatable)")
@click.option("--decode-samples", default=16, show_default=True, type=click.IntRange(min=0),
              help="decode steps simulated (interpolated between); 0 = every step")
@click.option("--chips", default=0, type=click.IntRange(min=0),
              help="chips in the system (sets the preset's chip count; npu: packages, gpu: devices)")
@click.option("--mtp", default=0, type=click.IntRange(min=0),
              help="multi-token prediction: draft tokens verified per decode step")
@click.option("--mtp-acceptance", default=0.0, type=click.FloatRange(0.0, 1.0),
              help="probability that a draft token is accepted")
@click.option("--decode-only", is_flag=True,
              help="the prompt's KV cache is already in place (disaggregated prefill): simulate decode only")
@click.option("--json", "json_path", default="stats.json", show_default=True, type=click.Path(dir_okay=False),
              help="where to write the stats (resolved config, program hashes, version)")
@click.option("--trace", "trace_path", default=None, type=click.Path(dir_okay=False),
              help="write a Chrome trace-event timeline (Perfetto, chrome://tracing)")
@click.option("--trace-max-events", default=50_000, show_default=True, type=click.IntRange(min=100),
              help="aggregate tasks beyond this many timeline events")
@click.option("--quiet", is_flag=True, help="no summary tables")
def run_cmd(arch: str, model: str, batch: int, prompt: int, gen: int, dtype: str, mapper: str | None,
            sets: tuple[str, ...], decode_samples: int, chips: int, mtp: int, mtp_acceptance: float,
            decode_only: bool, json_path: str, trace_path: str | None, trace_max_events: int, quiet: bool) -> None:
    """Simulate prefill + decode of a model on a hardware preset."""
    from accsim.presets import parse_set_options
    from accsim.runner import Scenario, run_scenario
    from accsim.stats import write_json_atomic
    from accsim.timeline import write_timeline

    scenario = Scenario(arch, model, batch, prompt, gen, dtype, mapper, decode_samples,
                        parse_set_options(sets), chips, mtp, mtp_acceptance, decode_only)
    result = run_scenario(scenario, timeline=trace_path is not None)
    payload = {"accsim_version": accsim.__version__, "resolved_config": result.preset.resolved_config(),
               "program_digests": dict(result.program_digests), "stats": result.stats.to_dict()}
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
        click.option("--model", default="gpt2-small", show_default=True),
        click.option("--phase", default="decode", show_default=True, type=click.Choice(PHASES)),
        click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1)),
        click.option("--tokens", default=64, show_default=True, type=click.IntRange(min=1),
                     help="prompt length (prefill) or cached context length (decode)"),
        click.option("--dtype", default="fp16", show_default=True,
                     type=click.Choice(["fp32", "fp16", "bf16", "fp8", "int8", "w8a8"]),
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
    table = Table(title=g.describe(), title_justify="left")
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


@cli.command("show-program")
@click.option("--arch", default="t4", show_default=True)
@_phase_options
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
@click.option("--mapper", default=None)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=0), help="tasks to list")
@click.option("--save", "save_stem", default=None, help="save as STEM.npz + STEM.json")
def show_program(arch: str, model: str, phase: str, batch: int, tokens: int, dtype: str,
                 sets: tuple[str, ...], mapper: str | None, limit: int, save_stem: str | None) -> None:
    """The lowered Program of one forward pass: tasks per unit and the first tasks."""
    from accsim.presets import parse_set_options, resolve_preset
    from accsim.registry import families, mappers
    from accsim.runner import step_graph
    from accsim.workloads import load_model

    preset = resolve_preset(arch, parse_set_options(sets))
    family = families().get(preset.family)
    graph = step_graph(preset, load_model(model).with_dtype(dtype), _phase(phase, batch, tokens))
    program = mappers().get(mapper or family.default_mapper).lower(graph, preset.spec)
    console.print(f"{program.family} Program: {program.n_tasks} tasks, "
                  f"{int(program.dep_idx.size)} dependencies, digest {program.digest()[:16]}")
    console.print("tasks per unit: " + ", ".join(f"{u} {n}" for u, n in program.summary_rows()))
    cols = program.columns
    shown = range(min(limit, program.n_tasks))
    # family columns that are zero on every listed task say nothing: leave them out
    extra_names = [c for c in cols if c not in ("op", "unit", "kind") and np.any(cols[c][:len(shown)])]
    rows = [[str(t), program.ops[cols["op"][t]], program.units[cols["unit"][t]],
             program.kinds[cols["kind"][t]], *[str(cols[c][t]) for c in extra_names],
             ",".join(map(str, program.dep_idx[program.dep_ptr[t]:program.dep_ptr[t + 1]]))]
            for t in shown]
    names = ["task", "op", "unit", "kind", *extra_names, "deps"]
    table = Table(title=f"first {limit} tasks", title_justify="left")
    if len(names) <= 10:
        for c in names:
            table.add_column(c)
        for row in rows:
            table.add_row(*row)
    else:                        # many columns: one line per field, one column per task
        table.add_column("field")
        for row in rows:
            table.add_column(f"task {row[0]}", overflow="fold")
        for i, name in enumerate(names[1:], start=1):
            table.add_row(name, *[row[i] for row in rows])
    console.print(table)
    if save_stem:
        npz, js = program.save(save_stem)
        console.print(f"saved {npz} and {js}")


@cli.command("sweep")
@click.argument("spec_path", metavar="SPEC.yaml", type=click.Path(dir_okay=False))
@click.option("--db", "db_path", default=None, type=click.Path(dir_okay=False),
              help="results database (default: SPEC.db beside the spec)")
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(min=1), help="local worker processes")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run on a Dask distributed cluster")
@click.option("--quiet", is_flag=True, help="no progress bar")
def sweep_cmd(spec_path: str, db_path: str | None, jobs: int, scheduler: str | None, quiet: bool) -> None:
    """Run a design-space sweep; finished points are stored at once and skipped on re-run."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from accsim.sweep import expand_points, load_spec, run_sweep

    spec = load_spec(spec_path)
    db = db_path or str(Path(spec_path).with_suffix(".db"))
    total = len(expand_points(spec))
    counts = {"ok": 0, "failed": 0}
    progress = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("[red]{task.fields[failed]} failed"), TimeRemainingColumn(),
                        console=console, disable=quiet)

    with progress:
        task = progress.add_task("points", total=total, failed=0)

        def on_result(point: dict, result: dict) -> None:
            counts["ok" if result["status"] == "ok" else "failed"] += 1
            progress.update(task, advance=1, failed=counts["failed"])

        try:
            summary = run_sweep(spec, db, jobs=jobs, scheduler=scheduler, on_result=on_result)
        except KeyboardInterrupt:
            console.print(f"interrupted: {counts['ok'] + counts['failed']} new points are stored in {db}; "
                          "run the same command again to resume")
            raise click.exceptions.Exit(130)
    console.print(f"{summary.total} points: {summary.skipped} already stored, {summary.ok} ok, "
                  f"{summary.failed} failed -> {db}")


@cli.command("results")
@click.argument("db_path", metavar="DB", type=click.Path(dir_okay=False))
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False), help="export CSV")
@click.option("--parquet", "parquet_path", default=None, type=click.Path(dir_okay=False), help="export Parquet")
def results_cmd(db_path: str, csv_path: str | None, parquet_path: str | None) -> None:
    """Export a sweep's results, or summarise them."""
    from accsim.results import export_csv, export_parquet, read_axes, read_table

    if csv_path:
        console.print(f"{export_csv(db_path, csv_path)} rows -> {csv_path}")
    if parquet_path:
        console.print(f"{export_parquet(db_path, parquet_path)} rows -> {parquet_path}")
    if not csv_path and not parquet_path:
        columns, rows = read_table(db_path)
        status = [r[columns.index("status")] for r in rows]
        console.print(f"{len(rows)} points ({status.count('ok')} ok, {len(rows) - status.count('ok')} "
                      f"failed); axes: {', '.join(read_axes(db_path))}; {len(columns)} columns")


@cli.command("plot")
@click.argument("db_path", metavar="DB", type=click.Path(dir_okay=False))
@click.option("--x", "x", required=True, help="column for the x axis")
@click.option("--y", "y", required=True, help="column for the y axis")
@click.option("--color", default=None, help="colour points by this column (e.g. an axis)")
@click.option("--pareto", is_flag=True, help="draw the Pareto front")
@click.option("--x-goal", default="min", show_default=True, type=click.Choice(["min", "max"]))
@click.option("--y-goal", default="max", show_default=True, type=click.Choice(["min", "max"]))
@click.option("--logx", is_flag=True)
@click.option("--logy", is_flag=True)
@click.option("--out", default="sweep.png", show_default=True, type=click.Path(dir_okay=False))
def plot_cmd(db_path: str, x: str, y: str, color: str | None, pareto: bool, x_goal: str, y_goal: str,
             logx: bool, logy: bool, out: str) -> None:
    """Scatter two result columns (PNG), with the Pareto front if asked."""
    from accsim.plots import plot_sweep

    n = plot_sweep(db_path, x, y, out, pareto, color, x_goal, y_goal, logx, logy)
    console.print(f"{n} points -> {out}")


@cli.command("validate")
@click.option("-k", "select", default=None, help="only cases whose id contains this text")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False))
@click.option("--markdown", "md_path", default=None, type=click.Path(dir_okay=False))
@click.option("--plot", "plot_path", default=None, type=click.Path(dir_okay=False),
              help="published vs simulated, log-log, with y = x (PNG)")
@click.option("--strict", is_flag=True, help="exit 1 on any miss, not only on cases that fail to run")
def validate_cmd(select: str | None, json_path: str | None, md_path: str | None, plot_path: str | None,
                 strict: bool) -> None:
    """Simulate every published case and compare: misses are shown, not hidden."""
    from accsim.stats import write_json_atomic
    from accsim.validation.harness import markdown_table, run_all

    outcomes = run_all(select)
    table = Table(title="published vs simulated", title_justify="left")
    for c in ("case", "metric", "published", "simulated", "error %", "within tolerance"):
        table.add_column(c, justify="right" if c in ("published", "simulated", "error %") else "left",
                         overflow="fold")
    for o in outcomes:
        c = o.case
        pub = f"{c.published:g}" if c.published is not None else f"{c.published_range[0]:g}-{c.published_range[1]:g}"
        verdict = ("[green]yes" if o.within else "[red]no (miss)" if o.failure is None else "[red]failed to run")
        table.add_row(c.id, c.metric, pub, f"{o.simulated:.6g}" if o.simulated is not None else "-",
                      f"{o.error_pct:+.1f}" if o.error_pct is not None else "-",
                      f"{verdict} (±{c.tolerance_pct:g}%)")
    console.print(table)
    for o in outcomes:
        if o.failure:
            console.print(f"[red]{o.case.id} failed to run:[/red] {o.failure}", markup=True)
        if o.curve:
            curve = o.case.curve
            console.print(f"{o.case.id}: {curve['stat']} vs {curve['over']}: " + ", ".join(
                f"{v:g} -> {y:.4g}" for v, y in o.curve))
        if o.shown is not None:
            console.print(f"{o.case.id}: {o.case.show} = {_compact(o.shown)}")
    misses = sum(1 for o in outcomes if not o.within and o.failure is None)
    failures = sum(1 for o in outcomes if o.failure)
    console.print(f"{len(outcomes)} cases: {len(outcomes) - misses - failures} within tolerance, "
                  f"{misses} misses, {failures} failed to run")
    rows = [o.as_row() for o in outcomes]
    if json_path:
        write_json_atomic(json_path, {"accsim_version": accsim.__version__, "cases": rows})
    if md_path:
        Path(md_path).write_text(markdown_table(outcomes))
    if plot_path:
        from accsim.plots import plot_parity
        plot_parity(rows, plot_path)
    if failures or (strict and misses):
        raise click.exceptions.Exit(1)


def _compact(value: Any) -> str:
    """A stat for one line: a breakdown {kind: {exposed_s: x}} as kind share%, else as is."""
    if isinstance(value, dict) and value and all(isinstance(v, dict) and "exposed_s" in v
                                                 for v in value.values()):
        total = sum(v["exposed_s"] for v in value.values()) or 1.0
        return ", ".join(f"{k} {100 * v['exposed_s'] / total:.1f}%"
                         for k, v in sorted(value.items(), key=lambda kv: -kv[1]["exposed_s"]))
    return str(value)


@cli.command("dram")
@click.option("--standard", "preset_name", required=True, help="DRAM preset (family dram), e.g. gddr6-14gbps")
@click.option("--trace", "trace_path", required=True, type=click.Path(dir_okay=False), help="memory trace file")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "ramulator", "ldst", "timed", "dramsim3"]))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="override a preset field")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False))
@click.option("--dump-commands", "dump_path", default=None, type=click.Path(dir_okay=False),
              help="write the issued command trace (cycle, command, address fields)")
@click.option("--max-commands", default=10_000_000, show_default=True, type=click.IntRange(min=0),
              help="cap on commands kept for --dump-commands")
@click.option("--quiet", is_flag=True)
def dram_cmd(preset_name: str, trace_path: str, fmt: str, sets: tuple[str, ...], json_path: str | None,
             dump_path: str | None, max_commands: int, quiet: bool) -> None:
    """Trace-driven DRAM simulation (Ramulator 2 / DRAMsim3 trace formats)."""
    from accsim.arch.pim.dram import simulate_trace, write_command_trace
    from accsim.presets import parse_set_options, resolve_preset
    from accsim.stats import write_json_atomic
    from accsim.traces import read_trace

    preset = resolve_preset(preset_name, parse_set_options(sets))
    if preset.family != "dram":
        raise click.BadParameter(f"'{preset_name}' is a {preset.family} preset, not a DRAM standard",
                                 param_hint="--standard")
    trace = read_trace(trace_path, fmt)
    result = simulate_trace(preset.spec.dram, trace, max_log=max_commands if dump_path else 0)
    stats = result.stats
    if json_path:
        write_json_atomic(json_path, {"accsim_version": accsim.__version__,
                                      "resolved_config": preset.resolved_config(), "trace": trace_path,
                                      "stats": stats.to_dict()})
    if dump_path:
        write_command_trace(dump_path, preset.spec.dram, result.commands)
    if quiet:
        return
    table = Table(title=f"{trace_path} on {preset.name} ({stats['standard']}, tCK {stats['tCK_ps']} ps)",
                  title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("requests", "reads", "writes", "total_cycles", "accept_cycles", "bandwidth_GBps",
                "avg_read_latency_cycles", "p50_read_latency_cycles", "p99_read_latency_cycles",
                "max_read_latency_cycles", "row_hits", "row_misses", "row_conflicts", "reads_forwarded"):
        value = stats[key]
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else f"{value:,}")
    table.add_row("commands", ", ".join(f"{k} {v:,}" for k, v in stats["commands"].items()))
    console.print(table)


def _read_topology(path: str) -> list[tuple[str, int, int, int]]:
    """SCALE-Sim GEMM topology CSV: header, then `Layer,M,N,K,` rows (note: M, N, K order)."""
    import csv
    from accsim.errors import ConfigError

    rows = []
    try:
        with open(path, newline="") as fh:
            lines = list(csv.reader(fh))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read topology: {exc.strerror}"]) from None
    for number, row in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in row if c.strip()]
        if not cells:
            continue
        try:
            name, m, n, k = cells[0], int(cells[1]), int(cells[2]), int(cells[3])
        except (IndexError, ValueError):
            raise ConfigError([f"{path}:{number}: expected 'Layer,M,N,K', got {','.join(row)!r}"]) from None
        rows.append((name, m, n, k))
    if not rows:
        raise ConfigError([f"{path}: no GEMM rows after the header"])
    return rows


@cli.command("gemm")
@click.option("--arch", "preset_name", default="systolic-32x32", show_default=True, help="npu preset")
@click.option("--dataflow", default=None, type=click.Choice(["os", "ws", "is"]),
              help="override the preset's dataflow")
@click.option("--m", "m", type=click.IntRange(min=1), help="rows of A and C")
@click.option("--k", "k", type=click.IntRange(min=1), help="inner dimension")
@click.option("--n", "n", type=click.IntRange(min=1), help="columns of B and C")
@click.option("--topology", default=None, type=click.Path(dir_okay=False),
              help="SCALE-Sim GEMM topology CSV (Layer,M,N,K): run every row")
@click.option("--dtype", default=None, type=click.Choice(["fp16", "bf16", "int8"]),
              help="operand type on cube presets (default bf16; systolic presets count words)")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False))
def gemm_cmd(preset_name: str, dataflow: str | None, m: int | None, k: int | None, n: int | None,
             topology: str | None, dtype: str | None, sets: tuple[str, ...], json_path: str | None) -> None:
    """One GEMM (or a topology of GEMMs): fold by fold on a systolic-array preset; tiled over
    every core of the die, tile by tile, on a cube (Da Vinci) preset."""
    from accsim.presets import parse_set_options, resolve_preset
    from accsim.stats import write_json_atomic

    preset = resolve_preset(preset_name, parse_set_options(sets))
    if preset.family != "npu":
        raise click.BadParameter(f"'{preset_name}' is a {preset.family} preset, not an npu core",
                                 param_hint="--arch")
    if topology:
        jobs = _read_topology(topology)
    elif None in (m, k, n):
        raise click.UsageError("give --m, --k and --n, or --topology FILE")
    else:
        jobs = [("gemm", m, n, k)]
    if preset.spec.array.kind == "cube":
        if dataflow:
            raise click.BadParameter("a cube has no dataflow choice; --dataflow applies to systolic "
                                     "presets", param_hint="--dataflow")
        results, table = _gemm_table_chip(preset, jobs, dtype or "bf16")
    else:
        if dtype:
            raise click.BadParameter("systolic presets count words (buffers.word_bytes); --dtype "
                                     "applies to cube presets", param_hint="--dtype")
        results, table = _gemm_table_systolic(preset, jobs, dataflow)
    console.print(table)
    if json_path:
        write_json_atomic(json_path, {"accsim_version": accsim.__version__,
                                      "resolved_config": preset.resolved_config(), "gemms": results})


def _gemm_table_systolic(preset: Any, jobs: list, dataflow: str | None) -> tuple[list, Table]:
    from accsim.arch.npu.systolic import simulate_gemm
    results = []
    table = Table(title=f"{preset.name}: {preset.description}", title_justify="left")
    for c in ("layer", "M", "K", "N", "dataflow", "folds", "compute_cycles", "total_cycles",
              "util %", "ifmap reads", "filter reads"):
        table.add_column(c, justify="left" if c in ("layer", "dataflow") else "right")
    for name, mm, nn, kk in jobs:
        stats = simulate_gemm(preset.spec, mm, kk, nn, dataflow)
        results.append({"layer": name, **stats.to_dict()})
        table.add_row(name, str(mm), str(kk), str(nn), stats["dataflow"], f"{stats['folds']:,}",
                      f"{stats['compute_cycles']:,}", f"{stats['total_cycles']:,}",
                      f"{stats['compute_util_pct']:.2f}", f"{stats['sram_reads_words.ifmap']:,}",
                      f"{stats['sram_reads_words.filter']:,}")
    return results, table


def _gemm_table_chip(preset: Any, jobs: list, dtype: str) -> tuple[list, Table]:
    from accsim.mappers.npu import gemm_on_chip
    results = []
    table = Table(title=f"{preset.name}: {preset.description}", title_justify="left")
    for c in ("layer", "M", "K", "N", "tile m/k/n, order", "total_cycles", "latency", "cube util %",
              "HBM util %", "HBM bytes"):
        table.add_column(c, justify="left" if c in ("layer", "tile m/k/n, order") else "right")
    for name, mm, nn, kk in jobs:
        stats = gemm_on_chip(preset.spec, mm, kk, nn, dtype)
        results.append({"layer": name, **stats.to_dict()})
        t = stats["tiling"]
        table.add_row(name, str(mm), str(kk), str(nn), f"{t['m_t']}/{t['k_t']}/{t['n_t']}, {t['order']}",
                      f"{stats['total_cycles']:,}", _fmt_s(stats["latency_s"]),
                      f"{stats['compute_util_pct']:.1f}", f"{stats['hbm_util_pct']:.1f}",
                      f"{stats['hbm_bytes']:,}")
    return results, table


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the CLI and turn user errors into one-line messages and exit codes."""
    def err_line(text: str) -> None:
        click.echo(text, err=True)
    try:
        # without standalone mode click returns (not raises) the code of a command's Exit
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="accsim",
                        standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 2
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "accsim"
        err_line(f"error: {exc.format_message()} (see '{command} --help')")
        return 2
    except click.ClickException as exc:
        err_line(f"error: {exc.format_message()}")
        return exc.exit_code or 1
    except AccsimError as exc:
        for line in str(exc).splitlines():
            err_line(f"error: {line}")
        return 1
    except click.exceptions.Abort:
        err_line("error: aborted")
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
