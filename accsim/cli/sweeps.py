"""accsim sweep, results, plot, report: design-space sweeps, their results and reports."""
from __future__ import annotations

from pathlib import Path

import click

from accsim.cli.common import cli, console, new_table, progress_bar, progress_lines, rich_console, output_files
from accsim.core.errors import printable
from accsim.core.files import FIGURE_OUTPUT, OUTPUT
from accsim.core.limits import DEFAULT_MAX_POINTS


@cli.command("sweep")
@click.argument("spec_path", metavar="SPEC.yaml", type=click.Path(dir_okay=False))
@click.option("--db", "db_path", default=None, type=click.Path(dir_okay=False),
              help="results database (default: SPEC.db beside the spec); several sweeps may share one")
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(min=1, max=1024),
              help="local worker processes")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run on a Dask distributed cluster")
@click.option("--max-points", default=DEFAULT_MAX_POINTS, show_default=True, type=click.IntRange(min=1),
              help="refuse a spec with more points (checked before anything is expanded)")
@click.option("--retry-failed", is_flag=True, help="run again the points stored as failed")
@click.option("--quiet", is_flag=True, help="no progress bar")
def sweep_cmd(spec_path: str, db_path: str | None, jobs: int, scheduler: str | None, max_points: int,
              retry_failed: bool, quiet: bool) -> None:
    """Run a design-space sweep; finished points are stored at once and skipped on re-run.

    A point is identified by everything its result depends on (base, set, axis values, the
    presets' and model configs' content): an edited spec or preset runs new points. SIGINT or
    SIGTERM stops the workers and keeps every finished point."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from accsim.study.sweeps import STORED_ELSEWHERE, Stopped, load_spec, run_sweep, stop_on_signals

    spec = load_spec(spec_path, max_points)
    db = db_path or str(Path(spec_path).with_suffix(".db"))
    counts = {"ok": 0, "failed": 0}
    planned = {"total": 0}
    piped = progress_lines("sweep points") if not quiet and not console.is_terminal else None
    progress = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("[red]{task.fields[failed]} failed"), TimeRemainingColumn(),
                        console=rich_console(), disable=quiet)

    with progress:
        task = progress.add_task("points", total=None, failed=0)

        def on_result(point: dict, result: dict) -> None:
            if result["status"] != STORED_ELSEWHERE:
                counts["ok" if result["status"] == "ok" else "failed"] += 1
            progress.update(task, advance=1, failed=counts["failed"])
            if piped:
                piped(int(progress.tasks[0].completed), planned["total"])

        def on_plan(n: int) -> None:
            planned["total"] = n
            progress.update(task, total=n)

        try:
            with stop_on_signals():
                summary = run_sweep(spec, db, jobs=jobs, scheduler=scheduler, on_result=on_result,
                                    retry_failed=retry_failed,
                                    on_plan=on_plan)
        except Stopped as stop:
            console.print(f"stopped by {stop}: {counts['ok'] + counts['failed']} new points are stored in "
                          f"{db}; run the same command again to resume")
            raise click.exceptions.Exit(128 + stop.signum)
    console.print(f"{summary.total} points (spec {summary.spec_id}): {summary.skipped} already stored, "
                  f"{summary.ok} ok, {summary.failed} failed -> {db}")
    if summary.stored_failed:
        console.print(f"{summary.stored_failed} points stored as failed were not run again "
                      "(--retry-failed runs them); 'accsim results DB' says why they failed")


@cli.command("results")
@click.argument("db_path", metavar="DB", type=click.Path(dir_okay=False))
@click.option("--spec", "spec", default=None, metavar="ID|latest",
              help="only the points of this spec (an id prefix from the summary, or 'latest')")
@click.option("--csv", "csv_path", default=None, type=OUTPUT, help="export CSV ('-': to standard output)")
@click.option("--parquet", "parquet_path", default=None, type=OUTPUT, help="export Parquet")
@output_files("csv_path", "parquet_path", inputs=("db_path",))
def results_cmd(db_path: str, spec: str | None, csv_path: str | None, parquet_path: str | None) -> None:
    """Export a sweep's results, or summarise them: the specs held and why points failed."""
    from accsim.study.results import export_csv, export_parquet, resolve_spec_id

    spec_id = resolve_spec_id(db_path, spec) if spec is not None else None
    if csv_path:
        console.print(f"{export_csv(db_path, csv_path, spec_id)} rows -> {csv_path}")
    if parquet_path:
        console.print(f"{export_parquet(db_path, parquet_path, spec_id)} rows -> {parquet_path}")
    if not csv_path and not parquet_path:
        _print_results_summary(db_path, spec_id)


def _print_results_summary(db_path: str, spec_id: str | None) -> None:
    from rich.markup import escape

    from accsim.study.results import failure_reasons, read_specs, read_table

    columns, rows = read_table(db_path, spec_id)
    status = [r[columns.index("status")] for r in rows]
    console.print(f"{len(rows)} points ({status.count('ok')} ok, {len(rows) - status.count('ok')} "
                  f"failed); {len(columns)} columns")
    specs = new_table("specs in this database")
    for c in ("spec", "file", "axes", "points", "ok", "failed", "recorded"):
        specs.add_column(c, justify="right" if c in ("points", "ok", "failed") else "left")
    for s in read_specs(db_path):
        if spec_id in (None, s["spec_id"]):
            specs.add_row(s["spec_id"], s["source"], ", ".join(s["axes"]), str(s["points"]), str(s["ok"]),
                          str(s["failed"]), s["recorded_at"][:19])
    console.print(specs)
    reasons = failure_reasons(columns, rows)
    if reasons:
        why = new_table("why points failed")
        for c in ("reason", "points", "e.g. point"):
            why.add_column(c, overflow="fold", justify="right" if c == "points" else "left")
        for reason, count, example in reasons:
            why.add_row(escape(printable(reason)), str(count), example)
        console.print(why)


@cli.command("plot")
@click.argument("db_path", metavar="DB|STATS.json", type=click.Path(dir_okay=False))
@click.option("--x", "x", default=None, help="column for the x axis (a sweep database)")
@click.option("--y", "y", default=None, help="column for the y axis (a sweep database)")
@click.option("--color", default=None, help="colour points by this column (e.g. an axis)")
@click.option("--pareto", is_flag=True, help="draw the Pareto front")
@click.option("--x-goal", default="min", show_default=True, type=click.Choice(["min", "max"]))
@click.option("--y-goal", default="max", show_default=True, type=click.Choice(["min", "max"]))
@click.option("--logx", is_flag=True)
@click.option("--logy", is_flag=True)
@click.option("--lines", is_flag=True, help="join the points of each --color value into a line")
@click.option("--facet", default=None, help="one panel per value of this column")
@click.option("--spec", "spec", default=None, metavar="ID|latest", help="only this spec's points")
@click.option("--roofline", is_flag=True, help="a run's STATS.json: its roofline instead of its breakdown")
@click.option("--out", default="sweep.png", show_default=True, type=FIGURE_OUTPUT,
              help="figure file: .png, .svg or .pdf")
@output_files("out", inputs=("db_path",))
def plot_cmd(db_path: str, x: str, y: str, color: str | None, pareto: bool, x_goal: str, y_goal: str,
             logx: bool, logy: bool, lines: bool, facet: str | None, spec: str | None, roofline: bool,
             out: str) -> None:
    """Plot a sweep (DB: --y over --x, series per --color, panels per --facet, Pareto front) or a
    run (the STATS.json of 'accsim run --json': where the time goes per phase and unit, or with
    --roofline each op kind under the device's roofs)."""
    from accsim.study.results import resolve_spec_id
    from accsim.view.plots import plot_breakdown, plot_sweep

    if db_path.endswith(".json"):
        if roofline:
            from accsim.view.roofline import plot_roofline
            console.print(f"{plot_roofline(db_path, out)} op kinds -> {out}")
        else:
            console.print(f"{plot_breakdown(db_path, out)} op kinds -> {out}")
        return
    if roofline:
        raise click.UsageError("--roofline plots a run's STATS.json, not a sweep database")
    if x is None or y is None:
        raise click.UsageError("a sweep database needs --x and --y (columns: 'accsim results DB --csv -')")

    spec_id = resolve_spec_id(db_path, spec) if spec is not None else None
    n = plot_sweep(db_path, x, y, out, pareto, color, x_goal, y_goal, logx, logy, lines, facet, spec_id)
    console.print(f"{n} points -> {out}")


@cli.command("report")
@click.argument("source", metavar="DB|STATS.json", type=click.Path(exists=True, dir_okay=False))
@click.option("--html", "html_path", required=True, type=OUTPUT,
              help="the report: one self-contained HTML file ('-': standard output)")
@click.option("--spec", "spec", default=None, metavar="ID|latest", help="a sweep database: only this spec")
@click.option("--quiet", is_flag=True, help="no progress bar")
@output_files("html_path", inputs=("source",))
def report_cmd(source: str, html_path: str, spec: str | None, quiet: bool) -> None:
    """Write a shareable, offline HTML report of a sweep database or of a run's STATS.json:
    interactive plots (SVG export), tables, the resolved configuration and every figure's source."""
    from accsim.study.results import resolve_spec_id
    from accsim.view.report import write_report

    if spec is not None and source.endswith(".json"):
        raise click.UsageError("--spec selects a spec of a sweep database, not of a run's STATS.json")
    spec_id = resolve_spec_id(source, spec) if spec is not None else None
    with progress_bar("writing the report: specs", quiet) as on_spec:
        kind = write_report(source, html_path, spec_id, on_spec)
    console.print(f"{kind} report -> {html_path}")
