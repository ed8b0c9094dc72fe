"""Validation metrics the npu family adds (Family.metrics)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


def metric_gemm_cycles(scenario: Mapping[str, Any], tmp: Path) -> float:
    """Compute cycles of one GEMM on an npu systolic-array preset."""
    from accsim.arch.npu.systolic import simulate_gemm
    from accsim.presets import resolve_preset

    spec = resolve_preset(scenario["arch"]).spec
    return float(simulate_gemm(spec, scenario["m"], scenario["k"], scenario["n"],
                               scenario.get("dataflow"))["compute_cycles"])
