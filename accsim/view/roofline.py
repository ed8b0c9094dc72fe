"""Roofline views of a run: each op kind placed by its arithmetic intensity (the graph's FLOPs
over the bytes its ops read and write) and the rate it achieved (its FLOPs over its exposed
time: the time it added to the step), under the roofs of the device the step ran on (each
family says which engines and memories bound it: ``Family.roofs``).

Exposed time, not busy time, is the denominator because busy time adds up parallel units
(cores, channels, PCUs): FLOPs over exposed time is the rate at which a kind advanced the step,
comparable with the whole device's peak. A kind hidden under other work (no exposed time) has
no place on the chart and is listed instead. The intensity is the graph's: every op reading its
inputs and writing its outputs. So a point above a roof is a finding, not an error: the kind
overlapped other work (part of its time is hidden), or its mapping moved fewer bytes than its
ops name (fused attention keeps the scores on chip; an epilogue never writes its input back).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping

from accsim.core.errors import AccsimError
from accsim.core.registry import Roof
from accsim.view.plots import PHASES


def machine_roofs(preset: Any, model: Any) -> list[dict[str, float | str]]:
    """The roofs a preset's family declares for a model's number format (none if it declares none)."""
    from accsim.core.registry import families
    family = families().get(preset.family)
    return [asdict(r) for r in family.roofs(preset.spec, model)] if family.roofs else []


def roof_points(stats: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """(points, hidden kinds) of a run's stats: a point per phase and op kind with FLOPs, bytes
    and exposed time; hidden lists the kinds with work but no exposed time."""
    points, hidden = [], []
    for phase in PHASES:
        for kind, v in (stats.get(phase) or {}).get("by_op_kind", {}).items():
            flops, nbytes, exposed_s = v.get("flops", 0), v.get("bytes", 0), v.get("exposed_s", 0)
            if flops <= 0 or nbytes <= 0:
                continue
            if exposed_s <= 0:
                hidden.append(f"{phase} {kind}")
                continue
            points.append({"phase": phase, "kind": kind, "intensity": flops / nbytes,
                           "achieved_flops_per_s": flops / exposed_s, "flops": flops, "bytes": nbytes})
    return points, hidden


def _roofs(payload: Mapping[str, Any]) -> list[Roof]:
    return [Roof(**r) for r in payload.get("roofs", [])]


def _intensity_range(points: list[dict], roofs: list[Roof]) -> tuple[float, float]:
    xs = [p["intensity"] for p in points] + [r.ridge_flops_per_byte for r in roofs]
    return min(xs) / 4, max(xs) * 4


def _roof_line(roof: Roof, lo: float, hi: float) -> tuple[list[float], list[float]]:
    xs = sorted({lo, min(max(roof.ridge_flops_per_byte, lo), hi), hi})
    return xs, [roof.attainable_flops_per_s(x) for x in xs]


def _title(payload: Mapping[str, Any]) -> str:
    sc = payload["stats"]["scenario"]
    return f"roofline: {sc['model']} on {sc['arch']} ({sc['dtype']}), per device"


def roofline_figure(payload: Mapping[str, Any]) -> Any | None:
    """A plotly roofline of an ``accsim run --json`` payload (None when it has no point)."""
    import plotly.graph_objects as go
    points, hidden = roof_points(payload["stats"])
    if not points:
        return None
    roofs = _roofs(payload)
    lo, hi = _intensity_range(points, roofs)
    fig = go.Figure()
    for roof in roofs:
        xs, ys = _roof_line(roof, lo, hi)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"roof: {roof.name}", line=dict(dash="dash")))
    for phase, symbol in zip(PHASES, ("circle", "diamond")):
        mine = [p for p in points if p["phase"] == phase]
        if mine:
            fig.add_trace(go.Scatter(
                x=[p["intensity"] for p in mine], y=[p["achieved_flops_per_s"] for p in mine],
                mode="markers+text", name=phase, text=[p["kind"] for p in mine], textposition="top center",
                marker=dict(size=10, symbol=symbol),
                hovertemplate="%{text}<br>%{x:.3g} FLOP/B<br>%{y:.3g} FLOP/s<extra>" + phase + "</extra>"))
    fig.update_layout(title=_title(payload), xaxis_type="log", yaxis_type="log", height=560,
                      xaxis_title="arithmetic intensity [FLOP/byte]",
                      yaxis_title="achieved [FLOP/s] (FLOPs / exposed time)")
    if hidden:
        fig.add_annotation(text="hidden under other work: " + ", ".join(hidden), showarrow=False,
                           xref="paper", yref="paper", x=0, y=-0.16, font=dict(size=10))
    return fig


def plot_roofline(stats_path: str | Path, out: str | Path) -> int:
    """The roofline of an ``accsim run --json`` file as a figure (png/svg/pdf); returns the points."""
    from accsim.view.palette import PHASES as PHASE_COLOURS
    from accsim.view.plots import place_labels, pyplot, read_run_payload, save_figure
    payload = read_run_payload(stats_path)
    points, hidden = roof_points(payload["stats"])
    if not points:
        raise AccsimError(f"{stats_path}: no op kind has FLOPs, bytes and exposed time (stats written by "
                          "an accsim older than the roofline view have no per-kind FLOPs; run again)")
    roofs = _roofs(payload)
    lo, hi = _intensity_range(points, roofs)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for i, roof in enumerate(roofs):
        ax.plot(*_roof_line(roof, lo, hi), "--", lw=1.5, color=("#000000", "#999933", "#882255")[i % 3],
                label=f"roof: {roof.name}")
    for phase, marker in zip(PHASES, ("o", "D")):
        mine = [p for p in points if p["phase"] == phase]
        if mine:
            ax.scatter([p["intensity"] for p in mine], [p["achieved_flops_per_s"] for p in mine],
                       marker=marker, s=30, label=phase, zorder=3, color=PHASE_COLOURS[phase])
    ax.set_xscale("log")
    ax.set_yscale("log")
    place_labels(ax, [p["intensity"] for p in points], [p["achieved_flops_per_s"] for p in points],
                 [p["kind"] for p in points])
    ax.set_xlabel("arithmetic intensity [FLOP/byte]")
    ax.set_ylabel("achieved [FLOP/s] (FLOPs / exposed time)")
    ax.set_title(_title(payload), fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if hidden:
        fig.text(0.01, 0.01, "hidden under other work: " + ", ".join(hidden), fontsize=7)
    fig.tight_layout()
    save_figure(fig, out)
    plt.close(fig)
    return len(points)
