"""accsim flash: trace-driven simulation of a flash array (the memory-trace formats of accsim dram).

A request's byte address selects its logical page (address // page size); a timed trace's
cycle column is its arrival in ns; an untimed trace offers every request at time 0.
``--queue-depth N`` keeps at most N requests in the array (a host or engine with N commands
outstanding: each completion sends the next request, in trace order).
"""
from __future__ import annotations

import click

import accsim
from accsim.cli.common import console, new_table, output_files
from accsim.core.files import OUTPUT
from accsim.simulation.completion import complete_presets


@click.command("flash")
@click.option("--preset", "preset_name", required=True, shell_complete=complete_presets, help="flash preset (family flash), e.g. instinfer-csd-flash")
@click.option("--trace", "trace_path", required=True, type=click.Path(dir_okay=False),
              help="memory trace: byte address -> page; a timed trace's cycles are arrival ns")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "ramulator", "ldst", "timed", "dramsim3"]))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="override a preset field")
@click.option("--queue-depth", "queue_depth", default=0, show_default=True, type=click.IntRange(0, 1 << 30),
              help="requests kept in the array at most (each completion sends the next, in trace order); "
                   "0: every request at its arrival")
@click.option("--json", "json_path", default=None, type=OUTPUT)
@click.option("--quiet", is_flag=True)
@output_files('json_path', inputs=('trace_path',))
def flash_cmd(preset_name: str, trace_path: str, fmt: str, sets: tuple[str, ...], queue_depth: int,
              json_path: str | None, quiet: bool) -> None:
    """Trace-driven flash simulation: dies, planes and channels, event by event."""
    from accsim.arch.flash.checker import check_run
    from accsim.arch.flash.service import serve
    from accsim.core.presets import parse_set_options, resolve_preset
    from accsim.core.stats import write_json_atomic
    from accsim.core.traces import read_trace

    preset = resolve_preset(preset_name, parse_set_options(sets))
    if preset.family != "flash":
        raise click.BadParameter(f"'{preset_name}' is a {preset.family} preset, not a flash array",
                                 param_hint="--preset")
    config = preset.spec.flash
    trace = read_trace(trace_path, fmt)
    run = serve(config, trace.addr // config.page_bytes, trace.is_write, trace.cycle, queue_depth)
    stats = {"queue_depth": queue_depth, **run.stats(config)}
    stats["checker_violations"] = len(check_run(config, run))
    if json_path:
        write_json_atomic(json_path, {"accsim_version": accsim.__version__,
                                      "resolved_config": preset.resolved_config(), "trace": trace_path,
                                      "stats": stats})
    if quiet:
        return
    table = new_table(f"{trace_path} on {preset.name} ({config.channels} ch x {config.ways} dies x "
                        f"{config.planes} planes, {config.page_KiB:g} KiB pages)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in stats.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else f"{value:,}")
    console.print(table)
