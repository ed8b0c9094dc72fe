"""Sweep results in an embedded SQLite database (WAL mode), and their export.

One row per point: its id, index, status, error text, wall time, then one column per axis
(named as the axis) and one per flat stat (``tpot_s``, ``by_op_kind.launch.exposed_s``, ...).
Columns appear as stats first appear; each row is committed the moment its point finishes.
Table ``specs`` records every spec run into the database (its id, file, text and axes) and
``spec_points`` which points each holds, so results can be read back per spec.

Every write is one ``BEGIN IMMEDIATE`` transaction that re-reads the columns under the write
lock, so several sweeps can share one database: both finish, no row is lost or doubled.
"""
from __future__ import annotations

import csv
import datetime as _dt
import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

from accsim.core.errors import AccsimError
from accsim.core.files import open_output
from accsim.core.optional import pandas_module

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS points (point_id TEXT PRIMARY KEY, idx INTEGER, "
    "status TEXT NOT NULL, error TEXT, elapsed_s REAL, finished_at TEXT)",
    "CREATE TABLE IF NOT EXISTS specs (spec_id TEXT PRIMARY KEY, source TEXT, spec TEXT, "
    "axes TEXT, points INTEGER, recorded_at TEXT)",
    "CREATE TABLE IF NOT EXISTS spec_points (spec_id TEXT, point_id TEXT, idx INTEGER, "
    "PRIMARY KEY (spec_id, point_id))",
)
BUSY_TIMEOUT_S = 60
T = TypeVar("T")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


def _check_db_path(path: Path) -> None:
    try:
        _check_db_location(path)
    except (OSError, RuntimeError, ValueError) as exc:    # too long, a symlink loop, a NUL byte
        raise AccsimError(f"{path}: cannot be a database ({getattr(exc, 'strerror', None) or exc})") from None


def _check_db_location(path: Path) -> None:
    if path.is_dir():
        raise AccsimError(f"{path}: is a folder; give a database file name")
    if path.exists() and not path.is_file():
        raise AccsimError(f"{path}: is not a regular file; give a database file name")
    if not path.parent.is_dir():
        raise AccsimError(f"{path}: folder '{path.parent}' does not exist; create it or choose "
                          "another path")


class ResultStore:
    """Append-only store of finished points; safe to reopen, resume and share between sweeps."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _check_db_path(self.path)
        try:
            self.conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self._retry_locked(lambda: self.conn.execute("PRAGMA journal_mode=WAL"))
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._write(lambda: [self.conn.execute(statement) for statement in SCHEMA])
        except sqlite3.DatabaseError as exc:
            raise AccsimError(f"{self.path}: not a usable results database ({exc})") from None

    def _retry_locked(self, action: Callable[[], T]) -> T:
        """``action``, retried while another process holds a lock SQLite does not wait for
        (switching to WAL mode needs the database alone for a moment)."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _write(self, action: Callable[[], T]) -> T:
        """``action`` as one transaction holding the write lock from its start."""
        def transaction() -> T:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                result = action()
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            return result
        return self._retry_locked(transaction)

    def _ensure_columns(self, names: Iterable[str]) -> None:
        """Add missing columns; called inside a write transaction, so the list is current."""
        existing = {row[1] for row in self.conn.execute("PRAGMA table_info(points)")}
        for name in names:
            if name not in existing:
                self.conn.execute(f"ALTER TABLE points ADD COLUMN {_quote(name)}")
                existing.add(name)

    def record_spec(self, spec_id: str, source: str, raw_spec: Mapping[str, Any], axes: list[str],
                    points: list[tuple[str, int]]) -> None:
        """Record a spec and its points (id, index); a spec already recorded is left as it is."""
        def write() -> None:
            self.conn.execute("INSERT OR IGNORE INTO specs VALUES (?, ?, ?, ?, ?, ?)",
                              (spec_id, source, json.dumps(raw_spec, sort_keys=True, default=repr),
                               json.dumps(axes), len(points), _now()))
            self.conn.executemany("INSERT OR IGNORE INTO spec_points VALUES (?, ?, ?)",
                                  [(spec_id, pid, idx) for pid, idx in points])
            self._ensure_columns(axes)
        self._write(write)

    def status(self, pid: str) -> str | None:
        """The stored status of one point, None if it is not stored."""
        row = self.conn.execute("SELECT status FROM points WHERE point_id = ?", (pid,)).fetchone()
        return row[0] if row else None

    def stored_status(self) -> dict[str, str]:
        """point id -> status of every point stored."""
        return dict(self.conn.execute("SELECT point_id, status FROM points"))

    def record(self, pid: str, index: int, point: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        values: dict[str, Any] = {"point_id": pid, "idx": index, "status": result["status"],
                                  "error": result["error"], "elapsed_s": result["elapsed_s"],
                                  "finished_at": _now()}
        values.update(point)
        values.update(result["stats"])
        cols = ", ".join(_quote(c) for c in values)
        marks = ", ".join("?" for _ in values)

        def write() -> None:
            self._ensure_columns(values)
            self.conn.execute(f"INSERT OR REPLACE INTO points ({cols}) VALUES ({marks})",
                              [_sql_value(v) for v in values.values()])
        self._write(write)

    def close(self) -> None:
        self.conn.close()


def _sql_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict, tuple)) else value


def _open_existing(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    if not path.exists():
        raise AccsimError(f"{path}: no such results database")
    _check_db_path(path)
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)


def _query(path: str | Path, action: Callable[[sqlite3.Connection], T]) -> T:
    conn = _open_existing(path)
    try:
        return action(conn)
    except sqlite3.DatabaseError as exc:
        raise AccsimError(f"{path}: not a results database ({exc})") from None
    finally:
        conn.close()


def read_specs(path: str | Path) -> list[dict[str, Any]]:
    """The specs a database holds, oldest first: id, source, the spec itself (its mapping as
    the sweep read it), axes, points, ok, failed."""
    def specs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        if not conn.execute("SELECT name FROM sqlite_master WHERE name = 'specs'").fetchone():
            return []
        rows = conn.execute(
            "SELECT s.spec_id, s.source, s.axes, s.points, s.recorded_at, s.spec, "
            "SUM(p.status = 'ok'), SUM(p.status IS NOT NULL AND p.status != 'ok') FROM specs s "
            "LEFT JOIN spec_points sp ON sp.spec_id = s.spec_id "
            "LEFT JOIN points p ON p.point_id = sp.point_id "
            "GROUP BY s.spec_id ORDER BY s.recorded_at, s.spec_id").fetchall()
        return [{"spec_id": r[0], "source": r[1], "spec": json.loads(r[5]) if r[5] else {},
                 "axes": json.loads(r[2]), "points": r[3], "recorded_at": r[4], "ok": r[6] or 0,
                 "failed": r[7] or 0} for r in rows]
    return _query(path, specs)


def resolve_spec_id(path: str | Path, wanted: str) -> str:
    """A spec id from a unique prefix, or 'latest'; an error listing the specs otherwise."""
    specs = read_specs(path)
    ids = [s["spec_id"] for s in specs]
    matches = ids[-1:] if wanted == "latest" else [i for i in ids if i.startswith(wanted)]
    if len(matches) != 1:
        held = ", ".join(f"{s['spec_id']} ({s['source']})" for s in specs) or "none"
        what = "matches several specs" if matches else "matches no spec"
        raise AccsimError(f"--spec {wanted}: {what}; the database holds: {held}")
    return matches[0]


def read_table(path: str | Path, spec_id: str | None = None) -> tuple[list[str], list[tuple]]:
    """(column names, rows ordered by point index) of a results database, or of one spec's
    points (``spec_id``)."""
    def table(conn: sqlite3.Connection) -> tuple[list[str], list[tuple]]:
        if spec_id is None:
            cursor = conn.execute("SELECT * FROM points ORDER BY idx, point_id")
        else:
            cursor = conn.execute("SELECT p.* FROM points p JOIN spec_points sp ON "
                                  "sp.point_id = p.point_id WHERE sp.spec_id = ? ORDER BY sp.idx",
                                  (spec_id,))
        return [d[0] for d in cursor.description], cursor.fetchall()
    return _query(path, table)


def read_axes(path: str | Path) -> list[str]:
    """Every axis of every spec the database holds, in first-seen order."""
    return list(dict.fromkeys(a for spec in read_specs(path) for a in spec["axes"]))


def failure_reasons(columns: list[str], rows: list[tuple]) -> list[tuple[str, int, str]]:
    """(reason, count, example point id) for the failed points, most frequent first; the reason
    is the error's last line (a traceback's is the exception), shown as its first instance."""
    status_at, error_at, id_at = (columns.index(c) for c in ("status", "error", "point_id"))
    groups: dict[str, tuple[str, list[str]]] = {}
    for row in rows:
        if row[status_at] != "ok":
            lines = [line for line in str(row[error_at] or "no message").splitlines() if line.strip()]
            reason = f"{row[status_at]}: {lines[-1] if lines else 'no message'}"
            # messages that differ only in their numbers (the point's values) are one reason
            shape = re.sub(r"\d+(\.\d+)?", "#", reason)
            groups.setdefault(shape, (reason, []))[1].append(row[id_at])
    return sorted(((r, len(ids), ids[0]) for r, ids in groups.values()), key=lambda g: (-g[1], g[0]))


def load(db: str | Path, spec: str | None = None) -> Any:
    """The results table as a pandas DataFrame, one row per point (``spec``: only that spec's
    points, an id prefix or 'latest'); ``frame.attrs`` holds the database's axes and specs."""
    pd = pandas_module("accsim.results.load")
    spec_id = resolve_spec_id(db, spec) if spec is not None else None
    columns, rows = read_table(db, spec_id)
    frame = pd.DataFrame.from_records(rows, columns=columns)
    frame.attrs.update(axes=read_axes(db), specs=read_specs(db))
    return frame


def export_csv(path: str | Path, out: str | Path, spec_id: str | None = None) -> int:
    """Write the results table as CSV to ``out`` ("-": standard output); return the rows."""
    columns, rows = read_table(path, spec_id)
    with open_output(out) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    return len(rows)


def export_parquet(path: str | Path, out: str | Path, spec_id: str | None = None) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise AccsimError("--parquet needs pyarrow: pip install pyarrow") from None
    columns, rows = read_table(path, spec_id)
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
