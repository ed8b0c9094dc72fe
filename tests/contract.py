"""Assertions of the family contract that several test modules share."""
import json
from pathlib import Path
from typing import Any, Mapping

import pytest


def assert_breakdown_sums(stats: Mapping[str, Any], rel: float = 1e-9) -> None:
    """The exposed times by op kind add up to the latency (prefill + decode, or one step)."""
    parts = sum(v["exposed_s"] for v in stats["by_op_kind"].values())
    assert parts == pytest.approx(stats["latency_s"], rel=rel), \
        f"by_op_kind sums to {parts} s, latency is {stats['latency_s']} s"


def example_kwargs(example: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """A family example as accsim.run keyword arguments (an inline model becomes a config file)."""
    kwargs = dict(example)
    if isinstance(kwargs.get("model"), dict):
        path = folder / "model.json"
        path.write_text(json.dumps(kwargs["model"]))
        kwargs["model"] = str(path)
    return kwargs
