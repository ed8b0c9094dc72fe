"""accsim list, accsim show-preset: what is registered and what a preset holds."""
from __future__ import annotations

from typing import Any, Sequence

import click

from accsim.cli.common import cli, console, new_table
from accsim.simulation.completion import complete_presets


@cli.command("list")
@click.argument("what", required=False, type=click.Choice(["families", "presets", "models", "mappers"]))
def list_cmd(what: str | None) -> None:
    """List machine families, hardware presets, models and mappers."""
    from accsim.core.presets import load_merged, preset_names
    from accsim.core.registry import families, mappers
    from accsim.workloads import load_model, model_names

    def show(title: str, columns: Sequence[str], rows: list[Sequence[Any]]) -> None:
        table = new_table(title)
        for c in columns:
            table.add_column(c)
        for r in rows:
            table.add_row(*[str(x) for x in r])
        console.print(table)

    if what in (None, "families"):
        show("families", ("name", "default mapper", "commands", "description"),
             [(f.name, f.mapper or "-", ", ".join(f.commands) or "-", f.description)
              for f in families().values()])
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
             [(m.name, m.family, m.description) for m in mappers().values()])


@cli.command("show-preset")
@click.argument("preset", shell_complete=complete_presets)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="override a field")
def show_preset(preset: str, sets: tuple[str, ...]) -> None:
    """Every field of a preset: value, unit, help and source."""
    from accsim.core import config
    from accsim.core.presets import parse_set_options, resolve_preset, source_of
    from accsim.core.registry import families

    p = resolve_preset(preset, parse_set_options(sets))
    table = new_table(f"{p.name} ({p.family}): {p.description}")
    for c in ("field", "value", "unit", "help", "source"):
        table.add_column(c, overflow="fold")
    for info in config.describe(families().get(p.family).spec):
        node: Any = p.spec
        for part in info.path.split("."):
            node = getattr(node, part)
        in_preset = _has_path(p.data, info.path)
        source = source_of(info.path, p.sources) or ("(set, no source given)" if in_preset else "schema default")
        table.add_row(info.path, str(node), info.unit, info.help, source)
    console.print(table)


def _has_path(data: Any, path: str) -> bool:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True

