"""Memory estimates checked before a large allocation: a clear error naming the size it would
take, instead of a MemoryError traceback or a machine that swaps for an hour."""
from __future__ import annotations

import os

from accsim.core.errors import AccsimError

DEFAULT_MAX_POINTS = 100_000       # sweep points, before constraints (accsim sweep --max-points)


class TooLargeError(AccsimError):
    """Work that would need more memory than the machine has."""


def available_memory_bytes() -> int:
    """Memory the kernel can give this process now (MemAvailable), else the physical total."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _gib(n_bytes: float) -> str:
    gib = n_bytes / 2 ** 30
    return f"{gib:,.0f} GiB" if gib >= 100 else f"{gib:.3g} GiB"


# below this the machine is not asked (no machine accsim runs on lacks it): checks on every GEMM
# kernel or pass then cost a comparison, not a read of /proc/meminfo
ALWAYS_AVAILABLE_BYTES = 256 * 2 ** 20


def require_memory(what: str, needed_bytes: float, fix: str) -> None:
    """Raise TooLargeError when ``what`` needs more than the memory available now."""
    if needed_bytes <= ALWAYS_AVAILABLE_BYTES:
        return
    available = available_memory_bytes()
    if needed_bytes > available:
        raise TooLargeError(f"{what} would need about {_gib(needed_bytes)} of memory, more than the "
                            f"{_gib(available)} available; {fix}")
