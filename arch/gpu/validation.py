"""Validation metrics the gpu family adds (Family.metrics)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


def metric_eager_kernels_per_step(scenario: Mapping[str, Any], tmp: Path) -> float:
    """Kernels an eager framework launches for one decode step on a gpu-family preset."""
    from accsim.arch.gpu import kernels as K
    from accsim.core.presets import resolve_preset
    from accsim.core.registry import families, mapper
    from accsim.validation.metrics import model_path
    from accsim.workloads import Phase, build_graph, load_model

    model = load_model(model_path(scenario["model"], tmp, "model"))
    lower = mapper(families().get("gpu").mapper, "gpu").lower
    program = lower(build_graph(model, Phase.decode(scenario.get("batch", 1), scenario["context"])),
                    resolve_preset(scenario["arch"]).spec)
    launches = program.columns["task_class"] == K.LAUNCH
    return float(program.columns["n_kernels"][launches].sum())
