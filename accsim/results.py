"""Sweep results in an embedded SQLite database (WAL mode), and their export.

One row per point: its id, index, status, error text, wall time, then one column per axis
(named as the axis) and one per flat stat (``tpot_s``, ``by_op_kind.launch.exposed_s``, ...).
Columns appear as stats first appear; each row is committed the moment its point finishes.
"""
from __future__ import annotations

import csv
import datetime as _dt
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Mapping

from accsim.errors import AccsimError
from accsim.files import open_output

FIXED_COLUMNS = ("point_id", "idx", "status", "error", "elapsed_s", "finished_at")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ResultStore:
    """Append-only store of finished points; safe to reopen and resume."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.conn = sqlite3.connect(self.path, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS points (point_id TEXT PRIMARY KEY, idx INTEGER, "
                "status TEXT NOT NULL, error TEXT, elapsed_s REAL, finished_at TEXT)")
            self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self.conn.commit()
        except sqlite3.DatabaseError as exc:
            raise AccsimError(f"{self.path}: not a usable results database ({exc})") from None
        self._columns = self._existing_columns()

    def _existing_columns(self) -> list[str]:
        return [row[1] for row in self.conn.execute("PRAGMA table_info(points)")]

    def record_spec(self, raw_spec: Mapping[str, Any], axes: list[str]) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                              [("spec", json.dumps(raw_spec, sort_keys=True)), ("axes", json.dumps(axes))])
        for axis in axes:
            self._ensure_column(axis)
        self.conn.commit()

    def finished_ids(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT point_id FROM points")}

    def _ensure_column(self, name: str) -> None:
        if name not in self._columns:
            self.conn.execute(f"ALTER TABLE points ADD COLUMN {_quote(name)}")
            self._columns.append(name)

    def record(self, pid: str, index: int, point: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        values: dict[str, Any] = {"point_id": pid, "idx": index, "status": result["status"],
                                  "error": result["error"], "elapsed_s": result["elapsed_s"],
                                  "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat()}
        values.update(point)
        values.update(result["stats"])
        for name in values:
            self._ensure_column(name)
        cols = ", ".join(_quote(c) for c in values)
        marks = ", ".join("?" for _ in values)
        self.conn.execute(f"INSERT OR REPLACE INTO points ({cols}) VALUES ({marks})",
                          [_sql_value(v) for v in values.values()])
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


def _sql_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict, tuple)) else value


def read_table(path: str | Path) -> tuple[list[str], list[tuple]]:
    """(column names, rows ordered by point index) of a results database."""
    path = Path(path)
    if not path.exists():
        raise AccsimError(f"{path}: no such results database")
    conn = sqlite3.connect(path)
    try:
        cursor = conn.execute("SELECT * FROM points ORDER BY idx")
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchall()
    except sqlite3.DatabaseError as exc:
        raise AccsimError(f"{path}: not a results database ({exc})") from None
    finally:
        conn.close()


def read_axes(path: str | Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'axes'").fetchone()
        return json.loads(row[0]) if row else []
    finally:
        conn.close()


def export_csv(path: str | Path, out: str | Path) -> int:
    """Write the results table as CSV to ``out`` ("-": standard output); return the rows."""
    columns, rows = read_table(path)
    with open_output(out) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    return len(rows)


def export_parquet(path: str | Path, out: str | Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise AccsimError("--parquet needs pyarrow: pip install pyarrow") from None
    columns, rows = read_table(path)
    table = pa.table({c: _column_array(pa, [r[i] for r in rows]) for i, c in enumerate(columns)})
    with open_output(out, binary=True) as fh:
        pq.write_table(table, fh)
    return len(rows)


def _column_array(pa: Any, values: Iterable[Any]) -> Any:
    values = list(values)
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int, float} and float in kinds:
        values = [float(v) if v is not None else None for v in values]
    elif len(kinds) > 1:
        values = [str(v) if v is not None else None for v in values]
    return pa.array(values)
