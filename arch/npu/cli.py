"""accsim gemm: one GEMM (or a SCALE-Sim topology) on an npu preset."""
from __future__ import annotations

from typing import Any, Callable

import click

import accsim
from accsim.cli.common import console, fmt_s, new_table, progress_bar, output_files
from accsim.core.files import OUTPUT
from accsim.simulation.completion import complete_presets


def _read_topology(path: str) -> list[tuple[str, int, int, int]]:
    """SCALE-Sim GEMM topology CSV: header, then `Layer,M,N,K,` rows (note: M, N, K order)."""
    import csv
    from accsim.core.errors import ConfigError

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


@click.command("gemm")
@click.option("--arch", "preset_name", default="systolic-32x32", show_default=True, help="npu preset",
              shell_complete=complete_presets)
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
@click.option("--json", "json_path", default=None, type=OUTPUT)
@click.option("--quiet", is_flag=True, help="no progress bar and no table")
@output_files('json_path')
def gemm_cmd(preset_name: str, dataflow: str | None, m: int | None, k: int | None, n: int | None,
             topology: str | None, dtype: str | None, sets: tuple[str, ...], json_path: str | None,
             quiet: bool) -> None:
    """One GEMM (or a topology of GEMMs): fold by fold on a systolic-array preset; tiled over
    every core of the die, tile by tile, on a cube (Da Vinci) preset."""
    from accsim.core.presets import parse_set_options, resolve_preset
    from accsim.core.stats import write_json_atomic

    overrides = parse_set_options(sets)
    preset = resolve_preset(preset_name, overrides)
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
        with progress_bar("GEMMs", quiet) as report:
            results, table = _gemm_table_chip(preset, jobs, dtype or "bf16", report)
    else:
        if dtype:
            raise click.BadParameter("systolic presets count words (buffers.word_bytes); --dtype "
                                     "applies to cube presets", param_hint="--dtype")
        if dataflow:   # an override like any other, so that resolved_config records it
            preset = resolve_preset(preset_name, {**overrides, "array.dataflow": dataflow})
        with progress_bar("GEMMs", quiet) as report:
            results, table = _gemm_table_systolic(preset, jobs, report)
    if not quiet:
        console.print(table)
    if json_path:
        write_json_atomic(json_path, {"accsim_version": accsim.__version__,
                                      "resolved_config": preset.resolved_config(), "gemms": results})


def _gemm_table_systolic(preset: Any, jobs: list, report: Callable[[int, int], None]) -> tuple[list, Any]:
    from accsim.arch.npu.systolic import simulate_gemm
    results = []
    table = new_table(f"{preset.name}: {preset.description}")
    for c in ("layer", "M", "K", "N", "dataflow", "folds", "compute_cycles", "total_cycles",
              "util %", "ifmap reads", "filter reads"):
        table.add_column(c, justify="left" if c in ("layer", "dataflow") else "right")
    for i, (name, mm, nn, kk) in enumerate(jobs):
        report(i, len(jobs))
        stats = simulate_gemm(preset.spec, mm, kk, nn)
        results.append({"layer": name, **stats.to_dict()})
        table.add_row(name, str(mm), str(kk), str(nn), stats["dataflow"], f"{stats['folds']:,}",
                      f"{stats['compute_cycles']:,}", f"{stats['total_cycles']:,}",
                      f"{stats['compute_util_pct']:.2f}", f"{stats['sram_reads_words.ifmap']:,}",
                      f"{stats['sram_reads_words.filter']:,}")
    return results, table


def _gemm_table_chip(preset: Any, jobs: list, dtype: str,
                     report: Callable[[int, int], None]) -> tuple[list, Any]:
    from accsim.mappers.npu import gemm_on_chip
    results = []
    table = new_table(f"{preset.name}: {preset.description}")
    for c in ("layer", "M", "K", "N", "tile m/k/n, order", "total_cycles", "latency", "cube util %",
              "HBM util %", "HBM bytes"):
        table.add_column(c, justify="left" if c in ("layer", "tile m/k/n, order") else "right")
    for i, (name, mm, nn, kk) in enumerate(jobs):
        report(i, len(jobs))
        stats = gemm_on_chip(preset.spec, mm, kk, nn, dtype)
        results.append({"layer": name, **stats.to_dict()})
        t = stats["tiling"]
        table.add_row(name, str(mm), str(kk), str(nn), f"{t['m_t']}/{t['k_t']}/{t['n_t']}, {t['order']}",
                      f"{stats['total_cycles']:,}", fmt_s(stats["latency_s"]),
                      f"{stats['compute_util_pct']:.1f}", f"{stats['hbm_util_pct']:.1f}",
                      f"{stats['hbm_bytes']:,}")
    return results, table
