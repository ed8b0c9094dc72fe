"""The PIM-GPT system's model: GDDR6-AiM channels that multiply in their banks, plus an ASIC.

A pim Program is, per channel (its ``unit``), an in-order stream of DRAM/PIM commands with
BARRIER entries where the ASIC works on what the channels produced (layer norm, softmax,
GELU, residual adds, partial-sum accumulation); a barrier entry carries the ASIC's cycles.
``simulate`` issues the streams cycle by cycle (kernels.simulate_streams, refresh included),
then prices energy per command and per ASIC operation.
"""
from __future__ import annotations

import numpy as np

from accsim.arch.pim.spec import ASIC_KIND, PimSpec
from accsim.arch.pim.standards import COMMANDS
from accsim.core.program import Program
from accsim.core.stats import Schedule, StepStats, step_stats

# what a command's time is reported as (the latency breakdown PIM-GPT studies use)
CATEGORY = {"MACab": "pim_mac", "MACsb": "pim_mac",
            "ACT": "activation_refresh", "ACTab": "activation_refresh", "PRE": "activation_refresh",
            "PREA": "activation_refresh", "REFab": "activation_refresh",
            "WRGB": "data_movement", "RDMAC": "data_movement", "RD": "data_movement",
            "WR": "data_movement", "RDA": "data_movement", "WRA": "data_movement"}


def stream_arrays(program: Program) -> tuple[np.ndarray, ...]:
    """Per-channel stream arrays (channel-major, program order within a channel)."""
    from accsim.arch.pim.kernels import BARRIER
    c = program.columns
    unit = c["unit"]
    # a mapper that emits channel-major Programs saves the reordering (a 6M-row gather)
    in_order = bool(np.all(unit[1:] >= unit[:-1]))
    order = slice(None) if in_order else np.argsort(unit, kind="stable")
    n_ch = len(program.units)
    ptr = np.zeros(n_ch + 1, dtype=np.int64)
    np.cumsum(np.bincount(c["unit"], minlength=n_ch), out=ptr[1:])
    kinds = np.array([COMMANDS.index(k) if k in COMMANDS else BARRIER for k in program.kinds], np.int32)
    cmd = kinds[c["kind"][order]]
    n_barriers = int(c["barrier"].max()) + 1 if program.n_tasks else 0
    latency = np.zeros(n_barriers, dtype=np.int64)
    is_barrier = cmd == BARRIER
    barrier = c["barrier"][order].astype(np.int32, copy=False)
    latency[barrier[is_barrier]] = c["barrier_cycles"][order][is_barrier]
    # stream entries are int32 throughout (one kernel specialisation, half the bytes)
    zero_based = lambda name: c[name][order].astype(np.int32, copy=False) - np.int32(1)
    count = c["count"][order].astype(np.int32, copy=False)
    return (ptr, cmd, zero_based("bank1"), zero_based("row1"), barrier, count, latency)


def _issue(spec: PimSpec, program: Program) -> tuple:
    """Run the streams; return (stream arrays, (first, last) issue cycle per entry, per-channel
    stats, barrier releases)."""
    from accsim.arch.pim import kernels as K
    d = spec.dram
    d.require_state_memory()
    arrays = stream_arrays(program)
    rules = d.compiled_rules()
    refresh = int(d.timing["nREFI"]) if d.controller.refresh == "allbank" else 0
    first, last, per_channel, release, _ = K.simulate_streams(
        *arrays, d.level_sizes(), refresh, rules.ptr, rules.following, rules.latency, rules.window,
        rules.scope, 0)
    return arrays, (first, last), per_channel, release


def schedule(spec: PimSpec, program: Program) -> Schedule:
    """When each Program task ran (for timelines): a command holds its channel's command bus
    for one cycle (a run of commands from its first to its last); a barrier entry spans from
    the channel's arrival to the release."""
    from accsim.arch.pim.kernels import BARRIER
    (ptr, cmd, *_rest), (first, last), _, _ = _issue(spec, program)
    order = np.argsort(program.columns["unit"], kind="stable")
    is_barrier = cmd == BARRIER
    finish_sorted = np.where(is_barrier, first, last + 1)
    prev_end = np.concatenate(([0], finish_sorted[:-1]))
    prev_end[ptr[:-1][np.diff(ptr) > 0]] = 0
    start_sorted = np.where(is_barrier, prev_end, first)
    start = np.empty_like(start_sorted)
    finish = np.empty_like(finish_sorted)
    start[order], finish[order] = start_sorted, finish_sorted
    busy = finish - start
    return Schedule(start, finish, busy, busy, np.ones(len(program.units), np.int64), spec.clock_hz)


def simulate(spec: PimSpec, program: Program) -> StepStats:
    """Issue a pim Program cycle by cycle; latency, breakdown and energy of one pass."""
    from accsim.arch.pim import kernels as K
    d = spec.dram
    (ptr, cmd, bank, row, barrier, count, latency), (_, last), per_channel, release = _issue(spec, program)
    total = int(per_channel[:, K.S_CHANNEL_END].max()) if per_channel.size else 0
    hz = d.clock_hz
    refreshes = int(per_channel[:, K.S_REFRESHES].sum())
    asic_cycles = int(latency.sum())
    breakdown, counts = _critical_path_breakdown(ptr, cmd, count, last, latency.size, hz)
    energy = _energy_J(spec, counts, refreshes, program, total / hz)
    banks = d.organization.bank_groups * d.organization.banks_per_group
    lanes = spec.pim.mac_lanes_per_bank
    return step_stats(
        latency_cycles=total, clock_hz=hz, energy_J=energy["total_J"],
        by_op_kind={k: {"exposed_s": v, "busy_s": v, "tasks": 0} for k, v in breakdown.items()},
        by_unit={"pim_channels": {"busy_s": (total - asic_cycles) / hz,
                                  "util_pct": 100.0 * (total - asic_cycles) / total if total else 0.0},
                 "asic": {"busy_s": asic_cycles / hz,
                          "util_pct": 100.0 * asic_cycles / total if total else 0.0}},
        commands=counts, refreshes=refreshes, row_hit_pct=row_hit_pct(counts, banks),
        offchip_bytes=offchip_bytes(counts, d.organization.tx_bytes),
        asic_share_pct=100.0 * breakdown.get(ASIC_KIND, 0.0) / (total / hz) if total else 0.0,
        mac_lane_ops=counts.get("MACab", 0) * banks * lanes + counts.get("MACsb", 0) * lanes,
        useful_macs=int(program.meta.get("useful_macs", 0)), energy_breakdown_J=energy)


def offchip_bytes(counts: dict[str, int], tx_bytes: int) -> int:
    """Bytes that cross the PIM chips' pins in one pass: input vectors written to the global
    buffers, MAC results and data read out, KV written in; the weights never leave the banks."""
    return tx_bytes * sum(counts.get(c, 0) for c in ("RD", "RDMAC", "WR", "WRGB"))


def row_hit_pct(counts: dict[str, int], banks: int) -> float:
    """Share of bank column accesses (MACs in every bank, reads, writes) that found their row
    open: 100 * (1 - bank activations / bank column accesses)."""
    accesses = (counts.get("MACab", 0) * banks + counts.get("MACsb", 0) + counts.get("RD", 0)
                + counts.get("RDMAC", 0) + counts.get("WR", 0))
    activations = counts.get("ACTab", 0) * banks + counts.get("ACT", 0)
    return 100.0 * (1.0 - activations / accesses) if accesses else 0.0


def _critical_path_breakdown(ptr, cmd, count, issue_last, n_barriers, hz) -> tuple[dict[str, float], dict[str, int]]:
    """Split the pass over what held the critical path, exactly (the parts sum to the latency):
    between barriers, the channel that arrived last sets the pace and each gap between its
    consecutive commands counts against the command that ended it (so waiting for an
    activation or a refresh served at that boundary counts against the command that needed
    it); barrier cycles are ASIC time. Commands are reported by category: pim_mac,
    activation_refresh, data_movement (global-buffer writes, result reads, KV writes). Also
    returns the stream's command counts."""
    from accsim.arch.pim.kernels import critical_path_cycles
    per_cmd, barrier_cycles, count = critical_path_cycles(ptr, cmd, count, issue_last, n_barriers, len(COMMANDS))
    out: dict[str, float] = {}
    for i, cycles in enumerate(per_cmd):
        if cycles:
            category = CATEGORY.get(COMMANDS[i], "other_dram")
            out[category] = out.get(category, 0.0) + float(cycles) / hz
    if barrier_cycles:
        out[ASIC_KIND] = float(barrier_cycles) / hz
    return out, {COMMANDS[i]: int(n) for i, n in enumerate(count) if n}


def _energy_J(spec: PimSpec, counts: dict[str, int], refreshes: int, program: Program,
              seconds: float) -> dict[str, float]:
    """Energy of one pass by where it goes: row activations and refresh from the datasheet
    currents (IDD0, IDD5AB), each column access at the cells, the data that crosses the die to the
    I/O and the pins, the banks' MAC arithmetic, background (active standby, IDD3N: open-row
    policy keeps a row open), the ASIC."""
    from accsim.arch.dram.energy import command_energy_pJ
    e, d = spec.energy, spec.dram
    banks = d.organization.bank_groups * d.organization.banks_per_group
    bits = 8 * d.organization.tx_bytes
    per_command = command_energy_pJ(d)
    n = lambda *names: sum(counts.get(c, 0) for c in names)
    bank_macs = n("MACab") * banks + n("MACsb")
    column_accesses = bank_macs + n("RD", "WR")              # the cells are read or written
    across_die = n("RD", "WR", "RDMAC")                      # bank <-> I/O circuits
    through_pins = n("RD", "WR", "RDMAC", "WRGB")            # the global buffer sits at the I/O
    background_W = d.power.VDD_V * d.power.IDD3N_mA * 1e-3 * d.power.devices_per_channel * d.organization.channels
    parts_pJ = {
        "activation": (n("ACTab") * banks + n("ACT")) * per_command["ACT"],
        "cell_access": column_accesses * bits * e.cell_access_pJ_per_bit,
        "across_die": across_die * bits * e.bank_to_io_pJ_per_bit,
        "io": through_pins * bits * e.io_pJ_per_bit,
        "mac_arithmetic": bank_macs * spec.pim.mac_lanes_per_bank * e.mac_pJ,
        "refresh": refreshes * per_command["REFab"],
        "asic": float(program.meta.get("asic_ops", 0)) * e.asic_op_pJ,
    }
    out = {f"{k}_J": v * 1e-12 for k, v in parts_pJ.items()}
    out["background_J"] = seconds * background_W
    out["asic_static_J"] = seconds * 1e-3 * e.asic_static_mW
    out["total_J"] = sum(out.values())
    return out


def energy_per_bit_pJ(spec: PimSpec) -> dict[str, float]:
    """What moving one bit costs each way: multiplied in its bank (the cells + the MAC lane's
    share) vs read over the channel (the cells, across the die, the pins)."""
    e = spec.energy
    lane_bits = 8 * spec.dram.organization.tx_bytes / spec.pim.mac_lanes_per_bank
    return {"in_bank_mac": e.cell_access_pJ_per_bit + e.mac_pJ / lane_bits,
            "offchip_read": e.cell_access_pJ_per_bit + e.bank_to_io_pJ_per_bit + e.io_pJ_per_bit}
