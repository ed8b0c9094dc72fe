"""Output files that appear only once complete: the one atomic-write helper of accsim.

``atomic_output(path)`` yields a temporary path in the target's folder (unique per writer,
so concurrent writers never share one) and moves it over the target only when the writer
finished; on any error the temporary file is removed and the target is left as it was.
A missing folder or an unwritable target is a user error naming the path, not a traceback.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from accsim.errors import AccsimError


class OutputError(AccsimError):
    """An output file that cannot be written where the user asked."""


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed onto ``path`` when the block completes.

    A symlink is followed (its target is replaced, the link kept); a target that is not a
    regular file (a device such as /dev/null, a FIFO) is written in place, never replaced.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        if path.is_dir():
            raise OutputError(f"{path}: is a folder; give a file name")
        yield path                    # a device or FIFO: nothing to make atomic, nothing to replace
        return
    if path.is_symlink():
        path = path.resolve()
    if not path.parent.is_dir():
        raise OutputError(f"{path}: folder {str(path.parent)!r} does not exist; create it or choose "
                          "another path")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write here ({exc.strerror})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror}); nothing was written") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write text or bytes so that ``path`` exists only once complete."""
    with atomic_output(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data)
    return Path(path)
