"""Outputs appear only once complete, never destroy what the path points at, and fail clearly."""
import os
import stat

import pytest

from accsim.cli import main
from accsim.files import OutputError, atomic_output, write_atomic

pytestmark = pytest.mark.unit


def test_missing_folder_is_a_clear_error_and_nothing_is_written(tmp_path):
    with pytest.raises(OutputError, match="does not exist; create it"):
        write_atomic(tmp_path / "no" / "such" / "stats.json", "{}")
    assert main(["run", "--gen", "2", "--quiet", "--json", str(tmp_path / "no" / "s.json")]) == 1


def test_a_failed_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer died")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_concurrent_writers_never_share_a_temporary(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_output(target) as a, atomic_output(target) as b:
        assert a != b
        a.write_text("a")
        b.write_text("b")
    assert target.read_text() == "a"        # the last to finish wins, whole


def test_a_symlink_is_followed_and_kept(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_a_device_is_written_in_place_never_replaced():
    write_atomic(os.devnull, "discarded")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
