"""Cython trace reader/writer: round trips and malformed lines."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accsim.core.errors import TraceFormatError
from accsim.core.traces import Trace, read_trace, write_trace

pytestmark = pytest.mark.unit

requests = st.lists(st.tuples(st.integers(0, 2**63 - 1), st.booleans(), st.integers(0, 2**40)),
                    min_size=1, max_size=50)   # an empty trace is refused (tests/badinput)


def to_trace(reqs, timed=True):
    reqs = sorted(reqs, key=lambda r: r[2])
    addr = np.array([r[0] for r in reqs], dtype=np.int64)
    wr = np.array([r[1] for r in reqs], dtype=bool)
    cyc = np.array([r[2] if timed else 0 for r in reqs], dtype=np.int64)
    return Trace(addr, wr, cyc)


@settings(max_examples=60, deadline=None)
@given(requests, st.sampled_from(["ldst", "timed", "dramsim3"]))
def test_round_trip(tmp_path_factory, reqs, fmt):
    trace = to_trace(reqs, timed=fmt != "ldst")
    path = tmp_path_factory.mktemp("t") / f"x.{fmt}"
    write_trace(path, trace, fmt)
    back = read_trace(path, fmt)
    np.testing.assert_array_equal(back.addr, trace.addr)
    np.testing.assert_array_equal(back.is_write, trace.is_write)
    np.testing.assert_array_equal(back.cycle, trace.cycle)


def test_reads_peer_formats_and_autodetects(tmp_path):
    (tmp_path / "a.trace").write_text("# comment\nLD 0x40\n\nST 0x80\nLD 192\n")
    (tmp_path / "b.trace").write_text("0x40 READ 0\n0x80 WRITE 5\n")
    (tmp_path / "c.trace").write_text("0 R 0x40\n7 W 0x80\n")
    a, b, c = (read_trace(tmp_path / f"{n}.trace") for n in "abc")
    assert a.addr.tolist() == [64, 128, 192] and a.is_write.tolist() == [False, True, False]
    assert b.cycle.tolist() == [0, 5] and b.is_write.tolist() == [False, True]
    assert c.cycle.tolist() == [0, 7] and c.n_reads == 1


@pytest.mark.parametrize("text, fmt, message", [
    ("LD 0x10\nLD 0xZZ10\n", "ldst", "bad.trace:2: expected 'LD|ST <address>', got 'LD 0xZZ10'"),
    ("LD 0x10 extra\n", "ldst", "bad.trace:1: expected 'LD|ST <address>', got 'LD 0x10 extra'"),
    ("XX 0x10\n", "ldst", "bad.trace:1: expected 'LD|ST <address>', got 'XX 0x10'"),
    ("0x10 READ\n", "dramsim3", "bad.trace:1: expected '<address> READ|WRITE <cycle>', got '0x10 READ'"),
    ("0x10 READ 5\n0x20 READ 4\n", "dramsim3", "bad.trace:2: cycle 4 goes back in time"),
    ("5 X 0x10\n", "timed", "bad.trace:1: expected '<cycle> R|W <address>', got '5 X 0x10'"),
    ("LD 0x8000000000000000\n", "ldst", "bad.trace:1: expected"),
])
def test_malformed_lines_name_file_and_line(tmp_path, text, fmt, message):
    path = tmp_path / "bad.trace"
    path.write_text(text)
    with pytest.raises(TraceFormatError) as info:
        read_trace(path, fmt)
    assert str(info.value).startswith(str(path.parent) + "/" + message)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(TraceFormatError, match="unknown trace format 'csv'"):
        read_trace(tmp_path / "x", "csv")
    with pytest.raises(TraceFormatError, match="cannot read trace"):
        read_trace(tmp_path / "missing.trace")
