"""accsim validate: every published case simulated and compared, misses shown."""
from __future__ import annotations

from typing import Any

import click

import accsim
from accsim.cli.common import cli, console, new_table, progress_bar, output_files
from accsim.core.files import FIGURE_OUTPUT, OUTPUT


@cli.command("validate")
@click.option("-k", "select", default=None, help="only cases whose id contains this text")
@click.option("--json", "json_path", default=None, type=OUTPUT)
@click.option("--markdown", "md_path", default=None, type=OUTPUT)
@click.option("--plot", "plot_path", default=None, type=FIGURE_OUTPUT,
              help="published vs simulated, log-log, with y = x (PNG)")
@click.option("--strict", is_flag=True, help="exit 1 on any miss, not only on cases that fail to run")
@click.option("--quiet", is_flag=True, help="no progress bar")
@output_files('json_path', 'md_path', 'plot_path')
def validate_cmd(select: str | None, json_path: str | None, md_path: str | None, plot_path: str | None,
                 strict: bool, quiet: bool) -> None:
    """Simulate every published case and compare: misses are shown, not hidden."""
    from accsim.core.files import write_atomic
    from accsim.core.stats import write_json_atomic
    from accsim.validation.harness import counts, markdown_table, run_all, summary_line

    with progress_bar("validating cases", quiet) as on_case:
        outcomes = run_all(select, on_case)
    for kind, title in (("validation", "validation: published vs simulated"),
                        ("calibration", "calibration (not counted: a preset value was solved from these figures)")):
        mine = [o for o in outcomes if o.case.kind == kind]
        if mine:
            console.print(_comparison_table(title, mine))
    for o in outcomes:
        _print_details(o)
    if len({o.case.kind for o in outcomes}) > 1 or len(outcomes) > 1:
        console.print(_counts_table(counts(outcomes)))
    for kind in ("validation", "calibration"):
        if any(o.case.kind == kind for o in outcomes):
            console.print(summary_line(outcomes, kind))
    rows = [o.as_row() for o in outcomes]
    if json_path:
        write_json_atomic(json_path, {"accsim_version": accsim.__version__, "cases": rows,
                                      "counts": counts(outcomes)})
    if md_path:
        write_atomic(md_path, markdown_table(outcomes))
    if plot_path:
        from accsim.view.plots import plot_parity
        plot_parity(rows, plot_path)
    misses = any(not o.within and o.failure is None for o in outcomes)
    if any(o.failure for o in outcomes) or (strict and misses):
        raise click.exceptions.Exit(1)


def _comparison_table(title: str, outcomes: list) -> Any:
    """One row per comparison: a range's two ends, a bound, each step of an order, a trend."""
    from accsim.validation.harness import comparison_rows, tolerance_note
    table = new_table(title)
    for c in ("case", "comparison", "published", "simulated", "error %", "within tolerance"):
        table.add_column(c, justify="right" if c in ("published", "simulated", "error %") else "left",
                         overflow="fold")
    for o in outcomes:
        for r in comparison_rows(o):
            colour = "green" if r["verdict"] == "yes" else "red"
            table.add_row(r["case"], r["comparison"], r["published"], r["simulated"], r["error"],
                          f"[{colour}]{r['verdict']}[/{colour}]" + tolerance_note(r))
    return table


def _counts_table(rows: list[dict[str, Any]]) -> Any:
    table = new_table("cases per kind, family and claim")
    for c in ("kind", "family", "claim", "cases", "within", "misses", "failed"):
        table.add_column(c, justify="right" if c in ("cases", "within", "misses", "failed") else "left")
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("kind", "family", "claim", "cases", "within", "misses", "failed")))
    return table


def _print_details(o: Any) -> None:
    """A case's failure, what its runs picked, its curve and the stat it asks to show."""
    if o.failure:
        console.print(f"[red]{o.case.id} failed to run:[/red] {o.failure}", markup=True)
    for note in o.notes:
        console.print(f"{o.case.id}: {note}")
    if o.curve:
        curve = o.case.curve
        console.print(f"{o.case.id}: {curve['stat']} vs {curve['over']}: " + ", ".join(
            f"{v:g} -> {y:.4g}" for v, y in o.curve))
    if o.shown is not None:
        console.print(f"{o.case.id}: {o.case.show} = {_compact(o.shown)}")


def _compact(value: Any) -> str:
    """A stat for one line: a breakdown {kind: {exposed_s: x}} as kind share%, else as is."""
    if isinstance(value, dict) and value and all(isinstance(v, dict) and "exposed_s" in v
                                                 for v in value.values()):
        total = sum(v["exposed_s"] for v in value.values()) or 1.0
        return ", ".join(f"{k} {100 * v['exposed_s'] / total:.1f}%"
                         for k, v in sorted(value.items(), key=lambda kv: -kv[1]["exposed_s"]))
    return str(value)
