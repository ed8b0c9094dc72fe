"""accsim validate: every published case simulated and compared, misses shown."""
from __future__ import annotations

from typing import Any

import click

import accsim
from accsim.cli.common import cli, console, new_table, progress_bar, tables_off_stdout
from accsim.files import FIGURE_OUTPUT, OUTPUT


@cli.command("validate")
@click.option("-k", "select", default=None, help="only cases whose id contains this text")
@click.option("--json", "json_path", default=None, type=OUTPUT)
@click.option("--markdown", "md_path", default=None, type=OUTPUT)
@click.option("--plot", "plot_path", default=None, type=FIGURE_OUTPUT,
              help="published vs simulated, log-log, with y = x (PNG)")
@click.option("--strict", is_flag=True, help="exit 1 on any miss, not only on cases that fail to run")
@click.option("--quiet", is_flag=True, help="no progress bar")
@tables_off_stdout('json_path', 'md_path', 'plot_path')
def validate_cmd(select: str | None, json_path: str | None, md_path: str | None, plot_path: str | None,
                 strict: bool, quiet: bool) -> None:
    """Simulate every published case and compare: misses are shown, not hidden."""
    from accsim.files import write_atomic
    from accsim.stats import write_json_atomic
    from accsim.validation.harness import markdown_table, run_all

    with progress_bar("validating cases", quiet) as on_case:
        outcomes = run_all(select, on_case)
    table = new_table("published vs simulated")
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
        write_atomic(md_path, markdown_table(outcomes))
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
