"""Plots (matplotlib, headless; PNG, SVG or PDF by suffix): sweep scatter with Pareto front,
validation parity plot."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from accsim.core.errors import AccsimError, did_you_mean
from accsim.core.units import label_of, si_number
from accsim.study.results import read_table
from accsim.view.palette import OKABE_ITO, PHASES as PHASE_COLOURS, colour_of, series_colour


def pyplot() -> Any:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def pareto_front(xs: Sequence[float], ys: Sequence[float], x_goal: str = "min",
                 y_goal: str = "max") -> np.ndarray:
    """Indices of the non-dominated points, ordered by x (goals: 'min' or 'max' per axis)."""
    x = np.asarray(xs, dtype=float) * (1 if x_goal == "min" else -1)
    y = np.asarray(ys, dtype=float) * (1 if y_goal == "min" else -1)
    order = np.lexsort((y, x))          # by x, then y: both now "smaller is better"
    front, best_y = [], np.inf
    for i in order:
        if y[i] < best_y:
            front.append(i)
            best_y = y[i]
    return np.asarray(front, dtype=np.int64)


def _column(columns: list[str], rows: list[tuple], name: str) -> list[Any]:
    if name not in columns:
        raise AccsimError(f"unknown column '{name}'{did_you_mean(name, columns)}; "
                          f"see 'accsim results DB --csv -' for the columns")
    i = columns.index(name)
    return [r[i] for r in rows]


MAX_CATEGORIES = 12     # a colour column with at most this many values gets a legend, not a colour bar


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _sorted_values(values: Sequence[Any]) -> list[Any]:
    distinct = set(values)
    return sorted(distinct) if _numeric(list(distinct)) else sorted(distinct, key=str)


def series_values(values: Sequence[Any]) -> list[Any] | None:
    """The distinct values of a colour column, sorted, each to be a series with a legend entry;
    None for more than MAX_CATEGORIES numbers (a colour scale reads those better)."""
    if _numeric(values) and len(set(values)) > MAX_CATEGORIES:
        return None
    return _sorted_values(values)


def _sweep_title(db: str | Path, spec_id: str | None) -> str:
    from accsim.study.results import read_specs
    sources = [s["source"] for s in read_specs(db) if spec_id in (None, s["spec_id"])]
    return f"sweep of {', '.join(dict.fromkeys(sources))}" if sources else f"sweep in {Path(db).name}"


def plot_sweep(db: str | Path, x: str, y: str, out: str | Path, pareto: bool = False,
               color: str | None = None, x_goal: str = "min", y_goal: str = "max",
               logx: bool = False, logy: bool = False, lines: bool = False, facet: str | None = None,
               spec_id: str | None = None) -> int:
    """Finished points (status ok) of a sweep: ``y`` over ``x``, coloured by a column (a legend
    for a few discrete values, else a colour bar), optionally joined into one line per colour,
    one panel per value of ``facet``, with the Pareto front. Axis labels and units come from
    the column names. Returns how many points were drawn."""
    columns, rows = read_table(db, spec_id)
    rows = [r for r in rows if r[columns.index("status")] == "ok"]
    xs, ys = _column(columns, rows, x), _column(columns, rows, y)
    keep = [i for i, (a, b) in enumerate(zip(xs, ys)) if _numeric([a, b])]
    if not keep:
        raise AccsimError(f"no finished point has numeric '{x}' and '{y}'")
    def pick(name: str | None) -> np.ndarray:
        values = _column(columns, rows, name) if name else [None] * len(rows)
        return np.asarray(values, dtype=object)[keep]
    points = {"x": np.asarray(xs, float)[keep], "y": np.asarray(ys, float)[keep], "color": pick(color),
              "facet": pick(facet)}
    panels = _sorted_values(points["facet"])
    # one colour per colour value in every panel (the legend is shared)
    palette = {value: series_colour(i) for i, value in enumerate(series_values(points["color"]) or [])}
    plt = pyplot()
    cols = min(3, len(panels))
    grid_rows = -(-len(panels) // cols)
    size = (7, 5) if len(panels) == 1 else (4.4 * cols, 3.6 * grid_rows)
    fig, axes = plt.subplots(grid_rows, cols, figsize=size, squeeze=False, sharex=True, sharey=True)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    for ax, value in zip(axes.flat, panels):
        mask = np.array([f == value for f in points["facet"]])
        _sweep_panel(fig, ax, {k: v[mask] for k, v in points.items()}, color, lines, palette)
        if pareto:
            front = pareto_front(points["x"][mask], points["y"][mask], x_goal, y_goal)
            ax.plot(points["x"][mask][front], points["y"][mask][front], "-", color="black", lw=2, alpha=0.6,
                    label=f"Pareto front ({x_goal} x, {y_goal} y)", zorder=0)
        ax.set_xscale("log" if logx else "linear")
        ax.set_yscale("log" if logy else "linear")
        ax.set_xlabel(label_of(x))
        ax.set_title(f"{label_of(facet)} = {value}" if facet else "", fontsize=10)
        ax.grid(alpha=0.3)
        if len(panels) == 1 and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    for r, row in enumerate(axes):
        row[0].set_ylabel(label_of(y))
        for c, ax in enumerate(row):      # a panel with no visible panel below keeps its x tick labels
            below_hidden = r + 1 >= len(axes) or not axes[r + 1][c].get_visible()
            if ax.get_visible() and below_hidden:
                ax.xaxis.set_tick_params(labelbottom=True)
                ax.set_xlabel(label_of(x))
    fig.suptitle(f"{_sweep_title(db, spec_id)}: {len(keep)} points", fontsize=11)
    rect = (0, 0, 1, 1)
    if len(panels) > 1:                   # one legend for every panel
        handles: dict[str, Any] = {}
        for ax in axes.flat:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, handle)
        if handles:
            fig.legend(list(handles.values()), list(handles), loc="center right", fontsize=8)
            rect = (0, 0, 0.8, 1)
    fig.tight_layout(rect=rect)
    save_figure(fig, out)
    plt.close(fig)
    return len(keep)


def _sweep_panel(fig: Any, ax: Any, points: dict, color: str | None, lines: bool, palette: dict) -> None:
    """One panel: a series per colour value (its colour from ``palette``), or a colour bar for
    many values."""
    order = np.argsort(points["x"], kind="stable")
    values = points["color"]
    series = series_values(values)
    if color and series is None:
        sc = ax.scatter(points["x"], points["y"], c=np.asarray(values, float), cmap="viridis", s=18)
        fig.colorbar(sc, ax=ax, label=label_of(color))
        return
    for value in series:
        mask = np.array([v == value for v in values])[order]
        ax.plot(points["x"][order][mask], points["y"][order][mask], "-o" if lines else "o", ms=4, lw=1.2,
                color=palette.get(value, series_colour(0)), label=f"{label_of(color)} = {value}" if color else None)


PHASES = ("prefill", "decode")


def read_run_payload(path: str | Path) -> dict[str, Any]:
    """The whole ``accsim run --json`` file, checked to hold a run's stats in the shapes the
    views read (an error naming the file and the first wrong field otherwise: a file edited by
    hand is told what is wrong, never given a traceback)."""
    import json
    try:
        data = json.loads(Path(path).read_text())
        stats = data["stats"]
        stats["scenario"], *(stats[phase] for phase in PHASES)
    except (OSError, UnicodeDecodeError) as exc:
        raise AccsimError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    except (ValueError, KeyError, TypeError):
        raise AccsimError(f"{path}: not the stats of 'accsim run' (expected its --json output)") from None
    problem = run_payload_problem(data)
    if problem:
        raise AccsimError(f"{path}: {problem} (the file is not as 'accsim run --json' wrote it)")
    return data


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def run_payload_problem(data: Mapping[str, Any]) -> str:
    """The first field of a run payload whose shape the views cannot read ('' when all are)."""
    stats = data["stats"]
    for name in ("latency_s", "ttft_s", "tpot_s", "energy_J"):
        if name in stats and not _number(stats[name]):
            return f"stats.{name}: expected a number, got {stats[name]!r:.60}"
    for where, node in [("stats", stats)] + [(f"stats.{p}", stats[p]) for p in PHASES]:
        if not isinstance(node, Mapping):
            return f"{where}: expected a mapping, got {type(node).__name__}"
        for table, field in (("by_op_kind", "exposed_s"), ("by_unit", "busy_s")):
            rows = node.get(table, {})
            if not isinstance(rows, Mapping):
                return f"{where}.{table}: expected a mapping of names to figures, got {type(rows).__name__}"
            for key, row in rows.items():
                if not isinstance(row, Mapping) or (field in row and not _number(row[field])):
                    return f"{where}.{table}.{key}: expected {{{field}: a number, ...}}, got {row!r:.60}"
        if "latency_s" in node and not _number(node["latency_s"]):
            return f"{where}.latency_s: expected a number, got {node['latency_s']!r:.60}"
    roofs = data.get("roofs", [])
    if not isinstance(roofs, list):
        return f"roofs: expected a list of roofs, got {type(roofs).__name__}"
    for i, roof in enumerate(roofs):
        if not (isinstance(roof, Mapping) and isinstance(roof.get("name"), str)
                and _number(roof.get("peak_flops_per_s")) and _number(roof.get("bandwidth_Bps"))):
            return f"roofs[{i}]: expected {{name, peak_flops_per_s, bandwidth_Bps}}, got {roof!r:.60}"
    return ""


def run_stats(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A run payload's scenario and per-phase stats."""
    stats = payload["stats"]
    return {"scenario": stats["scenario"], **{phase: stats[phase] for phase in PHASES}}


def read_run_stats(path: str | Path) -> dict[str, Any]:
    """The scenario and per-phase stats of an ``accsim run --json`` file."""
    return run_stats(read_run_payload(path))


def breakdown_parts(stats: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(phases that ran, op kinds by total exposed time, largest first, units) of a run: what
    a breakdown chart draws, in its order."""
    phases = [p for p in PHASES if stats[p].get("latency_s", 0) > 0]
    kinds = sorted({k for p in phases for k in stats[p]["by_op_kind"]},
                   key=lambda k: -sum(stats[p]["by_op_kind"].get(k, {}).get("exposed_s", 0) for p in phases))
    units = sorted({u for p in phases for u in stats[p]["by_unit"]})
    return phases, kinds, units


def plot_breakdown(stats_path: str | Path, out: str | Path) -> int:
    """Where a run's time goes, per phase: exposed time per op kind stacked (the bars' heights
    are the phase latencies) and each unit's busy time. Returns the op kinds drawn."""
    stats = read_run_stats(stats_path)
    phases, kinds, units = breakdown_parts(stats)
    if not phases:
        raise AccsimError(f"{stats_path}: the run has no simulated phase to break down")
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8))
    bottom = np.zeros(len(phases))
    for kind in kinds:
        ms = np.array([stats[p]["by_op_kind"].get(kind, {}).get("exposed_s", 0.0) * 1e3 for p in phases])
        left.bar(phases, ms, bottom=bottom, color=colour_of(kind), label=kind)
        bottom += ms
    for x, total in enumerate(bottom):
        left.annotate(f"{total:.4g} ms", (x, total), ha="center", va="bottom", fontsize=8)
    left.set_ylabel("exposed time [ms]")
    left.set_title("where the time goes (exposed time per op kind)", fontsize=10)
    left.legend(fontsize=7, ncol=2)
    width = 0.8 / len(phases)
    for j, phase in enumerate(phases):
        busy = [stats[phase]["by_unit"].get(u, {}).get("busy_s", 0.0) * 1e3 for u in units]
        right.bar(np.arange(len(units)) + j * width, busy, width, label=phase, color=PHASE_COLOURS[phase])
    right.set_xticks(np.arange(len(units)) + width * (len(phases) - 1) / 2, units, rotation=30, ha="right")
    right.set_ylabel("busy time [ms]")
    right.set_title("busy time per unit", fontsize=10)
    right.legend(fontsize=8)
    sc = stats["scenario"]
    fig.suptitle(f"{sc['model']} on {sc['arch']}: batch {sc['batch']}, prompt {sc['prompt']}, gen {sc['gen']}",
                 fontsize=11)
    fig.tight_layout()
    save_figure(fig, out)
    plt.close(fig)
    return len(kinds)


# Okabe & Ito's colour-blind-safe palette; within and miss differ by marker shape as well
WITHIN_COLOUR, MISS_COLOUR = OKABE_ITO[0], OKABE_ITO[5]
KEY_LEFT = 0.72      # the parity figure's panels end here; the key of misses follows


def parity_marks(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a parity plot draws of ``accsim validate`` rows: each validation case's numeric
    comparisons (a figure, a bound, a range's two ends) as points (published, simulated), a
    range's ends joined. Calibration cases and orders have no point."""
    marks = []
    for case in cases:
        if case.get("kind", "validation") != "validation":
            continue
        points = [(float(c["published"]), float(c["simulated"])) for c in case.get("comparisons", ())
                  if c.get("published") is not None and c.get("simulated") is not None
                  and c["published"] > 0 and c["simulated"] > 0]    # log axes (none of ours is <= 0)
        if points:
            marks.append({"id": case["id"], "unit": case.get("unit", ""), "within": bool(case["within"]),
                          "points": points})
    return marks


def plot_parity(cases: list[dict[str, Any]], out: str | Path) -> int:
    """Published vs simulated, one log-log panel per unit, each with its y = x line; a range
    is its two ends joined by a line; only misses are labelled (numbered, with a key). Returns
    the cases drawn."""
    marks = parity_marks(cases)
    if not marks:
        raise AccsimError("no validation case has both a published and a simulated figure to plot")
    units = sorted({m["unit"] for m in marks})
    plt = pyplot()
    cols = min(3, len(units))
    rows = -(-len(units) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.6 * cols, 5.0 * rows), squeeze=False)
    number = iter(range(1, len(marks) + 1))
    key = []
    for ax, unit in zip(axes.flat, units):
        key += _parity_panel(ax, [m for m in marks if m["unit"] == unit], unit, number)
    for ax in list(axes.flat)[len(units):]:
        ax.set_visible(False)
    within = sum(m["within"] for m in marks)
    fig.suptitle(f"published vs simulated: {within} within tolerance, {len(marks) - within} misses\n"
                 f"({len(marks)} validation cases with a figure; calibration cases and orders are not drawn)",
                 fontsize=10)
    # the misses' key in a column of its own on the right: panel labels stay short numbers
    fig.tight_layout(rect=(0, 0, KEY_LEFT if key else 1, 0.96))
    if key:
        fig.text(KEY_LEFT + 0.01, 0.94, "misses\n" + "\n".join(key), va="top", fontsize=7, family="monospace")
    save_figure(fig, out)
    plt.close(fig)
    return len(marks)


def _parity_panel(ax: Any, marks: list[dict[str, Any]], unit: str, number: Any) -> list[str]:
    """One unit's cases; returns the key lines of its numbered misses."""
    xs = [x for m in marks for x, _ in m["points"]]
    ys = [y for m in marks for _, y in m["points"]]
    lo, hi = min(xs + ys) / 1.5, max(xs + ys) * 1.5
    ax.plot([lo, hi], [lo, hi], color="0.4", ls="--", lw=1, label="y = x")
    for within, colour, marker, label in ((True, WITHIN_COLOUR, "o", "within tolerance"),
                                          (False, MISS_COLOUR, "X", "miss")):
        group = [m for m in marks if m["within"] == within]
        for m in group:
            px, py = zip(*m["points"])
            ax.plot(px, py, color=colour, lw=1, marker=marker, ms=5, ls="-" if len(px) > 1 else "")
        if group:
            ax.plot([], [], color=colour, marker=marker, ls="", label=label)
    key = _label_misses(ax, [m for m in marks if not m["within"]], number, np.log10(hi / lo))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    _short_log_ticks(ax, hi / lo)
    ax.set_aspect("equal")
    ax.set_title(f"{unit}: {sum(m['within'] for m in marks)} of {len(marks)} within", fontsize=10)
    ax.set_xlabel(f"published [{unit}]")
    ax.set_ylabel(f"simulated [{unit}]")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3, which="both")
    return key


def _short_log_ticks(ax: Any, span: float) -> None:
    """Tick labels as plain numbers with SI prefixes (120, 140, 6G) on a panel under two decades,
    where the default labels of minor ticks (1.2 x 10^2, ...) run into each other; minor ticks
    unlabelled past a span of 4."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    for axis in (ax.xaxis, ax.yaxis):
        if span < 100:
            plain = FuncFormatter(lambda v, _: si_number(v))
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(plain if span < 4 else NullFormatter())
        else:
            axis.set_minor_formatter(NullFormatter())


def _label_misses(ax: Any, misses: list[dict[str, Any]], number: Any, decades: float) -> list[str]:
    """Number each miss at its last point; misses whose points fall within 1/15 of the panel's
    span of each other share one label, so labels never sit on each other. Returns the key lines."""
    near_decades = decades / 15
    key, placed = [], []           # placed: [(log x, log y, [numbers])]
    for m in misses:
        n = next(number)
        key.append(f"{n:>2} {m['id']}")
        x, y = m["points"][-1]
        lx, ly = np.log10(x), np.log10(y)
        near = next((p for p in placed if abs(p[0] - lx) < near_decades and abs(p[1] - ly) < near_decades), None)
        if near:
            near[2].append(n)
        else:
            placed.append((lx, ly, [n]))
    for lx, ly, numbers in placed:
        ax.annotate(",".join(map(str, numbers)), (10 ** lx, 10 ** ly), fontsize=7, color=MISS_COLOUR,
                    xytext=(4, -8), textcoords="offset points")
    return key


def save_figure(fig, out: str | Path) -> None:
    """The figure, written atomically in the format its suffix names (png, svg, pdf)."""
    from accsim.core.files import open_output
    with open_output(out, binary=True) as fh:
        fig.savefig(fh, dpi=120, format=Path(out).suffix.lstrip(".").lower() or "png")


# offsets (points) a label tries around its marker, nearest first
LABEL_OFFSETS = ((3, 3), (3, -10), (-3, 3), (-3, -10), (3, 12), (3, -19), (-3, 12), (-3, -19), (3, 21), (3, -28))


def place_labels(ax: Any, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str],
                 fontsize: float = 7) -> list[tuple[float, float, float, float]]:
    """Label points without labels landing on one another: each label takes the first offset
    around its marker whose box (estimated from its characters) meets no label placed before;
    labels of the same text at the same place are drawn once. Call after the axes' scales and
    limits are final. Returns the labels' boxes (pixels), in the order placed."""
    fig = ax.figure
    fig.canvas.draw()                         # the transforms reflect the final limits
    to_px = ax.transData.transform
    pt = fig.dpi / 72.0
    char_w, height = 0.6 * fontsize * pt, 1.2 * fontsize * pt
    placed: list[tuple[float, float, float, float]] = []
    seen: set[tuple[str, float, float]] = set()
    for x, y, text in sorted(zip(xs, ys, texts), key=lambda t: -t[1]):
        px, py = to_px((x, y))
        key = (text, round(px), round(py))
        if key in seen:
            continue
        seen.add(key)
        width = char_w * len(text)
        for dx, dy in LABEL_OFFSETS:
            left = px + dx * pt if dx >= 0 else px + dx * pt - width
            bottom = py + dy * pt
            box = (left, bottom, left + width, bottom + height)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                    ha="left" if dx >= 0 else "right")
    return placed
