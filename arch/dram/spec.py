"""The DRAM memory system's schema (organization, timing, controller) and address mapping.

``DramConfig`` is the section a family embeds to own a memory system (``dram:`` in a PIM
preset; a tier of another family); ``DramSpec`` is the ``dram`` family's preset schema.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from accsim.arch.dram.standards import CompiledRules, Standard, check_timing, compile_rules, standard
from accsim.core.config import param, section
from accsim.core.errors import ConfigError
from accsim.core.limits import require_memory

if TYPE_CHECKING:       # numpy loads on use: every command discovers this family
    import numpy as np


@lru_cache(maxsize=64)
def _compiled_rules(standard_name: str, timing: tuple, act_pre_scope: str) -> CompiledRules:
    return compile_rules(standard(standard_name), dict(timing), {"act_pre_scope": act_pre_scope})

# address-mapping tokens (case-insensitive) -> the fields they hold; "Ba" holds bank group and
# bank unless the mapping also names "Bg" (then, as in DRAMsim3's strings, "ba" is the bank)
MAPPING_TOKENS = {"ro": "row", "co": "column", "ch": "channel", "ra": "pseudochannel",
                  "bg": "bankgroup", "ba": "bank"}
_TOKEN = re.compile(r"([A-Za-z]{2})(\d*)")


# bytes of controller state per tree node (ready cycle, history window and head per command kind:
# ~8 kinds x up to 6 entries x 8 B) and per queue entry (a request copy and its queue slots)
NODE_STATE_BYTES = 512
QUEUE_ENTRY_BYTES = 256


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
    address_mapping: str = param(
        "", "address fields, MSB to LSB, as two-letter tokens (case-insensitive): Ro row, Co column, "
        "Ch channel, Ra pseudochannel, Bg bank group, Ba bank (bank group + bank when no Bg is "
        "named); a token may end in a bit count to split a field, e.g. RoBaRaCoChCo3 interleaves "
        "channels every 8 column accesses (DRAMsim3's rorabgbachco, Ramulator's RoBaRaCoCh)",
        default="RoBaRaCoCh")
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
    dual_issue: bool = param("", "per_bank: issue a row command (ACT/PRE/REF) and a column command "
                             "(RD/WR) in the same cycle when both are ready (HBM's separate row and "
                             "column command buses; DRAMsim3's enable_hbm_dual_cmd)", default=False)


@dataclass(frozen=True, kw_only=True)
class Power:
    """Datasheet supply currents per device (the Micron power model DRAMPower and DRAMsim3 use).
    All zero (the default): the preset has no currents and runs report no energy."""

    VDD_V: float = param("V", "core supply voltage", ge=0.0, default=0.0)
    IDD0_mA: float = param("mA", "one bank's ACT-PRE cycle at tRC", ge=0.0, default=0.0)
    IDD2N_mA: float = param("mA", "precharge standby (all banks closed)", ge=0.0, default=0.0)
    IDD3N_mA: float = param("mA", "active standby (a row open)", ge=0.0, default=0.0)
    IDD4R_mA: float = param("mA", "burst read", ge=0.0, default=0.0)
    IDD4W_mA: float = param("mA", "burst write", ge=0.0, default=0.0)
    IDD5AB_mA: float = param("mA", "all-bank refresh", ge=0.0, default=0.0)
    IDD5PB_mA: float = param("mA", "per-bank refresh", ge=0.0, default=0.0)
    devices_per_channel: int = param("devices", "devices sharing a channel's commands (bus width / "
                                     "device width)", ge=0, default=0)

    @property
    def given(self) -> bool:
        return self.VDD_V > 0 and self.devices_per_channel > 0


@dataclass(frozen=True, kw_only=True)
class DramConfig:
    standard: str = param("", "DRAM standard whose command set and timing rules apply (GDDR6, HBM2, "
                          "HBM3, DDR4, DDR5, LPDDR5, or one a family registers, e.g. GDDR6-AiM)")
    organization: Organization = section(Organization, "channels, banks, rows, columns")
    timing: dict[str, int] = param("cycles of tCK_ps", "timing parameters, JEDEC names; tCK_ps is the clock period in ps")
    controller: Controller = section(Controller, "memory controller", default=True)
    power: Power = section(Power, "IDD currents for energy (optional)", default=True)

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
        import numpy as np
        return np.array([sizes[level] for level in self.levels()], dtype=np.int64)

    def node_count(self) -> int:
        """Nodes of the channel -> ... -> bank tree (each holds per-command timing state)."""
        import numpy as np
        return int(np.cumprod(self.level_sizes()).sum())

    def require_state_memory(self) -> None:
        """Refuse an organization whose controller state would not fit in memory."""
        c = self.controller
        banks = int(self.level_sizes().prod())
        entries = self.organization.channels * (c.read_queue + c.write_queue) + banks * c.bank_queue
        require_memory(f"the controller state of {self.standard} ({self.node_count():,} nodes)",
                       self.node_count() * NODE_STATE_BYTES + entries * QUEUE_ENTRY_BYTES,
                       "use fewer channels, banks or queue entries")

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
        if (c.scheduler == "per_bank" and self.std.refresh_scope != "channel"
                and not (self.std.refresh_scope == "pseudochannel" and o.pseudochannels == 1)):
            problems.append(f"dram.controller.scheduler: per_bank refreshes whole channels; {self.standard} "
                            f"refreshes per {self.std.refresh_scope}: use scheduler frfcfs (or one "
                            f"pseudochannel per channel)")
        if c.dual_issue and c.scheduler != "per_bank":
            problems.append("dram.controller.dual_issue: only the per_bank scheduler issues two commands "
                            "per cycle; set scheduler per_bank or dual_issue false")
        problems += mapping_problems(self)
        if c.write_low_watermark > c.write_high_watermark or c.write_high_watermark > c.write_queue:
            problems.append("dram.controller: need write_low_watermark <= write_high_watermark <= write_queue")
        if problems:
            raise ConfigError(problems)

    def compiled_rules(self) -> CompiledRules:
        """The rule tables (built once per standard, timing and options in a process: a PIM
        pass's placement search asks for them per candidate). Kernels only read them."""
        return _compiled_rules(self.standard, tuple(sorted(self.timing.items())), self.controller.act_pre_scope)


@dataclass(frozen=True, kw_only=True)
class DramSpec:
    """A memory standard preset (family ``dram``): used by ``accsim dram``, extended by PIM presets."""

    dram: DramConfig = section(DramConfig, "the DRAM memory system")

    def check(self) -> None:
        self.dram.check()


def _bits(n: int) -> int:
    return int(n).bit_length() - 1


def field_bits(config: DramConfig) -> dict[str, int]:
    """Address bits of every field (above the offset within one access)."""
    o = config.organization
    return {"row": _bits(o.rows), "column": _bits(o.column_accesses), "channel": _bits(o.channels),
            "pseudochannel": _bits(o.pseudochannels), "bankgroup": _bits(o.bank_groups),
            "bank": _bits(o.banks_per_group)}


def parse_mapping(config: DramConfig) -> list[tuple[str, int]]:
    """The mapping as (field, bits) chunks from the least significant bits up; raises
    ConfigError naming dram.controller.address_mapping."""
    chunks, problems = _chunks(config)
    if problems:
        raise ConfigError(problems)
    return chunks


def mapping_problems(config: DramConfig) -> list[str]:
    return _chunks(config)[1]


def _chunks(config: DramConfig) -> tuple[list[tuple[str, int]], list[str]]:
    text, where = config.controller.address_mapping, "dram.controller.address_mapping"
    matches = list(_TOKEN.finditer(text))
    if "".join(m.group(0) for m in matches) != text or not matches:
        return [], [f"{where}: {text!r} is not a sequence of two-letter tokens with optional bit "
                    f"counts (known tokens: Ro, Co, Ch, Ra, Bg, Ba)"]
    tokens = [(m.group(1).lower(), int(m.group(2)) if m.group(2) else None) for m in matches]
    unknown = sorted({t for t, _ in tokens if t not in MAPPING_TOKENS})
    if unknown:
        return [], [f"{where}: unknown token(s) {', '.join(unknown)} in {text!r}; known: Ro, Co, Ch, Ra, Bg, Ba"]
    has_bg = any(t == "bg" for t, _ in tokens)
    bits = field_bits(config)
    expanded: list[tuple[str, int | None]] = []
    for token, n in tokens:
        if token == "ba" and not has_bg:
            if n is not None:
                return [], [f"{where}: give Bg and Ba separately to split bank bits ({text!r})"]
            expanded += [("bank", None), ("bankgroup", None)]    # MSB to LSB: group above bank
        else:
            expanded.append((MAPPING_TOKENS[token], n))
    problems, chunks = [], []
    for name, total in bits.items():
        parts = [n for f, n in expanded if f == name]
        free = [n for n in parts if n is None]
        fixed = sum(n for n in parts if n is not None)
        if not parts and total:
            problems.append(f"{where}: {text!r} has no token for the {name} ({total} bits)")
        elif len(free) > 1:
            problems.append(f"{where}: the {name} appears more than once without a bit count in {text!r}")
        elif fixed > total or (not free and fixed != total):
            problems.append(f"{where}: {text!r} gives the {name} {fixed} bits; it has {total}")
    if problems:
        return [], problems
    for name, n in reversed(expanded):
        given = n if n is not None else bits[name] - sum(k for f, k in expanded if f == name and k is not None)
        chunks.append((name, given))
    return chunks, []


def map_addresses(config: DramConfig, addr: np.ndarray) -> dict[str, np.ndarray]:
    """Split byte addresses into channel, pseudochannel, bank group, bank, row and column.

    After dropping the offset within one access, fields are taken from the least significant
    bits up, in the reverse of the mapping (RoBaRaCoCh: channel, column, pseudochannel, bank
    group, bank, row); a field split over several tokens gets its low bits from the lowest
    one. Bits above the mapping are ignored (the address space wraps).
    """
    import numpy as np
    a = np.asarray(addr, dtype=np.uint64) >> np.uint64(_bits(config.organization.tx_bytes))
    out = {name: np.zeros(a.shape, np.int64) for name in field_bits(config)}
    filled = dict.fromkeys(out, 0)
    for name, n in parse_mapping(config):
        bits = np.uint64(n)
        out[name] |= ((a & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.int64) << filled[name])
        filled[name] += n
        a = a >> bits
    return out


def request_nodes(config: DramConfig, fields: dict[str, np.ndarray]) -> np.ndarray:
    """Hierarchical node index of every request at every level (children contiguous)."""
    import numpy as np
    levels, sizes = config.levels(), config.level_sizes()
    nodes = np.zeros((fields["row"].shape[0], len(levels)), dtype=np.int64)
    node = np.zeros(fields["row"].shape[0], dtype=np.int64)
    for i, level in enumerate(levels):
        node = node * sizes[i] + fields[level]
        nodes[:, i] = node
    return nodes
