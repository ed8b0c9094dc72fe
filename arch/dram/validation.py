"""Validation metrics the dram family adds (Family.metrics)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


def metric_dram_trace(scenario: Mapping[str, Any], tmp: Path) -> float:
    """A stat of a trace-driven DRAM run: a regenerated reference trace through a dram preset."""
    from accsim.arch.dram.patterns import make_trace
    from accsim.arch.dram.trace import simulate_trace
    from accsim.core.presets import resolve_preset

    config = resolve_preset(scenario["standard"]).spec.dram
    stats = simulate_trace(config, make_trace(scenario["trace"], int(scenario["requests"]))).stats
    return float(stats[scenario["stat"]])
