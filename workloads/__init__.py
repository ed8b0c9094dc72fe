"""Workloads: transformer model configs and the OpGraphs they become (no hardware here)."""
from accsim.workloads.graph import OP_KINDS, Op, OpGraph, Parallelism, Phase, Tensor, build_graph
from accsim.workloads.model import ModelConfig, load_model, model_names

__all__ = ["OP_KINDS", "Op", "OpGraph", "Parallelism", "Phase", "Tensor", "build_graph",
           "ModelConfig", "load_model", "model_names"]
