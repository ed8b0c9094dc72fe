"""Memory traces as numpy arrays, read and written by the compiled ``accsim.core._trace``."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from accsim.core import _trace
from accsim.core.errors import TraceFormatError
from accsim.core.limits import require_memory

FORMATS = _trace.FORMATS
MIN_LINE_BYTES = 5           # the shortest request line: "LD 0\n"
_FORMAT_ALIASES = {"ramulator": "ldst", "ramulator-timed": "timed", "dramsim3": "dramsim3",
                   "ldst": "ldst", "timed": "timed"}


@dataclass(frozen=True)
class Trace:
    """Requests in arrival order: byte address, write flag, arrival cycle (0 if untimed)."""

    addr: np.ndarray
    is_write: np.ndarray
    cycle: np.ndarray

    def __len__(self) -> int:
        return int(self.addr.shape[0])

    @property
    def n_reads(self) -> int:
        return int(len(self) - np.count_nonzero(self.is_write))


def detect_format(data: bytes) -> str | None:
    """Guess the format from the first request line (None: the text holds none)."""
    for line in data.splitlines():
        words = line.split()
        if not words or words[0].startswith(b"#"):
            continue
        if words[0] in (b"LD", b"ST"):
            return "ldst"
        if len(words) > 1 and words[1] in (b"READ", b"WRITE"):
            return "dramsim3"
        if len(words) > 1 and words[1] in (b"R", b"W"):
            return "timed"
        return "ldst"
    return None


def canonical_format(fmt: str) -> str:
    try:
        return _FORMAT_ALIASES[fmt]
    except KeyError:
        raise TraceFormatError(f"unknown trace format '{fmt}': expected one of "
                               f"{', '.join(sorted(_FORMAT_ALIASES))} or auto") from None


def read_trace(path: str | Path, fmt: str = "auto") -> Trace:
    """Read a trace file; a malformed line raises TraceFormatError naming file and line."""
    path = Path(path)
    fmt = fmt if fmt == "auto" else canonical_format(fmt)
    try:
        _require_regular_file(path)
        size = path.stat().st_size
        # the text, then per line an address, a flag and a cycle (17 bytes), built then trimmed
        require_memory(f"trace {path} ({size:,} bytes)", size + (size // MIN_LINE_BYTES + 1) * 34,
                       "split the trace")
        data = path.read_bytes()
    except OSError as exc:
        raise TraceFormatError(f"{path}: cannot read trace: {exc.strerror}") from None
    trace = _parse(data, (detect_format(data) or "ldst") if fmt == "auto" else fmt, path)
    if len(trace) == 0:
        raise _no_requests(path)
    return trace


def _require_regular_file(path: Path) -> None:
    if path.exists() and not path.is_file():      # a FIFO or /dev/zero would be read forever
        raise TraceFormatError(f"{path}: not a regular file; a trace is a text file")


def _parse(text: bytes, fmt: str, path: Path, first_line: int = 1, previous_cycle: int = 0) -> Trace:
    """Trace text (whole lines) as a Trace; a malformed line is a TraceFormatError."""
    try:
        addr, is_write, cycle = _trace.parse_trace(text, fmt, str(path), first_line, previous_cycle)
    except ValueError as exc:
        raise TraceFormatError(str(exc)) from None
    return Trace(addr, is_write.astype(bool), cycle)


def _no_requests(path: Path) -> TraceFormatError:
    return TraceFormatError(f"{path}: no requests (the trace is empty or holds only comments); "
                            "a trace needs at least one request line")


CHUNK_BYTES = 4 << 20        # a streamed trace is parsed this much text at a time (~300k requests)


def iter_trace(path: str | Path, fmt: str = "auto", chunk_bytes: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> Iterator[Trace]:
    """A trace file in consecutive pieces of whole lines, each a Trace (memory follows the piece,
    not the file; ``chunk_bytes`` of text a piece, CHUNK_BYTES unless given); errors name the
    file and the line as ``read_trace`` does. ``progress(MiB read, MiB in the file)`` is called
    as the file is read."""
    path = Path(path)
    fmt = fmt if fmt == "auto" else canonical_format(fmt)
    try:
        _require_regular_file(path)
        stream = path.open("rb")
    except OSError as exc:
        raise TraceFormatError(f"{path}: cannot read trace: {exc.strerror}") from None
    with stream:
        yield from _pieces(stream, path, fmt, chunk_bytes or CHUNK_BYTES, progress or (lambda done, total: None))


def _pieces(stream: BinaryIO, path: Path, fmt: str, chunk_bytes: int,
            progress: Callable[[int, int], None]) -> Iterator[Trace]:
    line, cycle, requests, rest = 1, 0, 0, b""
    size_MiB = -(-path.stat().st_size // (1 << 20))
    while True:
        try:
            block = stream.read(chunk_bytes)
        except OSError as exc:
            raise TraceFormatError(f"{path}: cannot read trace: {exc.strerror}") from None
        progress(min(stream.tell() >> 20, size_MiB), size_MiB)
        text = rest + block
        cut = text.rfind(b"\n") + 1 if block else len(text)     # whole lines; all that is left at the end
        text, rest = text[:cut], text[cut:]
        if fmt == "auto":          # decided by the first request line, wherever it falls
            fmt = detect_format(text) or ("auto" if block else "ldst")
        if text and fmt != "auto":
            piece = _parse(text, fmt, path, line, cycle)
            if len(piece):
                cycle = int(piece.cycle[-1])
                requests += len(piece)
                yield piece
        line += text.count(b"\n")
        if not block:
            break
    if requests == 0:
        raise _no_requests(path)


def write_trace(path: str | Path, trace: Trace, fmt: str) -> None:
    """Write a trace; the file appears only once it is complete."""
    from accsim.core.files import write_atomic
    write_atomic(path, _trace.format_trace(trace.addr, trace.is_write, trace.cycle, canonical_format(fmt)))
