"""The Program IR: what a mapper emits and an arch model runs.

A Program is a frozen struct of arrays. Each task (row) has an ``op`` (index into the op
names of the graph it came from), a ``unit`` (index into the unit names), a ``kind`` (index
into the task-kind names) and any number of family-specific numeric columns (sizes, bytes,
addresses, cycle counts). Dependencies are in CSR form: the predecessors of task ``i`` are
``dep_idx[dep_ptr[i]:dep_ptr[i + 1]]``. Tasks are listed in topological order (every
dependency points to an earlier task), which makes acyclicity a local, cheap check.

Programs are checked when built and can be saved as ``.npz`` (arrays) + ``.json`` (names and
metadata), so mappers and models are tested apart.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from accsim.core.errors import ProgramError

INDEX_COLUMNS = {"op": np.int32, "unit": np.int32, "kind": np.int32}
ALLOWED_DTYPES = (np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.float64), np.dtype(np.bool_))
FORMAT_VERSION = 1


def _buffer(array: np.ndarray) -> memoryview:
    """The array's bytes without a copy (arrays of a Program are C-contiguous)."""
    return memoryview(np.ascontiguousarray(array)).cast("B")


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class Program:
    """A validated, immutable lowered program (see module docstring)."""

    family: str
    units: tuple[str, ...]
    kinds: tuple[str, ...]
    ops: tuple[str, ...]
    columns: Mapping[str, np.ndarray]
    dep_ptr: np.ndarray
    dep_idx: np.ndarray
    meta: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, *, family: str, units: Sequence[str], kinds: Sequence[str], ops: Sequence[str],
              columns: Mapping[str, np.ndarray], dep_ptr: np.ndarray, dep_idx: np.ndarray,
              meta: Mapping[str, Any] | None = None) -> "Program":
        """Validate every invariant and return a frozen Program, or raise ProgramError."""
        cols = {name: np.asarray(values) for name, values in columns.items()}
        dep_ptr, dep_idx = np.asarray(dep_ptr), np.asarray(dep_idx)
        problems = _check(units, kinds, ops, cols, dep_ptr, dep_idx)
        if problems:
            raise ProgramError("invalid Program:\n  " + "\n  ".join(problems))
        meta_json = json.loads(json.dumps(dict(meta or {})))  # JSON-able and detached
        return cls(family, tuple(units), tuple(kinds), tuple(ops),
                   MappingProxyType({k: _frozen(v) for k, v in cols.items()}),
                   _frozen(dep_ptr), _frozen(dep_idx), MappingProxyType(meta_json))

    @property
    def n_tasks(self) -> int:
        return int(self.columns["op"].shape[0])

    def column(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise ProgramError(f"Program has no column '{name}'; columns: "
                               f"{', '.join(self.columns)}") from None

    def successors(self) -> tuple[np.ndarray, np.ndarray]:
        """Successor lists in CSR form (succ_ptr int64, succ_idx int32), derived from the deps."""
        return successors_csr(self.dep_ptr, self.dep_idx)

    def digest(self) -> str:
        """SHA-256 over names, metadata and every array: equal programs, equal digests."""
        h = hashlib.sha256()
        h.update(json.dumps(self._header(), sort_keys=True).encode())
        for name in sorted(self.columns):
            h.update(name.encode())
            h.update(str(self.columns[name].dtype).encode())
            h.update(_buffer(self.columns[name]))
        h.update(_buffer(self.dep_ptr))
        h.update(_buffer(self.dep_idx))
        return h.hexdigest()

    def _header(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "family": self.family, "units": list(self.units),
                "kinds": list(self.kinds), "ops": list(self.ops), "meta": dict(self.meta)}

    def save(self, stem: str | Path) -> tuple[Path, Path]:
        """Write ``stem.npz`` and ``stem.json``; return both paths."""
        stem = Path(stem)
        npz_path, json_path = stem.with_suffix(".npz"), stem.with_suffix(".json")
        arrays = {f"col_{k}": v for k, v in self.columns.items()}
        from accsim.core.files import open_output, write_atomic
        with open_output(npz_path, binary=True) as fh:
            np.savez(fh, dep_ptr=self.dep_ptr, dep_idx=self.dep_idx, **arrays)
        write_atomic(json_path, json.dumps(self._header(), indent=1, sort_keys=True))
        return npz_path, json_path

    @classmethod
    def load(cls, stem: str | Path) -> "Program":
        stem = Path(stem)
        try:
            header = json.loads(stem.with_suffix(".json").read_text())
            with np.load(stem.with_suffix(".npz"), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            raise ProgramError(f"cannot load Program '{stem}': {exc}") from None
        if header.get("format_version") != FORMAT_VERSION:
            raise ProgramError(f"{stem}.json: format_version {header.get('format_version')!r}, "
                               f"expected {FORMAT_VERSION}")
        columns = {k[4:]: v for k, v in arrays.items() if k.startswith("col_")}
        return cls.build(family=header["family"], units=header["units"], kinds=header["kinds"],
                         ops=header["ops"], columns=columns, dep_ptr=arrays["dep_ptr"],
                         dep_idx=arrays["dep_idx"], meta=header["meta"])

    def summary_rows(self) -> list[tuple[str, int]]:
        """(unit, task count) per unit, for inspection."""
        counts = np.bincount(self.columns["unit"], minlength=len(self.units))
        return [(u, int(c)) for u, c in zip(self.units, counts)]


def successors_csr(dep_ptr: np.ndarray, dep_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invert predecessor lists (CSR) into successor lists (succ_ptr int64, succ_idx int32)."""
    n = dep_ptr.shape[0] - 1
    dst = np.repeat(np.arange(n, dtype=np.int32), np.diff(dep_ptr))
    succ_idx = dst[np.argsort(dep_idx, kind="stable")].astype(np.int32)
    succ_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(dep_idx, minlength=n), out=succ_ptr[1:])
    return succ_ptr, succ_idx


def _check(units: Sequence[str], kinds: Sequence[str], ops: Sequence[str],
           cols: Mapping[str, np.ndarray], dep_ptr: np.ndarray, dep_idx: np.ndarray) -> list[str]:
    problems: list[str] = []
    for name, dtype in INDEX_COLUMNS.items():
        if name not in cols:
            problems.append(f"missing required column '{name}'")
        elif cols[name].dtype != dtype:
            problems.append(f"column '{name}': dtype {cols[name].dtype}, expected {np.dtype(dtype)}")
    if problems:
        return problems
    n = cols["op"].shape[0]
    for name, values in cols.items():
        if values.ndim != 1 or values.shape[0] != n:
            problems.append(f"column '{name}': shape {values.shape}, expected ({n},)")
        elif values.dtype not in ALLOWED_DTYPES:
            problems.append(f"column '{name}': dtype {values.dtype} not one of "
                            f"{', '.join(str(d) for d in ALLOWED_DTYPES)}")
        elif values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            problems.append(f"column '{name}': non-finite values at tasks "
                            f"{np.flatnonzero(~np.isfinite(values))[:5].tolist()}")
        elif values.dtype.kind in "if" and n and values.min() < 0:
            problems.append(f"column '{name}': negative value {values.min()} at task "
                            f"{int(np.argmin(values))}")
    if problems:
        return problems
    for name, names in (("op", ops), ("unit", units), ("kind", kinds)):
        if n and cols[name].max() >= len(names):
            problems.append(f"column '{name}': index {cols[name].max()} out of range "
                            f"(only {len(names)} {name} names)")
    problems += _check_deps(n, dep_ptr, dep_idx)
    return problems


def _check_deps(n: int, dep_ptr: np.ndarray, dep_idx: np.ndarray) -> list[str]:
    if dep_ptr.dtype != np.int64 or dep_idx.dtype != np.int32:
        return [f"deps: dtypes (dep_ptr {dep_ptr.dtype}, dep_idx {dep_idx.dtype}), expected (int64, int32)"]
    if dep_ptr.shape != (n + 1,) or dep_ptr[0] != 0 or dep_ptr[-1] != dep_idx.shape[0]:
        return [f"deps: dep_ptr must have {n + 1} entries from 0 to len(dep_idx)={dep_idx.shape[0]}"]
    if np.any(np.diff(dep_ptr) < 0):
        return ["deps: dep_ptr must be non-decreasing"]
    owner = np.repeat(np.arange(n), np.diff(dep_ptr))
    bad = np.flatnonzero((dep_idx < 0) | (dep_idx >= owner))
    if bad.size:
        i = int(bad[0])
        return [f"deps: task {owner[i]} depends on task {dep_idx[i]}, which is not an earlier task "
                f"(tasks must be in topological order; a cycle or a bad index)"]
    return []


class ProgramBuilder:
    """Appends tasks one at a time (at op granularity) and builds a Program."""

    def __init__(self, family: str, units: Sequence[str], kinds: Sequence[str],
                 column_dtypes: Mapping[str, Any]) -> None:
        self.family = family
        self.units = list(units)
        self.kinds = list(kinds)
        self._unit_index = {u: i for i, u in enumerate(units)}
        self._kind_index = {k: i for i, k in enumerate(kinds)}
        self._ops: list[str] = []
        self._op_index: dict[str, int] = {}
        self._dtypes = dict(column_dtypes)
        self._rows: dict[str, list] = {k: [] for k in ("op", "unit", "kind", *self._dtypes)}
        self._deps: list[Iterable[int]] = []

    def add(self, op: str, unit: str, kind: str, deps: Iterable[int] = (), **values: Any) -> int:
        """Append one task; return its index. Every declared column must be given."""
        if op not in self._op_index:
            self._op_index[op] = len(self._ops)
            self._ops.append(op)
        self._rows["op"].append(self._op_index[op])
        self._rows["unit"].append(self._unit_index[unit])
        self._rows["kind"].append(self._kind_index[kind])
        for name in self._dtypes:
            self._rows[name].append(values.pop(name))
        if values:
            raise ProgramError(f"undeclared columns {sorted(values)} for task of op '{op}'")
        self._deps.append(sorted(set(deps)))
        return len(self._deps) - 1

    def build(self, meta: Mapping[str, Any] | None = None) -> Program:
        columns = {k: np.asarray(v, dtype=INDEX_COLUMNS[k]) for k, v in self._rows.items()
                   if k in INDEX_COLUMNS}
        columns.update({k: np.asarray(self._rows[k], dtype=dt) for k, dt in self._dtypes.items()})
        counts = np.array([len(d) for d in self._deps], dtype=np.int64)
        dep_ptr = np.zeros(len(self._deps) + 1, dtype=np.int64)
        np.cumsum(counts, out=dep_ptr[1:])
        dep_idx = np.fromiter((j for d in self._deps for j in d), dtype=np.int32, count=int(counts.sum()))
        return Program.build(family=self.family, units=self.units, kinds=self.kinds, ops=self._ops,
                             columns=columns, dep_ptr=dep_ptr, dep_idx=dep_idx, meta=meta)
