"""Workloads: transformer model configs and the OpGraphs they become (no hardware here).

Names load on first use (``accsim.workloads.build_graph`` imports networkx then), so that a
light module such as ``accsim.workloads.smoke`` costs nothing at start-up.
"""
_NAMES = {"OP_KINDS": "graph", "Op": "graph", "OpGraph": "graph", "Parallelism": "graph", "Phase": "graph",
          "Tensor": "graph", "build_graph": "graph", "ModelConfig": "model", "load_model": "model",
          "model_names": "model"}


def __getattr__(name: str):
    if name in _NAMES:
        import importlib
        return getattr(importlib.import_module(f"accsim.workloads.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'accsim.workloads' has no attribute {name!r}")


__all__ = list(_NAMES)
