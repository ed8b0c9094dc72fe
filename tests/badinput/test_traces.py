"""Broken memory traces (Ramulator LD/ST, timed, DRAMsim3): refused with file:line and the
offending text escaped and cut, for both trace commands."""
import os

import pytest

pytestmark = [pytest.mark.unit, pytest.mark.badinput]

DRAM = ["dram", "--standard", "gddr6-14gbps", "--trace", "t.trace", "--quiet"]
FLASH = ["flash", "--preset", "samsung-980pro-flash", "--trace", "t.trace", "--quiet"]

CASES = [
    (b"", "t.trace: no requests"),
    (b"# a comment\n\n   \n", "t.trace: no requests"),
    (b"\n\n\n", "t.trace: no requests"),
    (b"LD zz\n", ("t.trace:1", "expected 'LD|ST <address>', got 'LD zz'")),
    (b"LD 0x40\nLD\n", ("t.trace:2", "got 'LD'")),
    (b"LD 0x40\nXX 0x40\n", ("t.trace:2", "got 'XX 0x40'")),
    (b"ld 0x40\n", "t.trace:1"),
    (b"LD -64\n", "t.trace:1"),
    (b"LD 0x40 junk\n", "t.trace:1"),
    (b"LD 0xFFFFFFFFFFFFFFFFFF\n", "t.trace:1"),
    (b"LD 99999999999999999999999\n", "t.trace:1"),
    (b"LD 0x\n", "t.trace:1"),
    (b"LD 0x40\n\x00\x01\x02\x03\n", ("t.trace:2", "\\x00\\x01\\x02\\x03")),
    (b"LD 0x40\n\x1b[31mLD 1\x1b[0m\n", ("t.trace:2", "\\x1b[31m")),
    (b"LD 0x40\nLD \xff\xfe\n", ("t.trace:2", "\\xff\\xfe")),
    (b"LD 0x40\nLD " + b"A" * 100_000 + b"\n", ("t.trace:2", "(100,003 bytes)")),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10, "t.trace:1"),
    (b"10 R 0x40\n5 R 0x80\n", ("t.trace:2", "goes back in time")),
    (b"10 R 0x40\nR 0x80\n", ("t.trace:2", "'<cycle> R|W <address>'")),
    (b"10 X 0x40\n", "t.trace:1"),
    (b"-1 R 0x40\n", "t.trace:1"),
    (b"0x40 READ 10\n0x80 READ 3\n", ("t.trace:2", "goes back in time")),
    (b"0x40 READ\n", "t.trace:1"),
    (b"0x40 READX 10\n", "t.trace:1"),
    (b"0x40 READ 10 extra\n", "t.trace:1"),
    (b"0x40 READ ten\n", "t.trace:1"),
]


@pytest.mark.parametrize("data, expect", CASES, ids=[f"{i}:{d[:24]!r}" for i, (d, _) in enumerate(CASES)])
def test_bad_trace_is_refused_by_dram(refused, data, expect):
    refused(DRAM, expect, files={"t.trace": data})


@pytest.mark.parametrize("data, expect", CASES[:6] + CASES[17:19],
                         ids=[f"{i}:{d[:24]!r}" for i, (d, _) in enumerate(CASES[:6] + CASES[17:19])])
def test_bad_trace_is_refused_by_flash(refused, data, expect):
    refused(FLASH, expect, files={"t.trace": data})


@pytest.mark.parametrize("fmt, data", [("ldst", b"0x40 READ 10\n"), ("timed", b"LD 0x40\n"),
                                       ("dramsim3", b"10 R 0x40\n"), ("ramulator", b"10 R 0x40\n")])
def test_a_trace_in_another_format_than_named(refused, fmt, data):
    refused(DRAM + ["--format", fmt], "t.trace:1", files={"t.trace": data})


@pytest.mark.parametrize("make, expect", [
    (lambda p: os.mkfifo(p), "not a regular file"),
    (lambda p: p.symlink_to("/dev/zero"), "not a regular file"),
])
def test_a_trace_that_is_not_a_file_is_never_read(refused, make, expect):
    refused(DRAM, expect, files={"t.trace": make})


def test_a_missing_trace(refused):
    refused(DRAM[:4] + ["gone.trace"], "gone.trace")
