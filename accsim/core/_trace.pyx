# cython: boundscheck=False, wraparound=False, cdivision=True
"""Compiled reader/writer of memory-trace text formats (Ramulator 2.0 and DRAMsim3).

Formats (one request per line; blank lines and lines starting with '#' are skipped):
  ldst      Ramulator 2.0 LoadStoreTrace      ``LD 0x1f40`` / ``ST 0x1f40``
  timed     Ramulator-style timed trace       ``<cycle> R 0x1f40`` / ``<cycle> W 0x1f40``
  dramsim3  DRAMsim3 TraceBasedCPU            ``0x1f40 READ <cycle>`` / ``0x1f40 WRITE <cycle>``
Addresses are hex with 0x or decimal. Arrays come back as (addr int64, is_write uint8,
cycle int64); a malformed line raises ValueError naming the file, the line number and the text.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.stdio cimport snprintf

cnp.import_array()

FORMATS = ("ldst", "timed", "dramsim3")
cdef int FMT_LDST = 0, FMT_TIMED = 1, FMT_DRAMSIM3 = 2
cdef uint64_t ADDR_LIMIT = <uint64_t>1 << 63
SHOWN_BYTES = 60


cdef inline bint _is_space(char c) nogil:
    return c == c' ' or c == c'\t' or c == c'\r'


cdef inline Py_ssize_t _skip_spaces(const char* buf, Py_ssize_t i, Py_ssize_t end) nogil:
    while i < end and _is_space(buf[i]):
        i += 1
    return i


cdef inline Py_ssize_t _token_end(const char* buf, Py_ssize_t i, Py_ssize_t end) nogil:
    while i < end and not _is_space(buf[i]):
        i += 1
    return i


cdef inline bint _parse_uint(const char* buf, Py_ssize_t i, Py_ssize_t j, uint64_t* out) nogil:
    """Parse buf[i:j] as hex (0x...) or decimal; False on any bad digit, empty text or overflow."""
    cdef uint64_t value = 0
    cdef uint64_t digit
    cdef int base = 10
    cdef char c
    if j - i > 2 and buf[i] == c'0' and (buf[i + 1] == c'x' or buf[i + 1] == c'X'):
        base = 16
        i += 2
    if i >= j:
        return False
    while i < j:
        c = buf[i]
        if c'0' <= c <= c'9':
            digit = c - c'0'
        elif base == 16 and c'a' <= c <= c'f':
            digit = c - c'a' + 10
        elif base == 16 and c'A' <= c <= c'F':
            digit = c - c'A' + 10
        else:
            return False
        if value > (ADDR_LIMIT - 1 - digit) // base:
            return False
        value = value * base + digit
        i += 1
    out[0] = value
    return True


cdef inline bint _token_is(const char* buf, Py_ssize_t i, Py_ssize_t j, const char* word,
                           Py_ssize_t n) nogil:
    """buf[i:j] equals the n-character C string ``word``."""
    cdef Py_ssize_t k
    if j - i != n:
        return False
    for k in range(n):
        if buf[i + k] != word[k]:
            return False
    return True


def _expected(int fmt):
    return ("'LD|ST <address>'", "'<cycle> R|W <address>'", "'<address> READ|WRITE <cycle>'")[fmt]


def _shown(bytes line):
    """A bad line as a message shows it: escaped (binary data, terminal escape sequences) and cut
    to SHOWN_BYTES (a 100 KB line is not echoed whole)."""
    text = line[:SHOWN_BYTES].strip().decode("latin-1").encode("unicode_escape")
    more = f" ... ({len(line):,} bytes)" if len(line) > SHOWN_BYTES else ""
    return f"'{text.decode('ascii')}'{more}"


def parse_trace(bytes data, str fmt, str source="<trace>", Py_ssize_t first_line=1,
                int64_t previous_cycle=0):
    """Parse trace text; return (addr int64, is_write uint8, cycle int64). A piece of a longer
    trace names its first line's number and the cycle of the request before it."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown trace format '{fmt}': expected one of {', '.join(FORMATS)}")
    cdef int f = FORMATS.index(fmt)
    cdef const char* buf = data
    cdef Py_ssize_t n = len(data)
    cdef Py_ssize_t lines = data.count(b"\n") + 1
    cdef cnp.ndarray[int64_t] addr = np.empty(lines, dtype=np.int64)
    cdef cnp.ndarray[uint8_t] is_write = np.empty(lines, dtype=np.uint8)
    cdef cnp.ndarray[int64_t] cycle = np.zeros(lines, dtype=np.int64)
    cdef Py_ssize_t pos = 0, line_end, a0, a1, b0, b1, c0, c1, rest
    cdef Py_ssize_t count = 0, line_no = first_line - 1
    cdef uint64_t value, when
    cdef bint ok, wr
    cdef int64_t last_cycle = previous_cycle
    while pos < n:
        line_no += 1
        line_end = pos
        while line_end < n and buf[line_end] != c'\n':
            line_end += 1
        a0 = _skip_spaces(buf, pos, line_end)
        if a0 == line_end or buf[a0] == c'#':
            pos = line_end + 1
            continue
        a1 = _token_end(buf, a0, line_end)
        b0 = _skip_spaces(buf, a1, line_end)
        b1 = _token_end(buf, b0, line_end)
        c0 = _skip_spaces(buf, b1, line_end)
        c1 = _token_end(buf, c0, line_end)
        rest = _skip_spaces(buf, c1, line_end)
        ok = rest == line_end and b1 > b0
        when = 0
        if ok and f == FMT_LDST:
            wr = _token_is(buf, a0, a1, "ST", 2)
            ok = c0 == line_end and (wr or _token_is(buf, a0, a1, "LD", 2)) and _parse_uint(buf, b0, b1, &value)
        elif ok and f == FMT_TIMED:
            wr = _token_is(buf, b0, b1, "W", 1)
            ok = (wr or _token_is(buf, b0, b1, "R", 1)) and _parse_uint(buf, a0, a1, &when) \
                and c1 > c0 and _parse_uint(buf, c0, c1, &value)
        elif ok:
            wr = _token_is(buf, b0, b1, "WRITE", 5)
            ok = (wr or _token_is(buf, b0, b1, "READ", 4)) and _parse_uint(buf, a0, a1, &value) \
                and c1 > c0 and _parse_uint(buf, c0, c1, &when)
        if ok and <int64_t>when < last_cycle:
            raise ValueError(f"{source}:{line_no}: cycle {when} goes back in time (previous "
                             f"{last_cycle}); requests must be in arrival order")
        if not ok:
            raise ValueError(f"{source}:{line_no}: expected {_expected(f)}, got {_shown(data[pos:line_end])}")
        last_cycle = <int64_t>when
        addr[count] = <int64_t>value
        is_write[count] = wr
        cycle[count] = <int64_t>when
        count += 1
        pos = line_end + 1
    return addr[:count].copy(), is_write[:count].copy(), cycle[:count].copy()


def format_trace(addr, is_write, cycle, str fmt):
    """Render arrays as trace text in ``fmt``; returns bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown trace format '{fmt}': expected one of {', '.join(FORMATS)}")
    cdef int f = FORMATS.index(fmt)
    cdef cnp.ndarray[int64_t] a = np.ascontiguousarray(addr, dtype=np.int64)
    cdef cnp.ndarray[uint8_t] w = np.ascontiguousarray(is_write, dtype=np.uint8)
    cdef cnp.ndarray[int64_t] c = np.ascontiguousarray(cycle, dtype=np.int64)
    cdef Py_ssize_t n = a.shape[0], i, used = 0
    if w.shape[0] != n or c.shape[0] != n:
        raise ValueError("addr, is_write and cycle must have the same length")
    if n and (a.min() < 0 or c.min() < 0):
        raise ValueError("addresses and cycles must be non-negative")
    cdef bytearray out = bytearray(n * 48)
    cdef char* dst = out
    cdef int written
    cdef const char* tag
    for i in range(n):
        if f == FMT_LDST:
            tag = "ST" if w[i] else "LD"
            written = snprintf(dst + used, 48, "%s 0x%llx\n", tag, <unsigned long long>a[i])
        elif f == FMT_TIMED:
            tag = "W" if w[i] else "R"
            written = snprintf(dst + used, 48, "%lld %s 0x%llx\n", <long long>c[i], tag,
                               <unsigned long long>a[i])
        else:
            tag = "WRITE" if w[i] else "READ"
            written = snprintf(dst + used, 48, "0x%llx %s %lld\n", <unsigned long long>a[i], tag,
                               <long long>c[i])
        used += written
    return bytes(out[:used])
