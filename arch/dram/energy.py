"""DRAM energy from datasheet currents (the Micron model DRAMPower and DRAMsim3 use).

Each command adds the charge its current draws above active standby; the background is active
standby (IDD3N) while a channel holds an open row and precharge standby (IDD2N) otherwise:

    E_ACT = VDD * (IDD0 * tRC - (IDD3N * tRAS + IDD2N * tRP))   per ACT (tRC = tRAS + tRP)
    E_RD  = VDD * (IDD4R - IDD3N) * tBL                          per RD / RDA
    E_WR  = VDD * (IDD4W - IDD3N) * tBL                          per WR / WRA
    E_REF = VDD * (IDD5AB - IDD3N) * tRFC                        per all-bank refresh
    E_REFpb = VDD * (IDD5PB - IDD3N) * tRFCpb                    per per-bank refresh
    E_bg  = VDD * (IDD3N * active_cycles + IDD2N * precharged_cycles)

times devices per channel; V x mA x ns = pJ, with cycles x tCK in ns. (DRAMsim3 prints the same
sums in V x mA x cycles, i.e. pJ only when tCK is 1 ns.)
"""
from __future__ import annotations

from typing import Mapping

from accsim.arch.dram.spec import DramConfig


def _pJ_per_mA_cycle(config: DramConfig) -> float:
    """VDD x devices x tCK: the energy of 1 mA drawn for one cycle by a channel's devices, in pJ."""
    return config.power.VDD_V * config.power.devices_per_channel * config.tCK_ps / 1000


def command_energy_pJ(config: DramConfig) -> dict[str, float]:
    """Energy each command adds, in pJ, by command name (commands that add none are absent)."""
    w, t = config.power, config.timing
    scale = _pJ_per_mA_cycle(config)
    tras, trp = int(t["nRAS"]), int(t["nRP"])
    act = scale * (w.IDD0_mA * (tras + trp) - (w.IDD3N_mA * tras + w.IDD2N_mA * trp))
    read = scale * (w.IDD4R_mA - w.IDD3N_mA) * int(t["nBL"])
    write = scale * (w.IDD4W_mA - w.IDD3N_mA) * int(t["nBL"])
    energy = {"ACT": act, "RD": read, "RDA": read, "WR": write, "WRA": write,
              "REFab": scale * (w.IDD5AB_mA - w.IDD3N_mA) * int(t.get("nRFC", 0))}
    if "nRFCpb" in t:
        energy["REFpb"] = scale * (w.IDD5PB_mA - w.IDD3N_mA) * int(t["nRFCpb"])
    return energy


def energy_stats(config: DramConfig, commands: Mapping[str, int], simulated_cycles: int,
                 active_cycles: int) -> dict[str, float]:
    """Energy of a run (pJ) per command kind and background, its total and average power (mW).

    ``active_cycles`` sums, over channels, the cycles a channel held an open row; the rest of
    each channel's ``simulated_cycles`` is precharge standby."""
    w = config.power
    per_command = command_energy_pJ(config)
    scale = _pJ_per_mA_cycle(config)
    precharged = config.organization.channels * simulated_cycles - active_cycles
    parts = {f"{name}_pJ": count * per_command[name] for name, count in commands.items()
             if name in per_command}
    # PRE/PREA are inside E_ACT (IDD0 spans the whole ACT-PRE cycle); anything else is named
    uncounted = sorted(set(commands) - set(per_command) - {"PRE", "PREA"})
    parts["background_active_pJ"] = scale * w.IDD3N_mA * active_cycles
    parts["background_precharged_pJ"] = scale * w.IDD2N_mA * precharged
    total = sum(parts.values())
    seconds = simulated_cycles * config.tCK_ps * 1e-12
    return {**parts, "total_pJ": total, "average_power_mW": total * 1e-9 / seconds if seconds else 0.0,
            "commands_without_energy": uncounted}
