"""The AiM command set: GDDR6 with processing-in-memory banks (SK hynix GDDR6-AiM style).

The set extends JEDEC GDDR6 (``arch/dram/standards``) with an all-bank activate of one row
(ACTab), all-bank and single-bank MACs (MACab, MACsb), a global-buffer write (WRGB) and a
MAC-result read (RDMAC). ACTab counts as an activation of every bank and, drawing the current
of 16 activations, takes a whole four-activate window. Rules that start from an all-bank
command (ACTab, MACab) are stated on the channel: an all-bank command reaches every bank, so a
channel rule bounds each bank exactly as a bank rule would, and the kernels record it once
instead of on every bank. Importing this module registers the standard with the DRAM
component, so DRAM presets may name it (``dram.standard: GDDR6-AiM``).
"""
from __future__ import annotations

from accsim.arch.dram.standards import DRAM_COMMANDS, GDDR6, READS, WRITES, R, Standard, register_standard

AIM_COMMANDS = ("ACTab", "MACab", "MACsb", "WRGB", "RDMAC")
COMMANDS = DRAM_COMMANDS + AIM_COMMANDS
CMD = {name: i for i, name in enumerate(COMMANDS)}

_S = "channel"

GDDR6_AIM = register_standard(Standard(
    name="GDDR6-AiM",
    levels=GDDR6.levels,
    scopes={**GDDR6.scopes, "ACTab": "channel", "MACab": "channel", "MACsb": "bank", "WRGB": "channel",
            "RDMAC": "channel"},
    refresh_scope="channel",
    timing_help={**GDDR6.timing_help,
                 "nRCDRDMAC": "ACT (any form) to MAC, same bank",
                 "nCCD_MAC": "MAC to MAC (all-bank or single-bank), same channel",
                 "nMAC_LAT": "last MAC to MAC-result read (multiplier/adder pipeline drain)"},
    rules=GDDR6.rules + (
        R(_S, "ACTab", ("MACab", "MACsb"), "nRCDRDMAC"), R("bank", "ACT", "MACsb", "nRCDRDMAC"),
        R(_S, "ACTab", READS, "nRCDRD"), R(_S, "ACTab", WRITES, "nRCDWR"),
        R(_S, "ACTab", "PRE", "nRAS"), R(_S, "ACTab", ("ACT", "ACTab"), "nRC"),
        R("bank", ("PRE", "RDA", "WRA"), "ACTab", "nRP"), R("bank", "MACsb", "PRE", "nRTP"),
        R(_S, "MACab", "PRE", "nRTP"), R("bank", "ACT", "ACTab", "nRC"),
        R(_S, "PREA", "ACTab", "nRP"), R(_S, ("MACab", "MACsb"), "PREA", "nRTP"),
        R(_S, "ACTab", ("ACT", "ACTab"), "nFAW"), R(_S, "ACT", "ACTab", "nFAW"),
        R(_S, "ACTab", "PREA", "nRAS"), R(_S, "ACTab", "REFab", "nRC"),
        R(_S, ("MACab", "MACsb"), ("MACab", "MACsb"), "nCCD_MAC"),
        R(_S, "WRGB", "WRGB", "nBL"), R(_S, "WRGB", ("MACab", "MACsb"), "nCWL + nBL"),
        R(_S, WRITES, "WRGB", "nBL"), R(_S, READS, "WRGB", "nCL + nBL + nRTW_extra - nCWL"),
        R(_S, ("MACab", "MACsb"), "RDMAC", "nMAC_LAT"), R(_S, "RDMAC", ("RDMAC", "RD", "RDA"), "nBL"),
        R(_S, "RDMAC", ("MACab", "MACsb", "WRGB"), "nBL"),
    ),
    commands=COMMANDS,
    opening=frozenset({"ACT", "ACTab"}),
    accessing=frozenset(READS + WRITES + ("MACsb",)),
    all_bank_access=frozenset({"MACab"}),
))
