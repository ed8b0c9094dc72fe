"""Self-contained HTML reports of a sweep database or of a run's stats (``accsim report``).

One file that opens offline anywhere: plotly.js (from the plotly package) is inlined once,
every figure is an interactive plotly chart whose camera button saves an SVG, and the tables,
the resolved configuration and the source of every preset figure sit beside the plots.
Reports hold no time stamp, so the same inputs give the same bytes.
"""
from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from accsim.core.errors import AccsimError
from accsim.core.presets import source_of
from accsim.core.units import label_of
from accsim.view.palette import PHASES as PHASE_COLOURS, SERIES, colour_of
from accsim.view.plots import PHASES, breakdown_parts, read_run_payload, run_stats, series_values

HEADLINE_METRICS = ("latency_s", "ttft_s", "tpot_s", "tokens_per_s", "decode_tokens_per_s",
                    "energy_per_token_J", "decode_energy_per_token_J")
MAX_BAR_POINTS = 400        # a stacked bar per point reads up to this many points; beyond, the first ones
PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "toImageButtonOptions": {"format": "svg", "scale": 1}}   # the camera saves vector art
# stacks: the legend top-down as the bars, and 24 distinct colours (op kinds often exceed 10)
STACK_LAYOUT = {"legend": {"traceorder": "reversed"}, "colorway": list(SERIES)}     # accsim.view.palette
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } th.sortable { cursor: pointer; } td.num { text-align: right; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: 12px; }
.note { color: #666; font-size: 12px; } .miss { color: #b00; }
"""
# click a header to sort its table (numbers as numbers); no library needed for that
SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.classList.add('sortable');
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var up = th.dataset.order !== 'up'; th.dataset.order = up ? 'up' : 'down';
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return up ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise AccsimError("accsim report needs plotly: pip install 'plotly>=5.18'") from None
    return go


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value) if value is not None else ""


def table_html(header: Sequence[str], rows: Iterable[Sequence[Any]], sortable: bool = False) -> str:
    """An HTML table; numeric cells right-aligned, each cell's raw value kept for sorting."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(f'<td class="{"num" if _number(v) else ""}" data-v="{html.escape(str(v))}">'
                        f"{html.escape(_fmt(v))}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    cls = ' class="sortable"' if sortable else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure_html(fig: Any, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG)


def _page(title: str, sections: Sequence[str]) -> str:
    from plotly.offline import get_plotlyjs
    import accsim
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
            f"<script>{get_plotlyjs()}</script></head><body>"
            f"<h1>{html.escape(title)}</h1>"
            f'<p class="note">accsim {html.escape(accsim.__version__)}; every chart is interactive '
            "(zoom, hover); its camera button saves the chart as SVG. Click a table header to sort.</p>"
            + "".join(sections) + f"<script>{SORT_SCRIPT}</script></body></html>\n")


def _flat(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, Mapping) and data:
        return [item for k, v in data.items() for item in _flat(v, f"{prefix}{k}.")]
    return [(prefix.rstrip("."), json.dumps(data) if isinstance(data, (list, dict)) else data)]


def config_html(resolved: Mapping[str, Any]) -> str:
    """A preset's resolved configuration: every field, its value and where the value comes from."""
    rows = [(path, value, source_of(path, resolved.get("sources", {})))
            for path, value in _flat(resolved.get("spec", {}))]
    overrides = resolved.get("overrides") or {}
    head = (f"<h3>{html.escape(str(resolved.get('preset')))} ({html.escape(str(resolved.get('family')))})</h3>"
            f"<p>{html.escape(str(resolved.get('description', '')))}</p>")
    if overrides:
        head += "<p>overrides: " + html.escape(", ".join(f"{k}={v}" for k, v in overrides.items())) + "</p>"
    return head + table_html(("field", "value", "source"), rows)


# --- a run's stats -----------------------------------------------------------------------------

def _breakdown_figures(stats: Mapping[str, Any]) -> list[Any]:
    """Exposed time per op kind stacked per phase, and busy time per unit per phase."""
    go = _plotly()
    phases, kinds, units = breakdown_parts(stats)
    exposed = go.Figure([go.Bar(name=k, x=phases, y=[stats[p]["by_op_kind"].get(k, {}).get("exposed_s", 0) * 1e3
                                                     for p in phases], marker_color=colour_of(k)) for k in kinds])
    exposed.update_layout(barmode="stack", title="where the time goes (exposed time per op kind)",
                          yaxis_title="exposed time [ms]", height=480, **STACK_LAYOUT)
    busy = go.Figure([go.Bar(name=p, x=units, y=[stats[p]["by_unit"].get(u, {}).get("busy_s", 0) * 1e3
                                                 for u in units], marker_color=PHASE_COLOURS[p]) for p in phases])
    busy.update_layout(barmode="group", title="busy time per unit", yaxis_title="busy time [ms]", height=420)
    return [exposed, busy]


def run_report(stats_path: str | Path) -> str:
    """The HTML report of an ``accsim run --json`` file."""
    payload = read_run_payload(stats_path)
    stats = run_stats(payload)
    full = payload["stats"]
    sc = stats["scenario"]
    title = f"{sc['model']} on {sc['arch']}: batch {sc['batch']}, prompt {sc['prompt']}, gen {sc['gen']}"
    headline = [(label_of(m), full[m]) for m in HEADLINE_METRICS if m in full]
    headline.append(("parameters", full.get("model", {}).get("num_params", "")))
    sections = ["<h2>Results</h2>", table_html(("metric", "value"), headline),
                "<h2>Scenario</h2>", table_html(("field", "value"), _flat(sc))]
    if any(stats[p].get("latency_s", 0) > 0 for p in PHASES):
        sections.append("<h2>Where the time goes</h2>")
        sections += [_figure_html(fig, f"breakdown-{i}") for i, fig in enumerate(_breakdown_figures(stats))]
    from accsim.view.roofline import roofline_figure
    roof = roofline_figure(payload)
    if roof is not None:
        sections += ["<h2>Roofline</h2>", _figure_html(roof, "roofline")]
    sections += ["<h2>Configuration</h2>", config_html(payload.get("resolved_config", {})),
                 "<h3>Program digests</h3>", f"<pre>{html.escape(json.dumps(payload.get('program_digests'), indent=1))}</pre>"]
    return _page(title, sections)


# --- a sweep database --------------------------------------------------------------------------

def _numeric_columns(columns: Sequence[str], rows: Sequence[tuple], axes: Sequence[str]) -> list[str]:
    """Columns with a number in every finished row: the axes first, then the run's figures."""
    skip = {"idx", "elapsed_s"}
    found = [c for i, c in enumerate(columns)
             if c not in skip and rows and all(_number(r[i]) for r in rows)]
    return sorted(found, key=lambda c: (c not in axes, "." in c, axes.index(c) if c in axes else 0))


def _explorer(columns: list[str], rows: list[tuple], axes: list[str], div_id: str) -> str:
    """A scatter of any numeric column over any other (dropdowns for x and y, log toggles),
    coloured by an axis, hovering every axis value."""
    go = _plotly()
    numeric = _numeric_columns(columns, rows, axes)
    if len(numeric) < 2:
        return '<p class="note">fewer than two numeric columns: nothing to plot</p>'
    data = {c: [r[columns.index(c)] for r in rows] for c in columns}
    x0 = axes[0] if axes and axes[0] in numeric else numeric[0]
    y0 = next((m for m in ("tokens_per_s", "latency_s") if m in numeric), numeric[-1])
    colour = next((a for a in axes if a != x0), x0)
    hover = ["<br>".join(f"{a} = {data[a][i]}" for a in axes) for i in range(len(rows))]
    groups = _colour_groups(data[colour])
    template = "%{text}<br>x = %{x:.4g}<br>y = %{y:.4g}<extra></extra>"
    if groups is None:      # many numeric values: one trace on a colour scale
        members = [list(range(len(rows)))]
        traces = [go.Scatter(x=data[x0], y=data[y0], mode="markers", text=hover, hovertemplate=template,
                             marker=dict(size=9, color=data[colour], colorscale="Viridis", showscale=True,
                                         colorbar=dict(title=label_of(colour))))]
    else:                   # a few values (or names): a trace and a legend entry per value
        members = [idx for _, idx in groups]
        traces = [go.Scatter(x=[data[x0][i] for i in idx], y=[data[y0][i] for i in idx], mode="markers",
                             name=f"{label_of(colour)} = {value}", text=[hover[i] for i in idx],
                             hovertemplate=template, marker=dict(size=9)) for value, idx in groups]
    fig = go.Figure(traces)

    def menu(axis: str, x: float, y: float) -> dict:
        return dict(buttons=[dict(label=label_of(c), method="update",
                                  args=[{axis: [[data[c][i] for i in idx] for idx in members]},
                                        {f"{axis}axis.title.text": label_of(c)}])
                             for c in numeric],
                    active=numeric.index(x0 if axis == "x" else y0), x=x, y=y, xanchor="left",
                    yanchor="top", direction="down", showactive=True)

    def scale(axis: str, x: float) -> dict:
        return dict(type="buttons", direction="right", x=x, y=1.17, xanchor="left", yanchor="top",
                    buttons=[dict(label=f"{axis} {kind}", method="relayout", args=[{f"{axis}axis.type": kind}])
                             for kind in ("linear", "log")])
    fig.update_layout(updatemenus=[menu("x", 0.0, 1.3), menu("y", 0.45, 1.3), scale("x", 0.0), scale("y", 0.45)],
                      xaxis_title=label_of(x0), yaxis_title=label_of(y0), height=560,
                      margin=dict(t=150), annotations=[dict(text="x:", x=-0.03, y=1.29, xref="paper", yref="paper",
                                                            showarrow=False),
                                                       dict(text="y:", x=0.42, y=1.29, xref="paper",
                                                            yref="paper", showarrow=False)])
    return _figure_html(fig, div_id)


def _colour_groups(values: Sequence[Any]) -> list[tuple[Any, list[int]]] | None:
    """(value, row indices) per series of a colour column (``plots.series_values``), or None
    for a colour scale."""
    series = series_values(values)
    return None if series is None else [(value, [i for i, v in enumerate(values) if v == value])
                                        for value in series]


def _point_label(columns: list[str], row: tuple, axes: Sequence[str]) -> str:
    return ", ".join(f"{a}={row[columns.index(a)]}" for a in axes if a in columns) or str(row[0])[:8]


def _sweep_breakdown(columns: list[str], rows: list[tuple], axes: list[str], div_id: str) -> str:
    """Exposed time per op kind stacked for each point: where the time goes across the space."""
    go = _plotly()
    kinds = [c for c in columns if c.startswith("by_op_kind.") and c.endswith(".exposed_s")]
    if not kinds or not rows:
        return ""
    shown = rows[:MAX_BAR_POINTS]
    labels = [_point_label(columns, r, axes) for r in shown]
    totals = {k: sum(r[columns.index(k)] or 0 for r in shown) for k in kinds}
    traces = [go.Bar(name=k.split(".")[1], x=labels, y=[(r[columns.index(k)] or 0) * 1e3 for r in shown],
                     marker_color=colour_of(k.split(".")[1]))
              for k in sorted(kinds, key=lambda k: -totals[k]) if totals[k] > 0]
    fig = go.Figure(traces)
    fig.update_layout(barmode="stack", title="where the time goes, per point (exposed time per op kind)",
                      yaxis_title="exposed time [ms]", height=520, xaxis_tickangle=-45, **STACK_LAYOUT)
    note = (f'<p class="note">the first {MAX_BAR_POINTS} of {len(rows)} points</p>'
            if len(rows) > MAX_BAR_POINTS else "")
    return _figure_html(fig, div_id) + note


def _points_table(columns: list[str], rows: list[tuple], axes: list[str]) -> str:
    shown = [c for c in (*axes, *HEADLINE_METRICS, "status", "error") if c in columns]
    header = [label_of(c) if c not in ("status", "error") else c for c in shown]
    return table_html(header, ([r[columns.index(c)] for c in shown] for r in rows), sortable=True)


def _provenance(spec_raw: Mapping[str, Any], source: str, spec_id: str) -> str:
    """Whether today's presets and models are those the sweep ran (their digests are in the
    point ids, so replanning the spec gives the stored spec id only if nothing changed)."""
    from accsim.study.sweeps import parse_spec, plan_sweep
    try:
        _, today = plan_sweep(parse_spec(spec_raw, source))
    except AccsimError as exc:
        return f'<p class="miss">the spec no longer plans on this installation: {html.escape(str(exc))}</p>'
    if today == spec_id:
        return ("<p>The presets and model configs below are the ones this sweep ran "
                "(replanning the spec today gives its id again).</p>")
    return ('<p class="miss">A preset or model config changed since this sweep ran (replanning the spec '
            f"gives id {html.escape(today)}, not {html.escape(spec_id)}): the configurations below are "
            "today's.</p>")


def _named(spec_raw: Mapping[str, Any], field: str) -> list[str]:
    """The values a spec gives a scenario field: base, set, and an axis's list."""
    values = [spec_raw.get(part, {}).get(field) for part in ("base", "set")]
    axis = spec_raw.get("axes", {}).get(field)
    values += list(axis) if isinstance(axis, list) else []
    return list(dict.fromkeys(str(v) for v in values if isinstance(v, str) and v))


def _spec_section(db: str | Path, spec: Mapping[str, Any]) -> str:
    from accsim.core.presets import resolve_preset
    from accsim.study.results import failure_reasons, read_table
    import yaml
    columns, rows = read_table(db, spec["spec_id"])
    ok = [r for r in rows if r[columns.index("status")] == "ok"]
    axes = [a for a in spec["axes"] if a in columns]
    sid = spec["spec_id"]
    raw = spec["spec"]
    parts = [f"<h2>Spec {html.escape(sid)}: {html.escape(str(spec['source']))}</h2>",
             f"<p>{spec['points']} points: {spec['ok']} ok, {spec['failed']} failed.</p>",
             "<h3>Explore</h3>", _explorer(columns, ok, axes, f"explore-{sid}"),
             _sweep_breakdown(columns, ok, axes, f"breakdown-{sid}"),
             "<h3>Points</h3>", _points_table(columns, rows, axes)]
    reasons = failure_reasons(columns, rows)
    if reasons:
        parts += ["<h3>Why points failed</h3>", table_html(("reason", "points", "example point"), reasons)]
    parts += ["<h3>Spec</h3>", f"<pre>{html.escape(yaml.safe_dump(raw, sort_keys=False))}</pre>"]
    if raw:
        parts.append(_provenance(raw, str(spec["source"]), sid))
    for arch in _named(raw, "arch"):
        try:
            parts.append(config_html(resolve_preset(arch).resolved_config()))
        except AccsimError as exc:
            parts.append(f'<p class="miss">preset {html.escape(arch)}: {html.escape(str(exc))}</p>')
    models = _named(raw, "model")
    if models:
        parts.append("<p>models: " + html.escape(", ".join(models)) + "</p>")
    return "".join(parts)


def sweep_report(db: str | Path, spec_id: str | None = None,
                 on_spec: Callable[[int, int], None] = lambda done, total: None) -> str:
    """The HTML report of a sweep database (every spec it holds, or one); ``on_spec(done,
    total)`` follows each spec's section (a progress display)."""
    from accsim.study.results import read_specs
    specs = [s for s in read_specs(db) if spec_id in (None, s["spec_id"])]
    if not specs:
        raise AccsimError(f"{db}: holds no sweep spec to report (run 'accsim sweep SPEC --db {db}')")
    summary = table_html(("spec", "file", "axes", "points", "ok", "failed"),
                         [(s["spec_id"], s["source"], ", ".join(s["axes"]), s["points"], s["ok"], s["failed"])
                          for s in specs])
    sources = ", ".join(dict.fromkeys(str(s["source"]) for s in specs))
    sections = []
    for spec in specs:
        sections.append(_spec_section(db, spec))
        on_spec(len(sections), len(specs))
    return _page(f"accsim sweep report: {sources}", ["<h2>Specs</h2>", summary, *sections])


def write_report(source: str | Path, out: str | Path, spec_id: str | None = None,
                 on_spec: Callable[[int, int], None] = lambda done, total: None) -> str:
    """Write the report of a sweep database or of a run's STATS.json to ``out``; returns what it
    reported ('run' or 'sweep'). ``on_spec`` follows a sweep report's specs."""
    from accsim.core.files import open_output
    kind = "run" if str(source).endswith(".json") else "sweep"
    page = run_report(source) if kind == "run" else sweep_report(source, spec_id, on_spec)
    with open_output(out) as fh:
        fh.write(page)
    return kind
