"""DRAM standards as data: levels, commands, timing parameters and timing rules.

Read a rule like a datasheet line: at ``level``, after any of ``preceding`` on a node, none of
``following`` may issue on that node until ``latency`` cycles later (``window`` > 1: until
``latency`` after the ``window``-th most recent ``preceding``, as for tFAW). Latencies are
sums and differences of timing parameters (JEDEC names verbatim) and integers. A rule may hold
only under a named controller option (``when``), which is how a compatibility preset mirrors a
peer simulator's documented behaviour without editing the table.

A standard's command set is data too (``Standard.commands``): every set opens with the JEDEC
``DRAM_COMMANDS`` (the controllers' codes), and a standard that extends DRAM (the PIM command
set of ``arch/pim``) appends its own and registers itself with ``register_standard``.
``compile_rules`` turns a standard + timing values + options into the integer arrays the
numba kernels take; their command dimension is the standard's set.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping


from accsim.core.errors import ConfigError, did_you_mean

if TYPE_CHECKING:       # numpy loads on use: every command discovers the dram family
    import numpy as np

# JEDEC commands, in the codes the controller kernels use (kernels.ACT, ... REFAB)
DRAM_COMMANDS = ("ACT", "PRE", "PREA", "RD", "WR", "RDA", "WRA", "REFab", "REFpb", "REFp2b", "REFsb")
READS, WRITES = ("RD", "RDA"), ("WR", "WRA")


@dataclass(frozen=True)
class Rule:
    level: str
    preceding: tuple[str, ...]
    following: tuple[str, ...]
    latency: str
    window: int = 1
    when: tuple[str, str] | None = None   # (controller option, value) under which the rule holds


@dataclass(frozen=True)
class Standard:
    name: str
    levels: tuple[str, ...]              # node levels, outermost first; the last is the bank
    scopes: Mapping[str, str]            # command -> level it addresses (checked down to there)
    refresh_scope: str                   # level an all-bank refresh addresses
    timing_help: Mapping[str, str]       # every timing parameter the rules may use
    rules: tuple[Rule, ...]
    commands: tuple[str, ...] = DRAM_COMMANDS   # the command set; codes are positions
    opening: frozenset = frozenset({"ACT"})     # commands that open a row
    accessing: frozenset = frozenset(READS + WRITES)   # commands that need their bank's row open
    all_bank_access: frozenset = frozenset()    # need the same row open in every bank of their scope

    def __post_init__(self) -> None:
        # definition-time checks: a standard is data written once, so a slip is a bug here
        if self.commands[:len(DRAM_COMMANDS)] != DRAM_COMMANDS:
            raise ValueError(f"{self.name}: a command set must open with {DRAM_COMMANDS}")
        named = {c for r in self.rules for c in r.preceding + r.following} | set(self.scopes)
        unknown = named - set(self.commands)
        if unknown or set(self.commands) - set(self.scopes):
            raise ValueError(f"{self.name}: commands without a scope or outside the set: "
                             f"{sorted(unknown | (set(self.commands) - set(self.scopes)))}")

    @property
    def bank_level(self) -> int:
        return len(self.levels) - 1

    def code(self, command: str) -> int:
        return self.commands.index(command)


def R(level: str, preceding: str | tuple, following: str | tuple, latency: str, window: int = 1,
      when: tuple[str, str] | None = None) -> Rule:
    as_tuple = lambda x: (x,) if isinstance(x, str) else tuple(x)
    return Rule(level, as_tuple(preceding), as_tuple(following), latency, window, when)


_COMMON_HELP = {
    "nBL": "burst length on the bus (cycles per RD/WR data transfer)",
    "nCL": "read latency: RD to first data",
    "nCWL": "write latency: WR to first data",
    "nRCDRD": "ACT to RD (same bank)",
    "nRCDWR": "ACT to WR (same bank)",
    "nRP": "PRE to ACT (same bank)",
    "nRAS": "ACT to PRE (same bank)",
    "nRC": "ACT to ACT (same bank)",
    "nWR": "write recovery: end of write data to PRE",
    "nWTRS": "end of write data to RD, different bank group",
    "nWTRL": "end of write data to RD, same bank group",
    "nCCDS": "CAS to CAS, different bank group",
    "nCCDL": "CAS to CAS, same bank group",
    "nRRDS": "ACT to ACT, different bank group",
    "nRRDL": "ACT to ACT, same bank group",
    "nFAW": "four-activate window",
    "nRFC": "all-bank refresh cycle time (REFab to ACT)",
    "nREFI": "average refresh interval",
    "nRREFD": "per-bank refresh to refresh / ACT, different bank",
}

_S = "channel"

GDDR6 = Standard(
    name="GDDR6",
    levels=("channel", "bankgroup", "bank"),
    scopes={"ACT": "bank", "PRE": "bank", "PREA": "channel", "RD": "bank", "WR": "bank",
            "RDA": "bank", "WRA": "bank", "REFab": "channel", "REFpb": "bank", "REFp2b": "bank",
            "REFsb": "bank"},
    refresh_scope="channel",
    timing_help={**_COMMON_HELP, "nRTP": "RD to PRE (same bank)",
                 "nRTW_extra": "extra read-to-write bus turnaround beyond nCL + nBL - nCWL",
                 "nRFCpb": "per-bank refresh cycle time",
                 "n32AW": "thirty-two-activate window of GDDR devices (0 = none)",
                 "nPPD": "PRE to PRE, any two banks of the channel (0 = none)"},
    rules=(
        # channel: CAS to CAS (data bus)
        R(_S, READS, READS, "nBL"), R(_S, READS, READS, "nCCDS"),
        R(_S, WRITES, WRITES, "nBL"), R(_S, WRITES, WRITES, "nCCDS"),
        R(_S, READS, WRITES, "nCL + nBL + nRTW_extra - nCWL"),
        R(_S, WRITES, READS, "nCWL + nBL + nWTRS"),
        R(_S, "RD", "PREA", "nRTP"), R(_S, "WR", "PREA", "nCWL + nBL + nWR"),
        # channel: RAS to RAS
        R(_S, "ACT", "ACT", "nRRDS"), R(_S, "ACT", "ACT", "nFAW", window=4),
        R(_S, "ACT", "ACT", "n32AW", window=32), R(_S, "PRE", "PRE", "nPPD"),
        R(_S, "ACT", "PREA", "nRAS", when=("act_pre_scope", "bank")),
        R(_S, "PREA", "ACT", "nRP", when=("act_pre_scope", "bank")),
        # Ramulator 2.0's GDDR6 names PRE where PREA belongs in these two channel rules, so nRAS
        # and nRP apply across the whole channel (its README); mirrored only as a named option
        R(_S, "ACT", "PRE", "nRAS", when=("act_pre_scope", "channel")),
        R(_S, "PRE", "ACT", "nRP", when=("act_pre_scope", "channel")),
        # channel: refresh
        R(_S, "ACT", "REFab", "nRC"), R(_S, "ACT", ("REFp2b", "REFpb"), "nRRDL"),
        R(_S, "PRE", ("REFab", "REFp2b", "REFpb"), "nRP"),
        R(_S, "PREA", "REFab", "nRP", when=("act_pre_scope", "bank")),
        R(_S, "RDA", ("REFab", "REFp2b", "REFpb"), "nRTP + nRP"),
        R(_S, "WRA", ("REFab", "REFp2b", "REFpb"), "nCWL + nBL + nWR + nRP"),
        R(_S, "REFab", "ACT", "nRFC"), R(_S, ("REFpb", "REFp2b"), "ACT", "nRREFD"),
        # bank group
        R("bankgroup", "ACT", "ACT", "nRRDL"),
        R("bankgroup", READS, READS, "nCCDL"), R("bankgroup", WRITES, WRITES, "nCCDL"),
        R("bankgroup", WRITES, READS, "nCWL + nBL + nWTRL"),
        # bank
        R("bank", "ACT", READS, "nRCDRD"), R("bank", "ACT", WRITES, "nRCDWR"),
        R("bank", "ACT", "PRE", "nRAS"), R("bank", "ACT", "REFpb", "nRC"),
        R("bank", "ACT", "ACT", "nRC", when=("act_pre_scope", "bank")),
        R("bank", "PRE", ("ACT", "REFpb"), "nRP"),
        R("bank", "RD", "PRE", "nRTP"), R("bank", "WR", "PRE", "nCWL + nBL + nWR"),
        R("bank", "RDA", ("ACT", "REFpb"), "nRTP + nRP"),
        R("bank", "WRA", ("ACT", "REFpb"), "nCWL + nBL + nWR + nRP"),
        R("bank", "REFpb", "ACT", "nRFCpb"),
    ),
)

_P = "pseudochannel"

HBM2 = Standard(
    name="HBM2",
    levels=("channel", "pseudochannel", "bankgroup", "bank"),
    scopes={"ACT": "bank", "PRE": "bank", "PREA": "pseudochannel", "RD": "bank", "WR": "bank",
            "RDA": "bank", "WRA": "bank", "REFab": "pseudochannel", "REFpb": "bank",
            "REFp2b": "bank", "REFsb": "bank"},
    refresh_scope="pseudochannel",
    timing_help={**_COMMON_HELP, "nRTPS": "RD to PRE, short", "nRTPL": "RD to PRE, long",
                 "nACTbus": "cycles an ACT occupies the row command bus",
                 "nRFCSB": "single-bank refresh cycle time", "nREFISB": "single-bank refresh interval"},
    rules=(
        # channel: the row command bus is shared by the pseudochannels
        R(_S, "ACT", ("ACT", "PRE", "PREA", "REFab", "REFsb"), "nACTbus"),
        # pseudochannel
        R(_P, "ACT", "ACT", "nRRDS"), R(_P, "ACT", "ACT", "nFAW", window=4),
        R(_P, "ACT", "REFsb", "nRRDL"), R(_P, "ACT", "PREA", "nRAS"), R(_P, "ACT", "REFab", "nRC"),
        R(_P, ("PRE", "PREA"), "REFab", "nRP"), R(_P, "PREA", "ACT", "nRP"),
        R(_P, READS, READS, "nBL"), R(_P, READS, READS, "nCCDS"),
        R(_P, READS, WRITES, "nCL + nBL + 2 - nCWL"), R(_P, "RD", "PREA", "nRTPS"),
        R(_P, WRITES, WRITES, "nBL"), R(_P, WRITES, WRITES, "nCCDS"),
        R(_P, WRITES, READS, "nCWL + nBL + nWTRS"), R(_P, "WR", "PREA", "nCWL + nBL + nWR"),
        R(_P, "RDA", "REFab", "nRTPS + nRP"), R(_P, "WRA", "REFab", "nCWL + nBL + nWR + nRP"),
        R(_P, "REFab", ("ACT", "REFsb"), "nRFC"), R(_P, "REFsb", "REFsb", "nRREFD"),
        R(_P, "REFsb", "ACT", "nRP"),
        # bank group
        R("bankgroup", "ACT", "ACT", "nRRDL"), R("bankgroup", "ACT", "REFsb", "nRRDL + 1"),
        R("bankgroup", READS, READS, "nCCDL"), R("bankgroup", WRITES, WRITES, "nCCDL"),
        R("bankgroup", WRITES, READS, "nCWL + nBL + nWTRL"), R("bankgroup", "REFsb", "ACT", "nACTbus"),
        # bank
        R("bank", "ACT", "ACT", "nRC"), R("bank", "ACT", READS, "nRCDRD"),
        R("bank", "ACT", WRITES, "nRCDWR"), R("bank", "ACT", "PRE", "nRAS"),
        R("bank", "PRE", "ACT", "nRP"), R("bank", "RD", "PRE", "nRTPS"), R("bank", "RD", "PRE", "nRTPL"),
        R("bank", "WR", "PRE", "nCWL + nBL + nWR"),
        R("bank", "RDA", ("ACT", "REFsb"), "nRTPL + nRP"),
        R("bank", "WRA", ("ACT", "REFsb"), "nCWL + nBL + nWR + nRP"),
    ),
)

# HBM3 keeps HBM2's command set and rule structure (pseudochannels, bank groups); presets give
# its own timing values.
HBM3 = Standard(name="HBM3", levels=HBM2.levels, scopes=HBM2.scopes, refresh_scope=HBM2.refresh_scope,
                timing_help=HBM2.timing_help, rules=HBM2.rules)

# DDR4, DDR5 and LPDDR5, one rank per channel (the rank-level rules of the JEDEC tables apply
# channel-wide). Structure after Ramulator 2.0's DDR4/DDR5/LPDDR5 tables; same-bank refresh and
# RFM are not modelled (the controller refreshes all banks). They differ in a few places, each a
# parameter of the one rule builder:
# - DDR5 commands take two cycles of the command bus (nCMD); an LPDDR5 activation is two
#   commands, ACT-1 then ACT-2 (nCMD), its timings counted from ACT-1; DDR4 has none;
# - DDR5 spaces WR to WR in a bank group by its own nCCDLWR;
# - LPDDR5 closes all banks in nRPab (longer than one bank's nRP) and counts a same-bank-group
#   write-to-read from the end of the array's write, nBL_max (BL/n_max), not the bus burst.
_DDR_CMDS = ("ACT", "PRE", "PREA", "RD", "WR", "RDA", "WRA", "REFab", "REFpb", "REFp2b", "REFsb")


def _ddr_rules(two_cycle_commands: tuple = (), write_ccdl: str = "nCCDL", all_bank_precharge: str = "nRP",
               write_to_read_burst: str = "nBL") -> tuple:
    command_bus = (R(_S, two_cycle_commands, _DDR_CMDS, "nCMD"),) if two_cycle_commands else ()
    return command_bus + (
        # channel: data bus
        R(_S, READS, READS, "nBL"), R(_S, WRITES, WRITES, "nBL"),
        # channel (the rank): CAS to CAS, different bank group
        R(_S, READS, READS, "nCCDS"), R(_S, WRITES, WRITES, "nCCDS"),
        R(_S, READS, WRITES, "nCL + nBL + nRTW_extra - nCWL"),
        R(_S, WRITES, READS, "nCWL + nBL + nWTRS"),
        R(_S, "RD", "PREA", "nRTP"), R(_S, "WR", "PREA", "nCWL + nBL + nWR"),
        # channel: RAS to RAS, refresh
        R(_S, "ACT", "ACT", "nRRDS"), R(_S, "ACT", "ACT", "nFAW", window=4),
        R(_S, "ACT", "PREA", "nRAS"), R(_S, "PREA", "ACT", all_bank_precharge),
        R(_S, "ACT", "REFab", "nRC"), R(_S, ("PRE", "PREA"), "REFab", "nRP"),
        R(_S, "RDA", "REFab", "nRP + nRTP"), R(_S, "WRA", "REFab", "nCWL + nBL + nWR + nRP"),
        R(_S, "REFab", "ACT", "nRFC"),
        # bank group
        R("bankgroup", READS, READS, "nCCDL"), R("bankgroup", WRITES, WRITES, write_ccdl),
        R("bankgroup", WRITES, READS, f"nCWL + {write_to_read_burst} + nWTRL"), R("bankgroup", "ACT", "ACT", "nRRDL"),
        # bank
        R("bank", "ACT", "ACT", "nRC"), R("bank", "ACT", READS, "nRCDRD"), R("bank", "ACT", WRITES, "nRCDWR"),
        R("bank", "ACT", "PRE", "nRAS"), R("bank", "PRE", "ACT", "nRP"),
        R("bank", "RD", "PRE", "nRTP"), R("bank", "WR", "PRE", "nCWL + nBL + nWR"),
        R("bank", "RDA", "ACT", "nRTP + nRP"), R("bank", "WRA", "ACT", "nCWL + nBL + nWR + nRP"),
        R("bank", "WR", "RDA", "nCWL + nBL + nWR - nRTP"),
    )


_DDR_HELP = {**{k: _COMMON_HELP[k] for k in _COMMON_HELP if k not in ("nRREFD",)},
             "nRTP": "RD to PRE (same bank)",
             "nRTW_extra": "extra read-to-write bus turnaround beyond nCL + nBL - nCWL"}
DDR5 = Standard(
    name="DDR5", levels=("channel", "bankgroup", "bank"), scopes=GDDR6.scopes, refresh_scope="channel",
    timing_help={**_DDR_HELP, "nCCDLWR": "WR to WR, same bank group",
                 "nCMD": "cycles a two-cycle command (ACT, RD, WR) holds the command bus"},
    rules=_ddr_rules(("ACT", "RD", "RDA", "WR", "WRA"), write_ccdl="nCCDLWR"))
DDR4 = Standard(name="DDR4", levels=DDR5.levels, scopes=GDDR6.scopes, refresh_scope="channel",
                timing_help=_DDR_HELP, rules=_ddr_rules())
# LPDDR5 in bank-group mode (4 bank groups x 4 banks) with WCK always on: the controller syncs
# WCK once, so no CAS (WCK2CK sync) command precedes each RD/WR (JESD209-5 allows it; Ramulator
# 2.0 issues a CAS per access). nBL is BL16 on the bus (BL/n_min).
LPDDR5 = Standard(
    name="LPDDR5", levels=DDR5.levels, scopes=GDDR6.scopes, refresh_scope="channel",
    timing_help={**_DDR_HELP, "nBL": "BL16 on the data bus (BL/n_min)",
                 "nBL_max": "BL16 in the bank group's column array (BL/n_max)",
                 "nRPab": "PREA (all banks) to ACT", "nCMD": "cycles from ACT-1 to ACT-2 on the command bus",
                 "nRCDRD": "ACT-1 to RD (same bank)", "nRCDWR": "ACT-1 to WR (same bank)"},
    rules=_ddr_rules(("ACT",), all_bank_precharge="nRPab", write_to_read_burst="nBL_max"))

STANDARDS: dict[str, Standard] = {s.name: s for s in (GDDR6, HBM2, HBM3, DDR4, DDR5, LPDDR5)}
OPTION_VALUES = {"act_pre_scope": ("bank", "channel")}


def register_standard(std: Standard) -> Standard:
    """Add a standard that extends DRAM (a family's command set); a name is taken once."""
    if STANDARDS.get(std.name, std) is not std:
        raise ValueError(f"DRAM standard '{std.name}' is already registered")
    STANDARDS[std.name] = std
    return std


def standard(name: str) -> Standard:
    if name not in STANDARDS:
        from accsim.core.registry import families
        families()     # families that extend DRAM register their standards when discovered
    if name not in STANDARDS:
        raise ConfigError([f"dram.standard: unknown standard '{name}'{did_you_mean(name, STANDARDS)}; "
                           f"known: {', '.join(STANDARDS)}"])
    return STANDARDS[name]


_TOKEN = re.compile(r"\s*([+-])?\s*([A-Za-z_][A-Za-z0-9_]*|\d+)\s*")


def evaluate(expression: str, timing: Mapping[str, int]) -> int:
    """Value of a latency expression: terms of timing names and integers joined by + and -."""
    total, pos = 0, 0
    while pos < len(expression):
        match = _TOKEN.match(expression, pos)
        if not match or match.end() == pos:
            raise ValueError(f"bad latency expression {expression!r}")
        sign = -1 if match.group(1) == "-" else 1
        term = match.group(2)
        total += sign * (int(term) if term.isdigit() else timing[term])
        pos = match.end()
    return total


def names_in(expression: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression))


# the longest timing parameter a real device has is tREFI (~3.9-7.8 us: ~10^4 cycles); 10^7 leaves
# room for any clock and refuses values that would make a run step through 10^12 cycles
MAX_TIMING_CYCLES = 10_000_000


def check_timing(std: Standard, timing: Mapping[str, int], path: str = "timing") -> list[str]:
    """Problems with a timing table: unknown names, missing names the rules use, bad values."""
    problems = []
    for name, value in timing.items():
        if name == "tCK_ps":
            continue
        if name not in std.timing_help:
            problems.append(f"{path}.{name}: unknown timing parameter for {std.name}"
                            f"{did_you_mean(name, std.timing_help)}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(f"{path}.{name}: expected an integer >= 0 cycles, got {value!r}")
        elif value > MAX_TIMING_CYCLES:
            problems.append(f"{path}.{name}: {value:,} cycles, more than {MAX_TIMING_CYCLES:,}; a "
                            "cycle-level run steps through every one (no DRAM parameter is that long)")
    used = set().union(*(names_in(r.latency) for r in std.rules)) | {"nCL", "nBL", "nREFI"}
    for name in sorted(used - set(timing)):
        problems.append(f"{path}.{name}: missing ({std.timing_help.get(name, 'used by the rules')})")
    return problems


@dataclass(frozen=True)
class CompiledRules:
    """Integer tables for the kernels: rules grouped by (level, preceding) in CSR form."""

    n_levels: int
    commands: tuple[str, ...]   # the standard's command set (codes are positions)
    ptr: np.ndarray        # int64 [n_levels * n_cmd + 1]
    following: np.ndarray  # int64 [n_rules]
    latency: np.ndarray    # int64 [n_rules]
    window: np.ndarray     # int64 [n_rules]
    scope: np.ndarray      # int64 [n_cmd]: level index each command addresses

    def table(self) -> set[tuple[str, str, str, int, int]]:
        """(level index as name, preceding, following, latency, window) for comparisons."""
        rows = set()
        n_cmd = len(self.commands)
        for key in range(self.n_levels * n_cmd):
            level, prev = divmod(key, n_cmd)
            for k in range(self.ptr[key], self.ptr[key + 1]):
                rows.add((level, self.commands[prev], self.commands[self.following[k]], int(self.latency[k]),
                          int(self.window[k])))
        return rows


def compile_rules(std: Standard, timing: Mapping[str, int], options: Mapping[str, str]) -> CompiledRules:
    """Expand the rules that hold under ``options`` into integer CSR tables."""
    n_cmd = len(std.commands)
    entries: dict[int, list[tuple[int, int, int]]] = {}
    for rule in std.rules:
        if rule.when and options.get(rule.when[0]) != rule.when[1]:
            continue
        level = std.levels.index(rule.level)
        latency = evaluate(rule.latency, timing)
        if latency == 0:
            continue    # a zero latency (e.g. n32AW 0, nPPD 0) is no constraint: keep it out
        for prev in rule.preceding:
            for nxt in rule.following:
                entries.setdefault(level * n_cmd + std.code(prev), []).append((std.code(nxt), latency, rule.window))
    import numpy as np
    ptr = np.zeros(len(std.levels) * n_cmd + 1, dtype=np.int64)
    following, latency, window = [], [], []
    for key in range(len(std.levels) * n_cmd):
        for nxt, lat, win in sorted(set(entries.get(key, []))):
            following.append(nxt)
            latency.append(lat)
            window.append(win)
        ptr[key + 1] = len(following)
    scope = np.array([std.levels.index(std.scopes[c]) for c in std.commands], dtype=np.int64)
    return CompiledRules(len(std.levels), std.commands, ptr, np.array(following, np.int64), np.array(latency, np.int64),
                         np.array(window, np.int64), scope)
