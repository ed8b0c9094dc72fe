"""Stats: nested results with units in every name, built from schedules and counters.

A ``Stats`` is an immutable nested mapping (``stats["decode.tpot_s"]`` reaches into it).
``step_stats`` builds the stats every family reports for one pass (the contract: latency, a
breakdown by op kind whose exposed times sum to the latency, per-unit busy time and
utilization); ``schedule_breakdown`` derives those parts from the schedule of one Program
(start/finish per task).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from accsim.core.errors import AccsimError


STALL = "stall"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


@dataclass(frozen=True)
class Schedule:
    """When every task of a Program ran: what a family's ``schedule()`` returns."""

    start: np.ndarray      # int64 cycles
    finish: np.ndarray     # int64 cycles (including any latency after the unit frees)
    busy: np.ndarray       # int64 cycles the task held its unit
    active: np.ndarray     # int64 cycles of useful work inside busy (for energy)
    lanes: np.ndarray      # lanes per unit
    clock_hz: float


class Stats(Mapping[str, Any]):
    """An immutable nested mapping of results; dotted keys reach into nested levels."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = _plain(data)

    @classmethod
    def _of_plain(cls, data: dict[str, Any]) -> "Stats":
        """A view of a nested level that is plain already (no second conversion: reading
        ``stats["by_op_kind"]`` in a loop over steps stays cheap)."""
        view = cls.__new__(cls)
        view._data = data
        return view

    def __getitem__(self, key: str) -> Any:
        node: Any = self._data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(key)
            node = node[part]
        return Stats._of_plain(node) if isinstance(node, dict) else node

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Stats({json.dumps(self._data, indent=1)[:400]}...)"

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._data))

    def to_pandas(self) -> Any:
        """The stats as a one-row pandas DataFrame, one column per dotted name (as sweeps store them)."""
        from accsim.core.optional import pandas_module
        return pandas_module("Stats.to_pandas").DataFrame([self.flat()])

    def flat(self, prefix: str = "") -> dict[str, Any]:
        """One level: {'decode.tpot_s': ..., ...} (what sweep tables store as columns)."""
        out: dict[str, Any] = {}

        def walk(node: Any, path: str) -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, f"{path}.{k}" if path else k)
            else:
                out[path] = node
        walk(self._data, prefix)
        return out


def _non_finite_paths(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _non_finite_paths(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite_paths(v, f"{prefix}{i}.")]
    return [f"{prefix.rstrip('.')} = {value}"] if isinstance(value, float) and not math.isfinite(value) else []


def write_json_atomic(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write JSON so that the file exists only once complete (no half-written results).

    JSON has no infinity or NaN: a non-finite figure is an error naming it, never a null."""
    from accsim.core.files import write_atomic
    plain = _plain(payload)
    bad = _non_finite_paths(plain)
    if bad:
        raise AccsimError(f"{path}: not written: non-finite figures ({', '.join(bad[:5])}); a field "
                          "of the configuration is probably 0 or out of its physical range")
    write_atomic(path, json.dumps(plain, indent=1, sort_keys=False, allow_nan=False))


class StepStats(Stats):
    """The stats of one simulated pass: what every family's ``simulate()`` returns.

    Built only by ``step_stats``, which checks the contract: ``latency_cycles`` of a named
    clock (``clock_hz``), ``latency_s``, ``energy_J``, ``by_op_kind`` ({kind: {"exposed_s",
    ...}}) whose exposed times sum to ``latency_s``, ``by_unit`` ({unit: {"busy_s", "util_pct"}}),
    then any family-specific figures.
    """


class ContractError(RuntimeError):
    """A family's step stats break the contract (a bug in the family, not the user's input)."""


def step_stats(*, latency_cycles: int, clock_hz: float, energy_J: float,
               by_op_kind: Mapping[str, Mapping[str, Any]], by_unit: Mapping[str, Mapping[str, Any]],
               offchip_bytes: int, **extra: Any) -> StepStats:
    """The one way to build a pass's stats; refuses a breakdown that does not sum to the latency.
    ``offchip_bytes``: what crossed the compute chips' pins in the pass, the whole system (memory
    traffic, host and peer links, storage), so systems of any family compare on data movement."""
    latency_s = latency_cycles / clock_hz
    problems = [f"by_op_kind.{k}: needs exposed_s" for k, v in by_op_kind.items() if "exposed_s" not in v]
    problems += [f"by_unit.{u}: needs busy_s and util_pct" for u, v in by_unit.items()
                 if not {"busy_s", "util_pct"} <= set(v)]
    exposed_s = sum(float(v.get("exposed_s", 0.0)) for v in by_op_kind.values())
    if not problems and abs(exposed_s - latency_s) > 1e-9 * max(latency_s, 1e-12):
        problems.append(f"by_op_kind exposed times sum to {exposed_s!r} s, not the latency {latency_s!r} s")
    if "latency_s" in extra:
        problems.append("latency_s is derived from latency_cycles / clock_hz; do not pass it")
    if offchip_bytes < 0:
        problems.append(f"offchip_bytes: {offchip_bytes} is negative")
    if latency_cycles < 0 or not clock_hz > 0:
        problems.append(f"bad latency or clock: {latency_cycles} cycles at {clock_hz} Hz")
    if problems:
        raise ContractError("step stats break the family contract: " + "; ".join(problems))
    return StepStats({"latency_cycles": int(latency_cycles), "clock_hz": clock_hz, "latency_s": latency_s,
                      "energy_J": energy_J, "by_op_kind": by_op_kind, "by_unit": by_unit,
                      "offchip_bytes": int(offchip_bytes), **extra})


def schedule_breakdown(program: Any, start: np.ndarray, finish: np.ndarray, busy: np.ndarray,
                       clock_hz: float, unit_lanes: np.ndarray | None = None) -> dict:
    """Latency, exact breakdowns and utilization of one scheduled Program: the keyword
    arguments of ``step_stats`` but the energy."""
    from accsim.core.engine import attribute_makespan, unit_busy_cycles   # numba: load on use
    exposed, stall = attribute_makespan(start, finish)
    makespan = int(finish.max()) if finish.size else 0
    kind_col, unit_col = program.column("kind"), program.column("unit")
    by_kind_cycles = np.bincount(kind_col, weights=exposed, minlength=len(program.kinds))
    by_kind_busy = np.bincount(kind_col, weights=busy, minlength=len(program.kinds))
    by_kind_count = np.bincount(kind_col, minlength=len(program.kinds))
    by_kind = {k: {"exposed_s": by_kind_cycles[i] / clock_hz, "busy_s": by_kind_busy[i] / clock_hz,
                   "tasks": int(by_kind_count[i])}
               for i, k in enumerate(program.kinds) if by_kind_count[i]}
    stall_cycles = int(stall.sum())
    if stall_cycles:
        by_kind[STALL] = {"exposed_s": stall_cycles / clock_hz, "busy_s": 0.0, "tasks": 0}
    lanes = np.ones(len(program.units), dtype=np.int64) if unit_lanes is None else unit_lanes
    unit_busy = unit_busy_cycles(unit_col, busy, len(program.units))
    by_unit = {u: {"busy_s": unit_busy[i] / clock_hz,
                   "util_pct": 100.0 * unit_busy[i] / (makespan * lanes[i]) if makespan else 0.0}
               for i, u in enumerate(program.units)}
    return {"latency_cycles": makespan, "clock_hz": clock_hz, "by_op_kind": by_kind, "by_unit": by_unit}
