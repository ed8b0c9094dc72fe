"""The flash array as a component another family puts on its timeline.

- cycle-level: ``serve(config, page, is_write, arrival_ns, window)`` runs the requests through
  the event-driven array (arch/flash/kernels.py) and returns a ``FlashRun``: each request's
  completion and the operations and transfers that served it (the checker reads those);
  ``window`` > 0 keeps at most that many requests in the array (a closed loop).
- characterised: ``characterise(config, kind, pages, window)`` runs a stream of consecutive
  pages (reads or writes: all offered at time 0, or ``window`` at a time) once and returns the
  array's sustained bandwidth and the latency of one request to an idle array; cached per
  (config, kind, pages, window).
A family says which form it uses. Logical pages stripe over channels, dies and planes
(``spec.page_location``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from accsim.arch.flash.spec import FlashConfig, page_location
from accsim.core.errors import ConfigError


@dataclass(frozen=True)
class FlashRun:
    channel: np.ndarray
    die: np.ndarray
    plane: np.ndarray
    is_write: np.ndarray
    arrival: np.ndarray
    done: np.ndarray          # ns: read data out of the channel / write programmed
    op_start: np.ndarray      # the die operation (tR or tPROG) that served the request
    op_end: np.ndarray
    xfer_start: np.ndarray    # its page's channel transfer
    xfer_end: np.ndarray

    def stats(self, config: FlashConfig) -> dict:
        n = int(self.done.shape[0])
        total = int(self.done.max()) if n else 0
        reads = ~self.is_write
        latency = (self.done - self.arrival)[reads]
        xfer = int(np.sum(self.xfer_end - self.xfer_start))
        ops = {(int(d), int(s)): int(e - s) for d, s, e in zip(self.die, self.op_start, self.op_end)}
        return {"requests": n, "reads": int(reads.sum()), "writes": int(n - reads.sum()),
                "total_ns": total, "bytes": n * config.page_bytes,
                "bandwidth_GBps": n * config.page_bytes / total if total else 0.0,
                "avg_read_latency_us": float(latency.mean()) / 1e3 if latency.size else 0.0,
                "p99_read_latency_us": float(np.percentile(latency, 99)) / 1e3 if latency.size else 0.0,
                "die_operations": len(ops),
                "die_busy_pct": 100.0 * sum(ops.values()) / (config.dies * total) if total else 0.0,
                "channel_busy_pct": 100.0 * xfer / (config.channels * total) if total else 0.0}


def serve(config: FlashConfig, page, is_write, arrival_ns, window: int = 0) -> FlashRun:
    from accsim.arch.flash.kernels import run_flash
    page = np.asarray(page, np.int64)
    is_write = np.asarray(is_write, bool)
    arrival = np.asarray(arrival_ns, np.int64)
    if not (page.shape == is_write.shape == arrival.shape) or page.ndim != 1:
        raise ConfigError([f"flash requests: page, is_write and arrival must be 1-D of one length, got "
                           f"{page.shape}, {is_write.shape}, {arrival.shape}"])
    if window < 0:
        raise ConfigError([f"flash requests: window must be >= 0 (0: no limit), got {window}"])
    if page.size and (page.min() < 0 or arrival.min() < 0):
        raise ConfigError(["flash requests: pages and arrival times must be >= 0"])
    pages_total = int(config.capacity_GiB * 2**30 // config.page_bytes)
    if page.size and page.max() >= pages_total:
        raise ConfigError([f"flash requests: page {int(page.max())} is beyond the array's {pages_total} "
                           f"pages ({config.capacity_GiB:g} GiB of {config.page_KiB:g} KiB pages)"])
    channel, way, plane = page_location(page, config.channels, config.ways, config.planes)
    die = channel * config.ways + way
    tR, tPROG, xfer = config.timing_ns()
    if page.size == 0:
        z = np.zeros(0, np.int64)
        return FlashRun(z, z, z, is_write, arrival, z, z, z, z, z)
    out = run_flash(channel, die, plane, is_write, arrival, config.planes, tR, tPROG, xfer,
                    config.multiplane, config.cache_read, int(window))
    return FlashRun(channel, die, plane, is_write, arrival, *out)


@dataclass(frozen=True)
class FlashCharacter:
    kind: str
    pages: int
    window: int               # requests kept in the array (0: all offered at once)
    bandwidth_GBps: float     # sustained, every die and channel of the array serving the stream
    idle_latency_us: float    # one request to an idle array
    bus_peak_GBps: float
    array_peak_GBps: float

    def transfer_s(self, n_bytes: float) -> float:
        return self.idle_latency_us * 1e-6 + n_bytes / (self.bandwidth_GBps * 1e9)


_CHARACTERISED: dict = {}


def characterise(config: FlashConfig, kind: str = "read", pages: int = 0, window: int = 0) -> FlashCharacter:
    """Sustained bandwidth of consecutive pages (``read`` or ``write``), all offered at once or
    ``window`` at a time (a requester that keeps that many commands outstanding)."""
    if kind not in ("read", "write"):
        raise ConfigError([f"flash characterisation: kind must be read or write, got {kind!r}"])
    pages = pages or 64 * config.dies * config.planes
    key = (json.dumps(asdict(config), sort_keys=True), kind, pages, window)
    if key not in _CHARACTERISED:
        write = kind == "write"
        stream = serve(config, np.arange(pages), np.full(pages, write), np.zeros(pages, np.int64), window)
        one = serve(config, np.zeros(1, np.int64), np.full(1, write), np.zeros(1, np.int64))
        _CHARACTERISED[key] = FlashCharacter(kind, pages, window, stream.stats(config)["bandwidth_GBps"],
                                             float(one.done[0]) / 1e3, config.bus_peak_GBps(),
                                             config.array_peak_GBps())
    return _CHARACTERISED[key]
