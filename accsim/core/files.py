"""Output files that appear only once complete: the one output helper of accsim.

``open_output(path)`` yields a file object. ``-`` (or a path that is the process's standard
output, such as /dev/stdout) writes to standard output. Any other path is written to a
temporary file beside the target (unique per writer, so concurrent writers never share one)
that is renamed over the target only when the writer finished; a symlink's target is written
through (the link is kept). A folder, a device node, a FIFO or a socket is refused: renaming
over it would destroy it. Any I/O error (missing folder, full disk, file-size limit, no
permission) becomes one ``OutputError`` line naming the path; the temporary file is removed
and the old target is left untouched.

``check_output(path)`` runs the same checks up front, so that a command refuses a bad output
path before a long simulation rather than after it (the ``OUTPUT`` click parameter type).
"""
from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterator

import click

from accsim.core.errors import AccsimError

STDOUT = "-"


class OutputError(AccsimError):
    """An output file that cannot be written where the user asked."""


def _is_stdout(path: Path) -> bool:
    """Whether ``path`` names the very file this process's standard output is (/dev/stdout)."""
    try:
        target, out = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (target.st_dev, target.st_ino) == (out.st_dev, out.st_ino)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_output(path: str | Path) -> Path | None:
    """The regular file that writing ``path`` would replace, or None for standard output.

    Raises OutputError when the path cannot be an output (folder, device, FIFO, missing folder,
    read-only file or folder)."""
    if str(path) == STDOUT:
        return None
    if not str(path).strip():
        raise OutputError("an output path is empty; give a file name, or '-' for standard output")
    try:
        return _writable_target(Path(path))
    except (OSError, RuntimeError, ValueError) as exc:    # too long, a symlink loop, a NUL byte
        reason = getattr(exc, "strerror", None) or str(exc)
        raise OutputError(f"{path}: cannot be an output file ({reason})") from None


def _writable_target(path: Path) -> Path | None:
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    if path.exists() and not path.is_file():
        if _is_stdout(path):
            return None
        raise OutputError(f"{path}: is {_kind(os.stat(path).st_mode)}, not a regular file; give a "
                          "file name, or '-' for standard output")
    target = path.resolve(strict=False) if path.is_symlink() else path
    if not target.parent.is_dir():
        raise OutputError(f"{path}: folder '{target.parent}' does not exist; create it or choose "
                          "another path")
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(f"{path}: is read-only; choose another path or make it writable")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write into folder '{target.parent}' (permission denied)")
    return target


def _new_file_mode(target: Path) -> int:
    """The mode the output gets: the old file's, else what the umask gives a new file."""
    if target.exists():
        return stat.S_IMODE(os.stat(target).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def open_output(path: str | Path, binary: bool = False) -> Iterator[IO]:
    """A file object for ``path`` that replaces the target only once the block completes."""
    target = check_output(path)
    if target is None:
        stream = sys.stdout.buffer if binary else sys.stdout
        try:
            yield stream
            stream.flush()
        except BrokenPipeError:      # `accsim ... --json - | head`: the reader left; not an error
            sys.stdout = open(os.devnull, "w")
        return
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write here ({exc.strerror})") from None
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, _new_file_mode(target))
        with os.fdopen(fd, "wb" if binary else "w", newline=None if binary else "") as fh:
            yield fh
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc}); nothing was written, "
                          "the old file (if any) is unchanged") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write text or bytes so that ``path`` exists only once complete ('-': standard output)."""
    with open_output(path, binary=isinstance(data, bytes)) as fh:
        fh.write(data)


class OutputPath(click.ParamType):
    """A click parameter for an output file: checked when the command line is read (and its
    suffix, when the format follows from it)."""

    name = "FILE"

    def __init__(self, suffixes: tuple[str, ...] = ()) -> None:
        self.suffixes = suffixes

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            check_output(value)
        except OutputError as exc:
            self.fail(str(exc), param, ctx)
        suffix = Path(value).suffix.lstrip(".").lower()
        if self.suffixes and value != STDOUT and suffix not in self.suffixes:
            self.fail(f"{value}: the suffix names the format; use one of "
                      f"{', '.join('.' + s for s in self.suffixes)}", param, ctx)
        return value


OUTPUT = OutputPath()
FIGURE_OUTPUT = OutputPath(("png", "svg", "pdf"))
