"""Outputs appear only once complete, never destroy what the path points at, and fail clearly."""
import os
import stat
import subprocess
import sys

import pytest

from accsim.cli import main
from accsim.core.files import OutputError, check_output, open_output, write_atomic

pytestmark = pytest.mark.unit


def test_missing_folder_is_a_clear_error_and_nothing_is_written(tmp_path, capsys):
    with pytest.raises(OutputError, match="does not exist; create it"):
        write_atomic(tmp_path / "no" / "such" / "stats.json", "{}")
    assert main(["run", "--gen", "2", "--quiet", "--json", str(tmp_path / "no" / "s.json")]) == 2
    assert "--json" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_a_failed_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with open_output(target) as fh:
            fh.write("half")
            raise RuntimeError("writer died")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_concurrent_writers_never_share_a_temporary(tmp_path):
    target = tmp_path / "out.txt"
    with open_output(target) as a, open_output(target) as b:
        assert a.name != b.name
        a.write("a")
        b.write("b")
    assert target.read_text() == "a"        # the last to finish wins, whole


def test_a_symlink_is_written_through_and_kept(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_the_old_files_mode_is_kept(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    target.chmod(0o640)
    write_atomic(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_text() == "new"


def test_dash_is_standard_output(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_atomic("-", "hello\n")
    assert capsys.readouterr().out == "hello\n" and not (tmp_path / "-").exists()


@pytest.mark.parametrize("make", ["device", "fifo", "folder"])
def test_a_device_fifo_or_folder_is_refused_and_left_alone(tmp_path, make):
    path = {"device": lambda: os.devnull, "fifo": lambda: (os.mkfifo(tmp_path / "f"), tmp_path / "f")[1],
            "folder": lambda: tmp_path}[make]()
    before = os.stat(path).st_mode
    with pytest.raises(OutputError, match="FIFO|device|folder"):
        write_atomic(path, "x")
    assert os.stat(path).st_mode == before


def test_a_read_only_file_is_refused(tmp_path):
    target = tmp_path / "ro.txt"
    target.write_text("keep")
    target.chmod(0o444)
    if os.access(target, os.W_OK):
        pytest.skip("running as root: permission bits do not bind")
    with pytest.raises(OutputError, match="read-only"):
        check_output(target)


def test_a_full_disk_or_size_limit_is_one_line_and_leaves_nothing(tmp_path):
    """A file-size limit (RLIMIT_FSIZE) makes the write fail with EFBIG, as a full disk does."""
    target = tmp_path / "stats.json"
    target.write_text("old")
    code = ("import resource, sys; from accsim.cli import main; "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000)); "
            f"sys.exit(main(['run', '--gen', '2', '--quiet', '--json', {str(target)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "cannot write" in proc.stderr and "stats.json" in proc.stderr
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["stats.json"]
