"""The contract every bad input is held to: a non-zero exit, ``error: ...`` lines only (one
unless the case says otherwise) naming the field or file, the expected words, no traceback,
no over-long or raw-control-character line, and no file created, changed or removed."""
import hashlib
import os
import stat
from pathlib import Path

import pytest

from accsim.cli import main
from accsim.core.errors import MAX_MESSAGE_CHARS

MAX_LINE_CHARS = len("error: ") + MAX_MESSAGE_CHARS + len("... (99999999 more characters)")


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (symlinks not followed): kind, and content digest and mode for
    regular files (an output written in place or replaced shows in either)."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = os.lstat(path)
            digest = hashlib.sha1(path.read_bytes()).hexdigest() if stat.S_ISREG(info.st_mode) else ""
            seen[str(path.relative_to(root))] = (stat.S_IFMT(info.st_mode), info.st_mode, digest,
                                                 os.readlink(path) if stat.S_ISLNK(info.st_mode) else "")
    return seen


def write_files(root: Path, files: dict) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


@pytest.fixture
def refused(tmp_path, capsys, monkeypatch):
    """``refused(argv, expect, files={}, lines=1)``: run the CLI on ``argv`` in a fresh folder
    holding ``files`` and check the bad-input contract; return the error text."""
    monkeypatch.chdir(tmp_path)

    def check(argv: list[str], expect: str | tuple[str, ...], files: dict | None = None,
              lines: int | None = 1) -> str:
        write_files(tmp_path, files or {})
        before = snapshot(tmp_path)
        capsys.readouterr()
        code = main(argv)
        err = capsys.readouterr().err
        assert code not in (0, None), f"accepted: {argv}"
        error_lines = err.splitlines()
        assert error_lines and all(line.startswith("error: ") for line in error_lines), err
        assert "Traceback" not in err
        if lines is not None:
            assert len(error_lines) == lines, err
        assert all(len(line) <= MAX_LINE_CHARS and line.isprintable() for line in error_lines), err
        for word in (expect,) if isinstance(expect, str) else expect:
            assert word in err, f"{word!r} not in {err!r}"
        assert snapshot(tmp_path) == before, "a refused command changed the folder"
        return err
    return check
