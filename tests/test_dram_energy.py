"""DRAM energy from IDD currents: a hand calculation from the datasheet formulas, and DRAMsim3's
own energy figures on the first 2000 requests of the reference traces."""
from pathlib import Path

import pytest
import yaml

from accsim.arch.dram.patterns import make_trace, prefix
from accsim.arch.dram.trace import simulate_trace
from accsim.core.presets import resolve_preset
from accsim.core.traces import Trace

pytestmark = pytest.mark.golden

PEERS = Path(__file__).parent.parent / "validation" / "reference" / "dram" / "peers.yaml"


def run(preset, trace, **overrides):
    return simulate_trace(resolve_preset(preset, overrides).spec.dram, trace).stats


def one_read():
    import numpy as np
    return Trace(np.array([0], np.int64), np.array([False]), np.array([0], np.int64))


def test_one_read_by_hand_on_gddr6():
    """GDDR6 (DRAMsim3's GDDR6_8Gb_x16 currents), 8 devices, tCK 0.66 ns, one read: one ACT, one
    RD, the row open from the ACT to the end, precharge standby before it."""
    s = run("gddr6-dramsim3", one_read())
    assert s["commands"] == {"ACT": 1, "RD": 1}
    e = s["energy"]
    # E_ACT = VDD (IDD0 tRC - (IDD3N tRAS + IDD2N tRP)) x devices x tCK
    #       = 1.35 (71 x 78 - (61 x 54 + 60 x 24)) x 8 x 0.66 = 1.35 x 804 x 8 x 0.66
    assert e["ACT_pJ"] == pytest.approx(5730.912, rel=1e-12)
    # E_RD = VDD (IDD4R - IDD3N) tBL x devices x tCK = 1.35 x 187 x 1 x 8 x 0.66
    assert e["RD_pJ"] == pytest.approx(1332.936, rel=1e-12)
    # background: IDD3N while the row is open, IDD2N before; one channel
    active, total = s["active_cycles"], s["simulated_cycles"]
    assert 0 < active < total
    assert e["background_active_pJ"] == pytest.approx(1.35 * 61 * 8 * 0.66 * active, rel=1e-12)
    assert e["background_precharged_pJ"] == pytest.approx(1.35 * 60 * 8 * 0.66 * (total - active), rel=1e-12)
    assert e["total_pJ"] == pytest.approx(sum(v for k, v in e.items() if k.endswith("_pJ") and k != "total_pJ"))
    # average power: pJ per ns is mW
    assert e["average_power_mW"] == pytest.approx(e["total_pJ"] / (total * 0.66), rel=1e-12)


def test_one_read_by_hand_on_ddr4():
    """DDR4-3200 (DRAMsim3's DDR4_8Gb_x8_3200 currents), 8 x8 devices, tCK 0.625 ns."""
    s = run("ddr4-3200", one_read())
    e = s["energy"]
    # E_ACT = 1.2 (57 x 74 - (52 x 52 + 37 x 22)) x 8 x 0.625 = 1.2 x 700 x 5
    assert e["ACT_pJ"] == pytest.approx(4200.0, rel=1e-12)
    # E_RD = 1.2 (168 - 52) x nBL 4 x 8 x 0.625
    assert e["RD_pJ"] == pytest.approx(2784.0, rel=1e-12)


def test_refresh_and_writes_by_hand_on_hbm2():
    """HBM2 (DRAMsim3's HBM2_8Gb_x128 currents), one device per channel, tCK 1 ns."""
    s = run("hbm2-dramsim3", prefix(make_trace("mix"), 20000))
    e, c = s["energy"], s["commands"]
    assert c["REFab"] > 0 and c["WR"] > 0
    assert e["WR_pJ"] == pytest.approx(c["WR"] * 1.2 * (500 - 55) * 2 * 1 * 1.0, rel=1e-12)
    assert e["REFab_pJ"] == pytest.approx(c["REFab"] * 1.2 * (250 - 55) * 260 * 1 * 1.0, rel=1e-12)
    assert e["commands_without_energy"] == []


@pytest.mark.parametrize("preset", ["gddr6-dramsim3", "hbm2-dramsim3"])
@pytest.mark.parametrize("kind", ["seq", "rand", "mix"])
def test_command_energies_equal_dramsim3(preset, kind):
    """Same commands, same currents: the ACT/RD/WR energies are DRAMsim3's (its unit is
    V x mA x cycles: ours divided by tCK in ns)."""
    ref = yaml.safe_load(PEERS.read_text())["dramsim3_energy_first_2000"][preset][kind]
    s = run(preset, prefix(make_trace(kind), 2000))
    tck_ns = s["tCK_ps"] / 1000
    assert (s["commands"]["ACT"], s["commands"].get("RD", 0), s["commands"].get("WR", 0)) == (
        ref["ACT"], ref["RD"], ref["WR"])
    e = s["energy"]
    assert e["ACT_pJ"] / tck_ns == pytest.approx(ref["act_energy"], rel=1e-9)
    assert e.get("RD_pJ", 0.0) / tck_ns == pytest.approx(ref["read_energy"], rel=1e-9)
    assert e.get("WR_pJ", 0.0) / tck_ns == pytest.approx(ref["write_energy"], rel=1e-9, abs=1e-9)


def test_a_preset_without_currents_reports_no_energy():
    s = run("gddr6-14gbps", one_read())
    assert s["energy"] == {} and s["active_cycles"] > 0


def test_active_cycles_never_exceed_the_run():
    """Every channel's active time fits in the run, on a trace that keeps rows open and closes
    them (mix) and on both controllers."""
    for preset in ("gddr6-14gbps", "gddr6-dramsim3", "hbm2-dramsim3", "hbm3-6400"):
        cfg = resolve_preset(preset).spec.dram
        s = simulate_trace(cfg, prefix(make_trace("mix"), 3000)).stats
        assert 0 < s["active_cycles"] <= cfg.organization.channels * s["simulated_cycles"], preset
