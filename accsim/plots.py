"""Plots (matplotlib, headless; PNG, SVG or PDF by suffix): sweep scatter with Pareto front,
validation parity plot."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from accsim.errors import AccsimError, did_you_mean
from accsim.results import read_table


def _pyplot() -> Any:
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


def plot_sweep(db: str | Path, x: str, y: str, out: str | Path, pareto: bool = False,
               color: str | None = None, x_goal: str = "min", y_goal: str = "max",
               logx: bool = False, logy: bool = False) -> int:
    """Scatter of finished points (status ok); returns how many were drawn."""
    columns, rows = read_table(db)
    rows = [r for r in rows if r[columns.index("status")] == "ok"]
    xs, ys = _column(columns, rows, x), _column(columns, rows, y)
    keep = [i for i, (a, b) in enumerate(zip(xs, ys)) if isinstance(a, (int, float)) and isinstance(b, (int, float))]
    if not keep:
        raise AccsimError(f"no finished point has numeric '{x}' and '{y}'")
    xs, ys = np.asarray(xs, float)[keep], np.asarray(ys, float)[keep]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    if color:
        cs = [_column(columns, rows, color)[i] for i in keep]
        numeric = all(isinstance(c, (int, float)) for c in cs)
        if numeric:
            sc = ax.scatter(xs, ys, c=cs, cmap="viridis", s=18)
            fig.colorbar(sc, ax=ax, label=color)
        else:
            for value in sorted(set(map(str, cs))):
                mask = np.array([str(c) == value for c in cs])
                ax.scatter(xs[mask], ys[mask], s=18, label=f"{color}={value}")
            ax.legend(fontsize=8)
    else:
        ax.scatter(xs, ys, s=18, color="tab:blue")
    if pareto:
        front = pareto_front(xs, ys, x_goal, y_goal)
        ax.plot(xs[front], ys[front], "-o", color="tab:red", ms=4, lw=1.5,
                label=f"Pareto front ({x} {x_goal}, {y} {y_goal})")
        ax.legend(fontsize=8)
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{Path(db).name}: {len(keep)} points")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, out)
    plt.close(fig)
    return len(keep)


def _published_point(case: dict[str, Any]) -> tuple[float, float, float] | None:
    """(x, low, high) of a case's published figure: a value, or a range drawn at its geometric
    middle with the range as error bar."""
    if case.get("published"):
        value = float(case["published"])
        return value, value, value
    if case.get("published_range"):
        low, high = map(float, case["published_range"])
        return float(np.sqrt(low * high)), low, high
    return None


def plot_parity(cases: list[dict[str, Any]], out: str | Path) -> int:
    """Published vs simulated, one log-log panel per unit (cycles, ratio, tokens/s, ...), each
    with its y = x line; a published range is an error bar; misses in red. Returns the points."""
    # log axes: a case with a non-positive figure cannot be placed (none of ours has one)
    drawn = [(c, _published_point(c)) for c in cases if (c.get("simulated") or 0) > 0]
    drawn = [(c, p) for c, p in drawn if p is not None and p[1] > 0]
    if not drawn:
        raise AccsimError("no case has both a published and a simulated value to plot")
    units = sorted({c.get("unit", "") for c, _ in drawn})
    plt = _pyplot()
    cols = min(3, len(units))
    rows = -(-len(units) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.4 * rows), squeeze=False)
    for ax, unit in zip(axes.flat, units):
        _parity_panel(ax, [(c, p) for c, p in drawn if c.get("unit", "") == unit], unit)
    for ax in list(axes.flat)[len(units):]:
        ax.set_visible(False)
    fig.suptitle(f"published vs simulated: {sum(bool(c['within']) for c, _ in drawn)} of {len(drawn)} "
                 "within tolerance", fontsize=11)
    fig.tight_layout()
    _save(fig, out)
    plt.close(fig)
    return len(drawn)


def _parity_panel(ax: Any, drawn: list, unit: str) -> None:
    pub = np.array([p[0] for _, p in drawn])
    err = np.array([[p[0] - p[1] for _, p in drawn], [p[2] - p[0] for _, p in drawn]])
    sim = np.array([float(c["simulated"]) for c, _ in drawn])
    ok = np.array([bool(c["within"]) for c, _ in drawn])
    lo = min(min(p[1] for _, p in drawn), sim.min()) / 1.5
    hi = max(max(p[2] for _, p in drawn), sim.max()) * 1.5
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    for mask, colour, label in ((ok, "tab:green", "within tolerance"), (~ok, "tab:red", "miss")):
        if mask.any():
            ax.errorbar(pub[mask], sim[mask], xerr=err[:, mask], fmt="o", ms=4, color=colour,
                        ecolor=colour, elinewidth=1, capsize=2, label=label)
    for (c, _), x, y in zip(drawn, pub, sim):
        ax.annotate(c["id"], (x, y), fontsize=5, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_title(f"{unit} ({len(drawn)} cases)", fontsize=10)
    ax.set_xlabel(f"published [{unit}]")
    ax.set_ylabel(f"simulated [{unit}]")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")


def _save(fig, out: str | Path) -> None:
    """The figure, written atomically in the format its suffix names (png, svg, pdf)."""
    from accsim.files import open_output
    with open_output(out, binary=True) as fh:
        fig.savefig(fh, dpi=120, format=Path(out).suffix.lstrip(".").lower() or "png")
