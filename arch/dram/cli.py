"""accsim dram: trace-driven DRAM simulation (Ramulator 2 / DRAMsim3 trace formats)."""
from __future__ import annotations

import click
from rich.table import Table

import accsim
from accsim.cli.common import console, progress_bar, tables_off_stdout
from accsim.files import OUTPUT


@click.command("dram")
@click.option("--standard", "preset_name", required=True, help="DRAM preset (family dram), e.g. gddr6-14gbps")
@click.option("--trace", "trace_path", required=True, type=click.Path(dir_okay=False), help="memory trace file")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "ramulator", "ldst", "timed", "dramsim3"]))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="override a preset field")
@click.option("--json", "json_path", default=None, type=OUTPUT)
@click.option("--dump-commands", "dump_path", default=None, type=OUTPUT,
              help="write the issued command trace (cycle, command, address fields)")
@click.option("--max-commands", default=10_000_000, show_default=True, type=click.IntRange(min=0),
              help="cap on commands kept for --dump-commands")
@click.option("--quiet", is_flag=True)
@tables_off_stdout('json_path', 'dump_path')
def dram_cmd(preset_name: str, trace_path: str, fmt: str, sets: tuple[str, ...], json_path: str | None,
             dump_path: str | None, max_commands: int, quiet: bool) -> None:
    """Trace-driven DRAM simulation (Ramulator 2 / DRAMsim3 trace formats)."""
    from accsim.arch.dram.trace import simulate_trace, write_command_trace
    from accsim.presets import parse_set_options, resolve_preset
    from accsim.stats import write_json_atomic
    from accsim.traces import read_trace

    preset = resolve_preset(preset_name, parse_set_options(sets))
    if preset.family != "dram":
        raise click.BadParameter(f"'{preset_name}' is a {preset.family} preset, not a DRAM standard",
                                 param_hint="--standard")
    with progress_bar(f"{preset.name}: read the trace, simulate", quiet) as report:
        report(0, 2)
        trace = read_trace(trace_path, fmt)
        report(1, 2)
        result = simulate_trace(preset.spec.dram, trace, max_log=max_commands if dump_path else 0)
        report(2, 2)
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
