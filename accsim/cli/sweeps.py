"""accsim sweep, results, plot: design-space sweeps and their results."""
from __future__ import annotations

from pathlib import Path

import click

from accsim.cli.common import cli, console
from accsim.files import OUTPUT


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
@click.option("--csv", "csv_path", default=None, type=OUTPUT, help="export CSV ('-': to standard output)")
@click.option("--parquet", "parquet_path", default=None, type=OUTPUT, help="export Parquet")
def results_cmd(db_path: str, csv_path: str | None, parquet_path: str | None) -> None:
    """Export a sweep's results, or summarise them."""
    from accsim.results import export_csv, export_parquet, read_axes, read_table

    if csv_path == "-":                  # the table itself is the output: the count goes to stderr
        click.echo(f"{export_csv(db_path, csv_path)} rows", err=True)
    elif csv_path:
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
@click.option("--out", default="sweep.png", show_default=True, type=OUTPUT)
def plot_cmd(db_path: str, x: str, y: str, color: str | None, pareto: bool, x_goal: str, y_goal: str,
             logx: bool, logy: bool, out: str) -> None:
    """Scatter two result columns (PNG), with the Pareto front if asked."""
    from accsim.plots import plot_sweep

    n = plot_sweep(db_path, x, y, out, pareto, color, x_goal, y_goal, logx, logy)
    console.print(f"{n} points -> {out}")
