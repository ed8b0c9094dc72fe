"""accsim dram: trace-driven DRAM simulation (Ramulator 2 / DRAMsim3 trace formats)."""
from __future__ import annotations

import click

import accsim
from accsim.cli.common import console, new_table, progress_bar, output_files
from accsim.core.files import OUTPUT
from accsim.simulation.completion import complete_presets

GENERATED_KINDS = ("seq", "rand", "mix")   # accsim.arch.dram.patterns.KINDS (numpy loads only on use)
MAX_GENERATED = 100_000_000                # requests (1.7 GB of arrays)


@click.command("dram")
@click.option("--standard", "preset_name", required=True, shell_complete=complete_presets, help="DRAM preset (family dram), e.g. gddr6-14gbps")
@click.option("--trace", "trace_path", default=None, type=click.Path(dir_okay=False),
              help="memory trace file (or --generate)")
@click.option("--generate", "generate", default=None, nargs=2, type=(click.Choice(GENERATED_KINDS), click.IntRange(1, MAX_GENERATED)),
              metavar="seq|rand|mix N", help="instead of a trace file: N 64 B requests, sequential reads, "
              "uniform random reads over 4 GiB, or random with a third writes (the peers' reference traces)")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "ramulator", "ldst", "timed", "dramsim3"]))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="override a preset field")
@click.option("--json", "json_path", default=None, type=OUTPUT)
@click.option("--dump-commands", "dump_path", default=None, type=OUTPUT,
              help="write the issued command trace (cycle, command, address fields)")
@click.option("--max-commands", default=10_000_000, show_default=True, type=click.IntRange(min=0),
              help="cap on commands kept for --dump-commands")
@click.option("--quiet", is_flag=True)
@output_files('json_path', 'dump_path', inputs=('trace_path',))
def dram_cmd(preset_name: str, trace_path: str | None, generate: tuple[str, int] | None, fmt: str,
             sets: tuple[str, ...], json_path: str | None, dump_path: str | None, max_commands: int,
             quiet: bool) -> None:
    """Trace-driven DRAM simulation (Ramulator 2 / DRAMsim3 trace formats, or a generated trace)."""
    from accsim.arch.dram.patterns import make_trace
    from accsim.arch.dram.trace import simulate_trace, simulate_trace_chunks, write_command_trace
    from accsim.core.presets import parse_set_options, resolve_preset
    from accsim.core.stats import write_json_atomic
    from accsim.core.traces import iter_trace

    if (trace_path is None) == (generate is None):
        raise click.UsageError("give --trace FILE or --generate seq|rand|mix N (one of them)")
    source = trace_path or f"generated {generate[0]} trace of {generate[1]:,} requests"
    preset = resolve_preset(preset_name, parse_set_options(sets))
    if preset.family != "dram":
        raise click.BadParameter(f"'{preset_name}' is a {preset.family} preset, not a DRAM standard",
                                 param_hint="--standard")
    max_log = max_commands if dump_path else 0
    if trace_path:
        # the file streams through the controller piece by piece: memory stays flat in its length
        with progress_bar(f"{preset.name}: simulate {trace_path} (MiB)", quiet) as report:
            result = simulate_trace_chunks(preset.spec.dram, iter_trace(trace_path, fmt, progress=report),
                                           max_log)
    else:
        with progress_bar(f"{preset.name}: generate the trace, simulate", quiet) as report:
            report(0, 2)
            trace = make_trace(*generate)
            report(1, 2)
            result = simulate_trace(preset.spec.dram, trace, max_log)
            report(2, 2)
    stats = result.stats
    if json_path:
        write_json_atomic(json_path, {"accsim_version": accsim.__version__,
                                      "resolved_config": preset.resolved_config(), "trace": source,
                                      "stats": stats.to_dict()})
    if dump_path:
        write_command_trace(dump_path, preset.spec.dram, result.commands)
    if quiet:
        return
    table = new_table(f"{source} on {preset.name} ({stats['standard']}, tCK {stats['tCK_ps']} ps)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("requests", "reads", "writes", "total_cycles", "accept_cycles", "bandwidth_GBps",
                "avg_read_latency_cycles", "p50_read_latency_cycles", "p99_read_latency_cycles",
                "max_read_latency_cycles", "row_hits", "row_misses", "row_conflicts", "reads_forwarded"):
        value = stats[key]
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else f"{value:,}")
    table.add_row("commands", ", ".join(f"{k} {v:,}" for k, v in stats["commands"].items()))
    energy = stats["energy"]
    if energy:
        parts = {k[:-3]: v for k, v in energy.items() if k.endswith("_pJ") and k != "total_pJ"}
        table.add_row("energy", f"{energy['total_pJ'] / 1e6:,.4f} uJ, {energy['average_power_mW']:,.1f} mW")
        table.add_row("energy by part", ", ".join(f"{k} {100 * v / energy['total_pJ']:.1f}%"
                                                  for k, v in parts.items()))
    else:
        table.add_row("energy", "n/a: the preset has no IDD currents (dram.power)")
    console.print(table)
