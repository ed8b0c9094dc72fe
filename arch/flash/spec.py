"""The NAND flash array's schema: channels of dies (ways) with planes, page timing, bus speed.

``FlashConfig`` is the section another family embeds (the flash of a computational storage
drive, the drive behind a host's file system); ``FlashSpec`` is the ``flash`` family's preset
schema. Garbage collection, wear levelling and the FTL's own latency are out of scope: the
array is modelled fresh, with the FTL's mapping as a page-striping rule (``page_location``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from accsim.core.config import param, section
from accsim.core.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class FlashConfig:
    channels: int = param("channels", "independent flash channels (buses) of the controller", gt=0)
    ways: int = param("dies", "dies sharing one channel", gt=0)
    planes: int = param("planes", "planes per die (a multi-plane operation works on one page of each)", gt=0)
    page_KiB: float = param("KiB", "flash page: the unit of a read, a program and a channel transfer", gt=0)
    tR_us: float = param("us", "page read: array to the die's page register", gt=0)
    tPROG_us: float = param("us", "page program: the die's page register to the array", gt=0)
    channel_MBps: float = param("MB/s", "bus bandwidth of one channel (ONFI/Toggle interface)", gt=0)
    multiplane: bool = param("", "a die reads or programs up to 'planes' queued pages of distinct "
                             "planes in one operation", default=True)
    cache_read: bool = param("", "a die starts its next read while the last one's data still leaves "
                             "through its cache register", default=True)
    capacity_GiB: float = param("GiB", "user capacity of the array", gt=0)

    @property
    def page_bytes(self) -> int:
        return int(self.page_KiB * 1024)

    @property
    def dies(self) -> int:
        return self.channels * self.ways

    def timing_ns(self) -> tuple[int, int, int]:
        """(tR, tPROG, one page's channel transfer) in ns, the kernel's time unit."""
        xfer = math.ceil(self.page_bytes * 1000 / self.channel_MBps)     # bytes / (MB/s) in ns
        return round(self.tR_us * 1000), round(self.tPROG_us * 1000), max(1, xfer)

    def bus_peak_GBps(self) -> float:
        return self.channels * self.channel_MBps / 1000

    def array_peak_GBps(self) -> float:
        """Reads the dies deliver with every plane busy, before the buses."""
        planes = self.planes if self.multiplane else 1
        return self.dies * planes * self.page_bytes / (self.tR_us * 1e-6) / 1e9

    def check(self) -> None:
        if self.page_bytes < 512:
            raise ConfigError([f"flash.page_KiB: {self.page_KiB} KiB is below a 512-byte sector; flash "
                               "pages are 4-32 KiB"])


def page_location(page, channels: int, ways: int, planes: int):
    """(channel, way, plane) of a logical page: pages stripe over channels first, then the dies
    of a channel, then planes, so consecutive pages keep every bus and die busy."""
    return page % channels, (page // channels) % ways, (page // (channels * ways)) % planes


@dataclass(frozen=True, kw_only=True)
class FlashSpec:
    flash: FlashConfig = section(FlashConfig, "the flash array")

    def check(self) -> None:
        self.flash.check()
