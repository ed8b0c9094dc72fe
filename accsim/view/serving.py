"""The figure of an ``accsim serve`` run: batch, queue and KV occupancy over time, and the TTFT and
TPOT distributions against their SLOs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from accsim.serving.engine import Outcome
from accsim.serving.metrics import per_request
from accsim.view.plots import pyplot, save_figure


def plot_serving(path: str | Path, outcome: Outcome, figures: dict) -> None:
    """Batch, waiting requests and KV use over time; TTFT and TPOT distributions."""
    plt = pyplot()
    s = outcome.series
    rows = per_request(outcome)
    fig, axes = plt.subplots(2, 2, figsize=(12, 7), constrained_layout=True)
    t = s["end_s"]
    axes[0, 0].step(t, s["batch"], where="pre", label="sequences in the batch")
    axes[0, 0].step(t, s["waiting"], where="pre", label="requests waiting")
    axes[0, 0].set(xlabel="time [s]", ylabel="requests", title="batch and queue")
    axes[0, 0].legend()
    axes[0, 1].step(t, 100.0 * s["kv_blocks"] / max(1, outcome.capacity_blocks), where="pre")
    axes[0, 1].set(xlabel="time [s]", ylabel="KV cache in use [%]", title="paged KV occupancy", ylim=(0, 105))
    for ax, name, label in ((axes[1, 0], "ttft_s", "TTFT"), (axes[1, 1], "tpot_s", "TPOT")):
        values = np.sort(rows[name][np.isfinite(rows[name])]) * 1e3
        if values.size:
            ax.plot(values, np.arange(1, values.size + 1) / values.size)
            slo = figures["slo"][name]
            if slo is not None:
                ax.axvline(slo * 1e3, color="#D55E00", linestyle="--", label=f"SLO {slo * 1e3:g} ms")
                ax.legend()
        ax.set(xlabel=f"{label} [ms]", ylabel="fraction of requests", title=f"{label} distribution (CDF)")
    fig.suptitle(f"{outcome.policy.name} batching: {len(outcome.requests)} requests")
    save_figure(fig, path)
    plt.close(fig)
