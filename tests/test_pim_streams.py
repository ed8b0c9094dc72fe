"""PIM command streams: PIM timing rules, in-order issue, refresh at boundaries, barriers."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accsim.arch.dram.checker import check_commands
from accsim.arch.pim.standards import CMD, COMMANDS
from accsim.arch.pim.streams import CommandStreams, run_streams
from accsim.core.errors import ConfigError
from accsim.core.presets import resolve_preset

pytestmark = pytest.mark.unit


def aim(**overrides):
    return resolve_preset("gddr6-aim", overrides).spec.dram


def gemv_tile(streams, channel, row, n_gb_writes, n_macs):
    streams.add(channel, "ACTab", row=row)
    for _ in range(n_gb_writes):
        streams.add(channel, "WRGB")
    for _ in range(n_macs):
        streams.add(channel, "MACab", row=row)
    streams.add(channel, "RDMAC")
    streams.add(channel, "PREA")


def cycles_of(result, command):
    return [int(r[0]) for r in result.commands if COMMANDS[r[1]] == command]


def test_mac_timing_is_exact():
    config = aim(**{"dram.controller.refresh": "off"})
    t = config.timing
    streams = CommandStreams(2)
    for c in range(2):
        gemv_tile(streams, c, row=3, n_gb_writes=1, n_macs=8)
    result = run_streams(config, streams, max_log=1000)
    ch0 = result.commands[result.commands[:, 2] == 0]
    cyc = {COMMANDS[r[1]]: [] for r in ch0}
    for r in ch0:
        cyc[COMMANDS[r[1]]].append(int(r[0]))
    act, macs, rdmac, prea = cyc["ACTab"][0], cyc["MACab"], cyc["RDMAC"][0], cyc["PREA"][0]
    assert macs[0] - act == max(t["nRCDRDMAC"], 1 + t["nCWL"] + t["nBL"])
    assert np.all(np.diff(macs) == t["nCCD_MAC"])
    assert rdmac - macs[-1] == t["nMAC_LAT"]
    assert prea == max(act + t["nRAS"], macs[-1] + t["nRTP"], rdmac + 1)
    assert check_commands(config, result.commands) is None


def test_refresh_is_served_at_command_boundaries_and_rows_reopen():
    config = aim(**{"dram.timing.nREFI": 300})
    streams = CommandStreams(2)
    for c in range(2):
        for row in range(4):
            gemv_tile(streams, c, row, n_gb_writes=2, n_macs=200)
    result = run_streams(config, streams, max_log=100_000)
    # one refresh per channel per elapsed interval, none skipped
    per_channel = result.stats["total_cycles"] // 300
    assert result.stats["refreshes"] >= 2 * (per_channel - 1)
    # the checker requires every MACab's row to be open in all banks: so rows closed for a
    # refresh were activated again before the tile went on
    assert check_commands(config, result.commands) is None
    assert result.stats["stream_commands"]["ACTab"] == 8


def test_barrier_joins_channels_after_the_last_arrival():
    config = aim(**{"dram.controller.refresh": "off"})
    streams = CommandStreams(2)
    gemv_tile(streams, 0, 0, 1, 100)
    gemv_tile(streams, 1, 0, 1, 10)
    b = streams.barrier(latency_cycles=50)
    for c in range(2):
        streams.add(c, "ACTab", row=5)
    result = run_streams(config, streams, max_log=1000)
    last_ch0 = max(int(r[0]) for r in result.commands if r[2] == 0 and COMMANDS[r[1]] == "PREA")
    assert result.barrier_release[b] == last_ch0 + 1 + 50
    for c in range(2):
        act = [int(r[0]) for r in result.commands if r[2] == c and COMMANDS[r[1]] == "ACTab"][-1]
        assert act >= result.barrier_release[b]
    assert result.stats["barrier_wait_cycles"] > 0


def test_checker_rejects_mac_on_a_closed_row():
    config = aim()
    log = np.array([[0, CMD["ACTab"], 0, -1, -1, 4, -1], [200, CMD["MACab"], 0, -1, -1, 5, -1]], np.int64)
    violation = check_commands(config, log)
    assert violation is not None and "every bank" in violation.rule
    early = np.array([[0, CMD["ACTab"], 0, -1, -1, 4, -1], [55, CMD["MACab"], 0, -1, -1, 4, -1]], np.int64)
    assert "nRCDRDMAC" in check_commands(config, early).rule


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 7), st.integers(0, 4), st.integers(1, 40)),
                min_size=1, max_size=12), st.integers(300, 2000))
def test_random_pim_programs_obey_every_rule(tiles, refresh_interval):
    config = aim(**{"dram.timing.nREFI": refresh_interval})
    streams = CommandStreams(2)
    for channel, row, writes, macs in tiles:
        gemv_tile(streams, channel, row, writes, macs)
    streams.barrier(10)
    result = run_streams(config, streams, max_log=1_000_000)
    assert check_commands(config, result.commands) is None
    assert result.stats["stream_commands"]["MACab"] == sum(t[3] for t in tiles)


def test_stream_errors():
    with pytest.raises(ConfigError, match="stream command 'MAC'"):
        CommandStreams(2).add(0, "MAC")
    with pytest.raises(ConfigError, match="3 channels, the memory has 2"):
        run_streams(aim(), CommandStreams(3))


def _compressed(arrays):
    """The same streams with each run of identical commands (per channel) as one counted entry."""
    ptr, cmd, bank, row, arg, count, latency = arrays
    keep, new_ptr = [], [0]
    for c in range(len(ptr) - 1):
        for e in range(ptr[c], ptr[c + 1]):
            same = (keep and e > ptr[c] and cmd[e] == cmd[e - 1] and bank[e] == bank[e - 1]
                    and row[e] == row[e - 1] and arg[e] == arg[e - 1] and cmd[e] != 100)
            if not same:
                keep.append(e)
        new_ptr.append(len(keep))
    keep = np.array(keep)
    ends = np.append(keep[1:], len(cmd))
    counts = (ends - keep).astype(np.int32)
    return (np.array(new_ptr, np.int64), cmd[keep], bank[keep], row[keep], arg[keep], counts, latency), keep


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 7), st.integers(0, 4), st.integers(1, 300)),
                min_size=1, max_size=10), st.integers(300, 3000), st.booleans())
def test_counted_runs_issue_exactly_as_one_command_per_entry(tiles, refresh_interval, refresh_on):
    """A run of identical commands as one counted entry takes the kernel's run shortcut (spacing
    in closed form, cut where a refresh falls due); the same streams with one command per entry
    and a command log take the general path for every command. Both give the same cycle for
    every run's first and last command, the same channel ends, refreshes and barrier releases."""
    from accsim.arch.pim import kernels as K
    config = aim(**{"dram.timing.nREFI": refresh_interval,
                    "dram.controller.refresh": "allbank" if refresh_on else "off"})
    streams = CommandStreams(2)
    for channel, row, writes, macs in tiles:
        gemv_tile(streams, channel, row, writes, macs)
    streams.barrier(10)
    for c in range(2):
        gemv_tile(streams, c, 1, 2, 30)
    expanded = streams.arrays()
    counted, first_of = _compressed(expanded)
    rules = config.compiled_rules()
    common = (config.level_sizes(), refresh_interval if refresh_on else 0, rules.ptr, rules.following,
              rules.latency, rules.window, rules.scope)
    f1, l1, stats1, release1, _ = K.simulate_streams(*counted, *common, 0)
    room = 2 * len(expanded[1]) + 10_000          # every command and the refreshes' own
    f2, l2, stats2, release2, log = K.simulate_streams(*expanded, *common, room)
    last_of = np.append(first_of[1:], len(expanded[1])) - 1
    assert np.array_equal(f1, f2[first_of]) and np.array_equal(l1, l2[last_of])
    assert np.array_equal(stats1, stats2) and np.array_equal(release1, release2)
    assert check_commands(config, log) is None
