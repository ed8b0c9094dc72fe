"""The DRAM memory system: spec schema, address mapping, and trace-driven simulation.

``simulate_trace(spec, trace)`` runs a request trace through the per-channel controllers of
``arch/pim/kernels.py`` and returns DRAM stats: ``total_cycles`` (the cycle the last read's
data returned), bandwidth, row hits/misses/conflicts, read latency (average and tail), command
counts, and optionally the issued command trace.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from accsim.config import param, section
from accsim.errors import ConfigError
from accsim.stats import Stats
from accsim.traces import Trace
from accsim.arch.pim.standards import COMMANDS, CompiledRules, Standard, check_timing, compile_rules, standard

MAPPINGS = ("RoBaRaCoCh", "RoCoBaRaCh", "ChRaBaRoCo")


@dataclass(frozen=True, kw_only=True)
class Organization:
    channels: int = param("channels", "independent channels", gt=0)
    pseudochannels: int = param("per channel", "pseudochannels per channel (HBM); 1 for GDDR6", gt=0, default=1)
    bank_groups: int = param("per (pseudo)channel", "bank groups", gt=0)
    banks_per_group: int = param("banks", "banks per bank group", gt=0)
    rows: int = param("rows", "rows per bank", gt=0)
    columns: int = param("columns", "columns per row, in device words", gt=0)
    prefetch: int = param("n", "internal prefetch: device words per column access", gt=0)
    channel_width_bits: int = param("bits", "data bus width per channel (addressing)", gt=0)

    @property
    def tx_bytes(self) -> int:
        """Bytes one RD/WR moves (and one request addresses)."""
        return self.prefetch * self.channel_width_bits // 8

    @property
    def column_accesses(self) -> int:
        return self.columns // self.prefetch

    @property
    def row_bytes(self) -> int:
        return self.column_accesses * self.tx_bytes


@dataclass(frozen=True, kw_only=True)
class Controller:
    read_queue: int = param("requests", "read queue capacity per channel", gt=0, default=32)
    write_queue: int = param("requests", "write queue capacity per channel", gt=0, default=32)
    write_high_watermark: int = param("requests", "switch to draining writes when the write queue holds "
                                      "at least this many (or no read waits)", gt=0, default=26)
    write_low_watermark: int = param("requests", "switch back to reads when fewer writes than this wait",
                                     ge=0, default=7)
    row_policy: str = param("", "open: rows stay open; closed: every access auto-precharges (RDA/WRA)",
                            choices=("open", "closed"), default="open")
    address_mapping: str = param("", "address bit order, MSB to LSB (Ro row, Ba bank group + bank, "
                                 "Ra pseudochannel, Co column, Ch channel)", choices=MAPPINGS, default="RoBaRaCoCh")
    refresh: str = param("", "allbank: REFab per refresh scope every nREFI; off: no refresh",
                         choices=("allbank", "off"), default="allbank")
    act_pre_scope: str = param("", "bank: nRAS/nRP per bank (JEDEC); channel: also across the channel "
                               "(as Ramulator 2.0's GDDR6 does)", choices=("bank", "channel"), default="bank")
    scheduler: str = param("", "frfcfs: read/write queues scheduled first-ready first-come-first-served; "
                           "per_bank: a transaction queue feeding small per-bank command queues served "
                           "round-robin (DRAMsim3's structure; uses bank_queue and write_drain_threshold, "
                           "read_queue as the transaction queue)", choices=("frfcfs", "per_bank"),
                           default="frfcfs")
    bank_queue: int = param("commands", "per_bank: command-queue entries per bank", gt=0, default=8)
    write_drain_threshold: int = param("requests", "per_bank: drain writes when every bank queue is "
                                       "empty and the write buffer holds more than this many", gt=0,
                                       default=8)


@dataclass(frozen=True, kw_only=True)
class DramConfig:
    standard: str = param("", "DRAM standard whose timing rules apply",
                          choices=("GDDR6", "GDDR6-AiM", "HBM2", "HBM3"))
    organization: Organization = section(Organization, "channels, banks, rows, columns")
    timing: dict[str, int] = param("cycles of tCK_ps", "timing parameters, JEDEC names; tCK_ps is the clock period in ps")
    controller: Controller = section(Controller, "memory controller", default=True)

    @property
    def tCK_ps(self) -> int:
        return int(self.timing["tCK_ps"])

    @property
    def clock_hz(self) -> float:
        return 1e12 / self.tCK_ps

    @property
    def std(self) -> Standard:
        return standard(self.standard)

    def levels(self) -> tuple[str, ...]:
        return self.std.levels

    def level_sizes(self) -> np.ndarray:
        o = self.organization
        sizes = {"channel": o.channels, "pseudochannel": o.pseudochannels, "bankgroup": o.bank_groups,
                 "bank": o.banks_per_group}
        return np.array([sizes[level] for level in self.levels()], dtype=np.int64)

    def check(self) -> None:
        problems = check_timing(self.std, self.timing, "dram.timing")
        if "tCK_ps" not in self.timing or int(self.timing.get("tCK_ps", 0)) <= 0:
            problems.append("dram.timing.tCK_ps: missing or not > 0 (clock period in ps)")
        o, c = self.organization, self.controller
        if self.standard.startswith("GDDR6") and o.pseudochannels != 1:
            problems.append("dram.organization.pseudochannels: GDDR6 has none; set 1")
        if o.columns % o.prefetch:
            problems.append("dram.organization.columns: must be a multiple of prefetch")
        for name in ("channels", "pseudochannels", "bank_groups", "banks_per_group", "rows"):
            value = getattr(o, name)
            if value & (value - 1):
                problems.append(f"dram.organization.{name}: {value} is not a power of two (address bits)")
        if (c.refresh == "allbank" and "nRFC" in self.timing and "nREFI" in self.timing
                and self.timing["nREFI"] <= self.timing["nRFC"] + self.timing.get("nRP", 0)):
            problems.append(f"dram.timing.nREFI: {self.timing['nREFI']} leaves no time between refreshes "
                            f"(nRFC {self.timing['nRFC']} + nRP {self.timing.get('nRP', 0)}); raise it or "
                            "set dram.controller.refresh=off")
        if c.scheduler == "per_bank" and c.row_policy == "closed":
            problems.append("dram.controller.row_policy: the per_bank scheduler keeps rows open "
                            "(DRAMsim3's OPEN_PAGE); use row_policy open or scheduler frfcfs")
        if c.scheduler == "per_bank" and self.std.refresh_scope != "channel":
            problems.append(f"dram.controller.scheduler: per_bank refreshes whole channels; {self.standard} "
                            f"refreshes per {self.std.refresh_scope}: use scheduler frfcfs")
        if c.write_low_watermark > c.write_high_watermark or c.write_high_watermark > c.write_queue:
            problems.append("dram.controller: need write_low_watermark <= write_high_watermark <= write_queue")
        if problems:
            raise ConfigError(problems)

    def compiled_rules(self) -> CompiledRules:
        return compile_rules(self.std, self.timing, {"act_pre_scope": self.controller.act_pre_scope})


@dataclass(frozen=True, kw_only=True)
class DramSpec:
    """A memory standard preset (family ``dram``): used by ``accsim dram``, extended by PIM presets."""

    dram: DramConfig = section(DramConfig, "the DRAM memory system")


def _bits(n: int) -> int:
    return int(n).bit_length() - 1


def map_addresses(config: DramConfig, addr: np.ndarray) -> dict[str, np.ndarray]:
    """Split byte addresses into channel, pseudochannel, bank group, bank, row and column.

    Fields are taken from the least significant bits up in the reverse of the mapping's name
    (RoBaRaCoCh: channel, column, pseudochannel, bank group, bank, row), after dropping the
    offset within one access; bits above the row are ignored (the address space wraps).
    """
    o = config.organization
    a = np.asarray(addr, dtype=np.uint64) >> np.uint64(_bits(o.tx_bytes))
    widths = {"Ch": [("channel", o.channels)], "Co": [("column", o.column_accesses)],
              "Ra": [("pseudochannel", o.pseudochannels)],
              "Ba": [("bankgroup", o.bank_groups), ("bank", o.banks_per_group)], "Ro": [("row", o.rows)]}
    tokens = [config.controller.address_mapping[i:i + 2] for i in range(0, 10, 2)]
    out: dict[str, np.ndarray] = {}
    for token in reversed(tokens):
        for name, size in widths[token]:
            bits = np.uint64(_bits(size))
            out[name] = (a & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.int64)
            a = a >> bits
    return out


def request_nodes(config: DramConfig, fields: dict[str, np.ndarray]) -> np.ndarray:
    """Hierarchical node index of every request at every level (children contiguous)."""
    levels, sizes = config.levels(), config.level_sizes()
    nodes = np.zeros((fields["row"].shape[0], len(levels)), dtype=np.int64)
    node = np.zeros(fields["row"].shape[0], dtype=np.int64)
    for i, level in enumerate(levels):
        node = node * sizes[i] + fields[level]
        nodes[:, i] = node
    return nodes


@dataclass(frozen=True)
class TraceResult:
    stats: Stats
    commands: np.ndarray       # (cycle, command, node per level..., row, column) per issued command
    arrive: np.ndarray
    depart: np.ndarray


def simulate_trace(config: DramConfig, trace: Trace, max_log: int = 0) -> TraceResult:
    """Run a trace (requests offered in order, one per cycle at most) through the memory system."""
    from accsim.arch.pim import kernels as K   # numba loads only when a trace runs
    config.check()
    fields = map_addresses(config, trace.addr)
    nodes = request_nodes(config, fields)
    rules = config.compiled_rules()
    c, t = config.controller, config.timing
    refresh_interval = int(t["nREFI"]) if c.refresh == "allbank" else 0
    refresh_level = config.levels().index(config.std.refresh_scope)
    args = (nodes, fields["row"], fields["column"], trace.is_write.astype(np.bool_),
            trace.addr.astype(np.int64), config.level_sizes(), int(t["nCL"]) + int(t["nBL"]))
    if c.scheduler == "per_bank":
        from accsim.arch.pim.kernels_per_bank import simulate_trace_per_bank
        counters, arrive, depart, log = simulate_trace_per_bank(
            *args, c.read_queue, c.bank_queue, c.write_drain_threshold, refresh_interval,
            rules.ptr, rules.following, rules.latency, rules.window, rules.scope, max_log)
    else:
        counters, arrive, depart, log = K.simulate_trace(
            *args, c.read_queue, c.write_queue, c.write_high_watermark, c.write_low_watermark,
            c.row_policy == "closed", refresh_interval, refresh_level, rules.ptr, rules.following,
            rules.latency, rules.window, rules.scope, len(config.levels()) - 1, max_log)
    return TraceResult(Stats(_trace_stats(config, trace, counters, arrive, depart)), log, arrive, depart)


def _trace_stats(config: DramConfig, trace: Trace, counters: np.ndarray, arrive: np.ndarray,
                 depart: np.ndarray) -> dict[str, Any]:
    from accsim.arch.pim import kernels as K
    reads = ~trace.is_write
    served = reads & (depart - arrive > 1)
    latency = (depart - arrive)[served]
    # the peers' figure: when the last read's data returned; a write-only trace ends when its
    # last write issued
    total = int(counters[K.C_T_RD_DONE]) if reads.any() else int(counters[K.C_T_WR_DONE])
    seconds = total * config.tCK_ps * 1e-12
    moved = len(trace) * config.organization.tx_bytes
    commands = {name: int(counters[K.C_CMD0 + i]) for i, name in enumerate(COMMANDS) if counters[K.C_CMD0 + i]}
    return {
        "standard": config.standard, "requests": len(trace), "reads": int(reads.sum()),
        "writes": int(trace.is_write.sum()), "total_cycles": total, "accept_cycles": int(counters[K.C_T_ACCEPT]),
        "writes_done_cycles": int(counters[K.C_T_WR_DONE]),
        "tCK_ps": config.tCK_ps, "total_s": seconds,
        "bandwidth_GBps": moved / seconds / 1e9 if seconds else 0.0,
        "row_hits": int(counters[K.C_ROW_HIT]), "row_misses": int(counters[K.C_ROW_MISS]),
        "row_conflicts": int(counters[K.C_ROW_CONFLICT]),
        "reads_forwarded": int(counters[K.C_FORWARDED]),
        "avg_read_latency_cycles": float(latency.mean()) if latency.size else 0.0,
        "p50_read_latency_cycles": float(np.percentile(latency, 50)) if latency.size else 0.0,
        "p99_read_latency_cycles": float(np.percentile(latency, 99)) if latency.size else 0.0,
        "max_read_latency_cycles": int(latency.max()) if latency.size else 0,
        "commands": commands, "events": int(counters[K.C_EVENTS]),
        "commands_not_logged": int(counters[K.C_LOG_DROPPED]),
    }


def write_command_trace(path: str, config: DramConfig, commands: np.ndarray) -> None:
    """Issued commands as text, one per line: cycle, command, then the address fields by level
    name (local indices; -1 = all), row and column (-1 when the command has none)."""
    sizes = config.level_sizes()
    levels = config.levels()
    lines = ["# cycle, command, " + ", ".join(levels) + ", row, column"]
    for row in commands:
        fields = []
        for i in range(len(levels)):
            node = int(row[2 + i])
            fields.append(str(node % int(sizes[i]) if node >= 0 and i else node))
        lines.append(", ".join([str(int(row[0])), COMMANDS[int(row[1])], *fields,
                                str(int(row[2 + len(levels)])), str(int(row[3 + len(levels)]))]))
    tmp = f"{path}.part"
    with open(tmp, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    import os
    os.replace(tmp, path)
