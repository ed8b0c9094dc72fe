"""The DRAM model: rule tables, exact agreement with Ramulator 2.0, rule probes, properties."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_with_and_without_jit

import accsim.validation
from accsim.arch.dram.checker import check_commands
from accsim.arch.dram.patterns import make_trace, prefix
from accsim.arch.dram.spec import map_addresses
from accsim.arch.dram.standards import DRAM_COMMANDS as COMMANDS
from accsim.arch.dram.trace import simulate_trace
from accsim.cli import main
from accsim.core.errors import ConfigError
from accsim.core.presets import resolve_preset
from accsim.core.traces import Trace, write_trace

CMD = {name: i for i, name in enumerate(COMMANDS)}

REF = Path(accsim.validation.__file__).parent / "reference" / "dram"
PEERS = yaml.safe_load((REF / "peers.yaml").read_text())
COMPAT = {"ram2_GDDR6": "gddr6-ram2compat", "ram2_HBM2_1ch": "hbm2-ram2compat"}

pytestmark = pytest.mark.unit


def dram(preset, **overrides):
    return resolve_preset(preset, overrides).spec.dram


def parse_effective(path):
    rows = set()
    for line in path.read_text().splitlines():
        m = re.match(r"\s+(\w+)\s+(\w+)\s+->\s+(\w+)\s+=\s+(\d+)(?:\s+window=(\d+))?", line)
        if m:
            level, prev, nxt, lat, win = m.groups()
            rows.add((level, prev, nxt, int(lat), int(win or 1)))
    return rows


@pytest.mark.golden
@pytest.mark.parametrize("cfg_name", sorted(COMPAT))
def test_compat_rule_table_equals_the_peers_effective_table(cfg_name):
    config = dram(COMPAT[cfg_name])
    compiled = config.compiled_rules().table()
    ours = {(config.levels()[lvl], prev, nxt, lat, win) for lvl, prev, nxt, lat, win in compiled}
    assert ours == parse_effective(REF / f"{cfg_name}.effective.txt")


def golden_commands(cfg_name, kind, channel):
    lines = (REF / "cmdtrace" / cfg_name / kind / f"cmd.trace.ch{channel}").read_text().splitlines()
    return [line.split(", ") for line in lines if line.strip()]


def local_commands(config, log, channel):
    sizes, n = config.level_sizes(), len(config.levels())
    out = []
    for row in log[log[:, 2] == channel]:
        nodes = [int(row[2])] + [int(row[2 + i]) % int(sizes[i]) for i in range(1, n)]
        out.append([str(int(row[0])), COMMANDS[int(row[1])], *map(str, nodes), str(int(row[2 + n])),
                    str(int(row[3 + n]))])
    return out


@pytest.mark.golden
@pytest.mark.parametrize("cfg_name", sorted(COMPAT))
@pytest.mark.parametrize("kind", ["seq", "rand", "mix"])
def test_first_2000_requests_match_ramulator_command_for_command(cfg_name, kind):
    """Golden: Ramulator 2.0 command traces and driver figures for the first 2000 requests."""
    config = dram(COMPAT[cfg_name])
    result = simulate_trace(config, prefix(make_trace(kind), 2000), max_log=100_000)
    ref = PEERS["first_2000_requests"][f"{cfg_name}/{kind}"]
    # the peer's driver stops when the last read returns; we go on draining posted writes
    log = result.commands[result.commands[:, 0] <= ref["T_rd_done"] + 1]
    for channel in range(config.organization.channels):
        assert local_commands(config, log, channel) == golden_commands(cfg_name, kind, channel)
    assert result.stats["accept_cycles"] == ref["T_accept"]
    assert result.stats["total_cycles"] == ref["T_rd_done"]
    assert result.stats["avg_read_latency_cycles"] == pytest.approx(ref["avg_read_latency_cycles"], abs=1e-4)


@pytest.mark.golden
@pytest.mark.parametrize("kind", ["seq", "rand", "mix"])
def test_first_2000_requests_match_dramsim3_command_for_command(kind):
    """Golden: DRAMsim3's command trace for the first 2000 requests, through the per-bank
    controller of gddr6-dramsim3. DRAMsim3 ran on past the trace (refreshes) and read one
    extra, duplicate request at its end: its trace may only be longer by those commands."""
    config = dram("gddr6-dramsim3")
    trace = prefix(make_trace(kind), 2000)
    log = simulate_trace(config, trace, max_log=100_000).commands
    ours = [[str(int(r[0])), COMMANDS[int(r[1])], str(int(r[4]) % 16 if r[4] >= 0 else -1),
             str(int(r[5])), str(int(r[6]))] for r in log]
    gold = golden_commands("dramsim3_GDDR6", kind, 0)
    for lines in (ours, gold):   # compare what both log: rows of ACT/RD/WR, columns of RD/WR
        for line in lines:
            if line[1] in ("PRE", "REFab"):
                line[3] = "*"
            if line[1] not in ("RD", "WR"):
                line[4] = "*"
            if line[1] == "REFab":
                line[2] = "-1"
    assert ours == gold[:len(ours)]
    last_row = int(map_addresses(config, trace.addr[-1:])["row"][0])
    assert all(line[1] == "REFab" or int(line[3] if line[3] != "*" else last_row) == last_row
               for line in gold[len(ours):])


@pytest.mark.slow
@pytest.mark.validation
@pytest.mark.parametrize("kind", ["seq", "rand", "mix"])
def test_million_request_runs_match_dramsim3(kind):
    stats = simulate_trace(dram("gddr6-dramsim3"), make_trace(kind)).stats
    ref = PEERS["full_runs"][f"dramsim3/GDDR6_8Gb_x16/{kind}"]
    assert stats["total_cycles"] == ref["T_rd_done"]
    assert stats["avg_read_latency_cycles"] == pytest.approx(ref["avg_read_latency_cycles"], abs=1e-2)


@pytest.mark.slow
@pytest.mark.validation
@pytest.mark.parametrize("cfg_name", sorted(COMPAT))
@pytest.mark.parametrize("kind", ["seq", "rand", "mix"])
def test_million_request_runs_match_ramulator(cfg_name, kind):
    stats = simulate_trace(dram(COMPAT[cfg_name]), make_trace(kind)).stats
    ref = PEERS["full_runs"][f"ramulator2/{cfg_name}/{kind}"]
    assert stats["total_cycles"] == ref["T_rd_done"]
    assert stats["avg_read_latency_cycles"] == pytest.approx(ref["avg_read_latency_cycles"], abs=1e-3)


def test_address_mapping_robaracoch():
    config = dram("gddr6-ram2compat")
    # 64 B accesses: bit 6 channel, 7 column bits, 2 bank-group bits, 2 bank bits, then row
    addr = np.array([(((5 << 2 | 3) << 2 | 1) << 7 | 9) << 7 | 1 << 6], dtype=np.int64)
    f = map_addresses(config, addr)
    assert (f["channel"][0], f["column"][0], f["bankgroup"][0], f["bank"][0], f["row"][0]) == (1, 9, 1, 3, 5)


# ---- rule probes at n-1 and n ---------------------------------------------------------------
def log_of(config, rows):
    """Build a command log from (cycle, command, bankgroup, bank, row) on channel 0."""
    sizes = config.level_sizes()
    out = []
    for cycle, cmd, bg, bank, row in rows:
        out.append([cycle, CMD[cmd], 0, bg, bg * sizes[2] + bank, row, 0])
    return np.array(out, dtype=np.int64)


PROBES = [
    # (timing name, first command(s), probed command) on GDDR6, channel 0
    ("nRCDRD", [("ACT", 0, 0, 7)], ("RD", 0, 0, 7)),
    ("nRCDWR", [("ACT", 0, 0, 7)], ("WR", 0, 0, 7)),
    ("nRAS", [("ACT", 0, 0, 7)], ("PRE", 0, 0, -1)),
    ("nRRDS", [("ACT", 0, 0, 7)], ("ACT", 1, 0, 8)),
    ("nRRDL", [("ACT", 0, 0, 7)], ("ACT", 0, 1, 8)),
]


@pytest.mark.parametrize("name, before, probe", PROBES)
def test_checker_enforces_rule_exactly_at_n(name, before, probe):
    config = dram("gddr6-14gbps")
    n = config.timing[name]
    history = [(0, *cmd) for cmd in before]
    early = check_commands(config, log_of(config, history + [(n - 1, *probe)]))
    on_time = check_commands(config, log_of(config, history + [(n, *probe)]))
    assert early is not None and name in early.rule, str(early)
    assert on_time is None, str(on_time)


def test_checker_enforces_four_activate_window():
    config = dram("gddr6-14gbps")
    t = config.timing
    acts = [(i * t["nRRDL"], "ACT", i % 4, i // 4, 7) for i in range(4)]
    fifth = t["nFAW"]
    assert check_commands(config, log_of(config, acts + [(fifth, "ACT", 0, 2, 7)])) is None
    violation = check_commands(config, log_of(config, acts + [(fifth - 1, "ACT", 0, 2, 7)]))
    assert violation is not None and "window 4" in violation.rule


def test_checker_rejects_bad_bank_state():
    config = dram("gddr6-14gbps")
    v = check_commands(config, log_of(config, [(0, "RD", 0, 0, 7)]))
    assert v is not None and "closed" in v.rule
    v = check_commands(config, log_of(config, [(0, "ACT", 0, 0, 7), (100, "ACT", 0, 0, 9)]))
    assert v is not None and "still open" in v.rule


@pytest.mark.parametrize("name", ["nRCDRD", "nRP", "nBL"])
def test_scheduler_issues_exactly_when_the_rule_allows(name):
    """Kernel probes: two requests whose second command is held by exactly one rule."""
    config = dram("gddr6-14gbps", **{"dram.controller.refresh": "off"})
    t = config.timing
    row_bits = 6 + 1 + 7 + 2 + 2     # offset, channel, column, bank group, bank
    if name == "nRCDRD":
        addrs, gap = [0], ("ACT", "RD", t["nRCDRD"])
    elif name == "nRP":          # same bank, two rows: ACT RD PRE ACT
        addrs, gap = [0, 1 << row_bits], ("PRE", "ACT", t["nRP"])
    else:                        # same row, two columns: the data bus holds the second RD
        addrs, gap = [0, 1 << 7], ("RD", "RD", t["nBL"])
        assert t["nBL"] > max(t["nCCDS"], t["nCCDL"])
    trace = Trace(np.array(addrs, np.int64), np.zeros(len(addrs), bool), np.zeros(len(addrs), np.int64))
    log = simulate_trace(config, trace, max_log=100).commands
    cmds = [COMMANDS[c] for c in log[:, 1]]
    first = cmds.index(gap[0])
    second = first + 1 + cmds[first + 1:].index(gap[1])
    assert log[second, 0] - log[first, 0] == gap[2]


# ---- properties --------------------------------------------------------------------------------
@st.composite
def request_streams(draw):
    n = draw(st.integers(1, 120))
    rows = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    banks = draw(st.lists(st.integers(0, 63), min_size=n, max_size=n))
    cols = draw(st.lists(st.integers(0, 7), min_size=n, max_size=n))
    writes = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return rows, banks, cols, writes


def stream_trace(config, rows, banks, cols, writes):
    """A trace whose requests hit the drawn rows, banks and columns under RoBaRaCoCh."""
    tx = config.organization.tx_bytes
    bank_stride = tx * config.organization.column_accesses * config.organization.channels
    addr = np.array([(r * 64 + b) * bank_stride * 4 + c * tx * config.organization.channels
                     for r, b, c in zip(rows, banks, cols)], dtype=np.int64)
    return Trace(addr, np.array(writes, bool), np.zeros(len(addr), np.int64))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request_streams(), st.sampled_from(["gddr6-14gbps", "hbm2-2gbps", "gddr6-ram2compat",
                                            "ddr4-3200", "ddr5-3200", "lpddr5-6400", "hbm3-7200"]),
       st.sampled_from(["open", "closed"]))
def test_random_streams_obey_every_rule(stream, preset, row_policy):
    rows, banks, cols, writes = stream
    t = dram(preset).timing     # refresh often, but leave time between refreshes
    config = dram(preset, **{"dram.timing.nREFI": max(400, t["nRFC"] + t["nRP"] + 100),
                             "dram.controller.row_policy": row_policy})
    trace = stream_trace(config, rows, banks, cols, writes)
    result = simulate_trace(config, trace, max_log=1_000_000)
    violation = check_commands(config, result.commands)
    assert violation is None, str(violation)
    s = result.stats
    n_reads = len(writes) - sum(writes)
    assert s["reads"] == n_reads
    if n_reads > s["reads_forwarded"]:
        assert s["avg_read_latency_cycles"] >= config.timing["nCL"] + config.timing["nBL"]
    issued_rw = sum(s["commands"].get(c, 0) for c in ("RD", "RDA"))
    assert issued_rw == n_reads - s["reads_forwarded"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request_streams(), st.sampled_from(["gddr6-dramsim3", "gddr6-14gbps", "hbm2-dramsim3"]))
def test_random_streams_through_per_bank_queues_obey_every_rule(stream, preset):
    """The per-bank controller (with dual row + column issue on hbm2-dramsim3): every command
    legal, every read served once (merged reads and reads of a pending write's data need no
    command of their own), no write issued twice."""
    rows, banks, cols, writes = stream
    config = dram(preset, **{"dram.timing.nREFI": 400, "dram.controller.scheduler": "per_bank"})
    trace = stream_trace(config, rows, banks, cols, writes)
    result = simulate_trace(config, trace, max_log=1_000_000)
    violation = check_commands(config, result.commands)
    assert violation is None, str(violation)
    reads = ~np.array(writes, bool)
    assert np.all(result.depart[reads] > result.arrive[reads])          # every read returned
    assert result.stats["commands"].get("RD", 0) <= int(reads.sum())
    assert result.stats["commands"].get("WR", 0) <= int(sum(writes))


def test_checker_catches_a_command_moved_one_cycle_early():
    config = dram("hbm2-2gbps")
    log = simulate_trace(config, prefix(make_trace("rand"), 300), max_log=10_000).commands
    assert check_commands(config, log) is None
    rd = int(np.flatnonzero(log[:, 1] == CMD["RD"])[5])
    moved = log.copy()
    act = max(i for i in range(rd) if moved[i, 1] == CMD["ACT"] and moved[i, 2 + 3] == moved[rd, 2 + 3])
    moved[rd, 0] = moved[act, 0] + config.timing["nRCDRD"] - 1
    moved = moved[np.argsort(moved[:, 0], kind="stable")]
    assert check_commands(config, moved) is not None


def test_write_only_trace_drains_every_write():
    config = dram("hbm2-2gbps")
    trace = Trace(np.arange(50, dtype=np.int64) * 4096, np.ones(50, bool), np.zeros(50, np.int64))
    stats = simulate_trace(config, trace).stats
    assert stats["commands"]["WR"] == 50 and stats["total_cycles"] == stats["writes_done_cycles"] > 0


def test_runs_are_deterministic():
    config = dram("gddr6-14gbps")
    a = simulate_trace(config, prefix(make_trace("mix"), 3000), max_log=50_000)
    b = simulate_trace(config, prefix(make_trace("mix"), 3000), max_log=50_000)
    assert a.stats.to_dict() == b.stats.to_dict()
    np.testing.assert_array_equal(a.commands, b.commands)


def test_bad_dram_config_is_refused():
    with pytest.raises(ConfigError, match="dram.timing.nRCDRDD: unknown timing parameter for GDDR6 "
                                          r"\(did you mean 'nRCDRD'\?\)"):
        dram("gddr6-14gbps", **{"dram.timing.nRCDRDD": 3}).check()
    with pytest.raises(ConfigError, match="not a power of two"):
        dram("gddr6-14gbps", **{"dram.organization.banks_per_group": 3}).check()
    with pytest.raises(ConfigError, match="nREFI: 300 leaves no time between refreshes"):
        dram("gddr6-14gbps", **{"dram.timing.nREFI": 300}).check()
    with pytest.raises(ConfigError, match="per_bank refreshes whole channels; HBM2 refreshes per pseudochannel"):
        dram("hbm2-2gbps", **{"dram.controller.scheduler": "per_bank"}).check()
    with pytest.raises(ConfigError, match="the per_bank scheduler keeps rows open"):
        dram("gddr6-dramsim3", **{"dram.controller.row_policy": "closed"}).check()


def test_memory_preset_is_not_an_llm_machine():
    from accsim import run
    with pytest.raises(ConfigError, match="accsim dram --standard gddr6-14gbps"):
        run(arch="gddr6-14gbps")


# ---- CLI ---------------------------------------------------------------------------------------
def test_dram_cli_runs_a_trace_and_dumps_commands(tmp_path, capsys):
    trace = tmp_path / "t.trace"
    write_trace(trace, prefix(make_trace("rand"), 500), "dramsim3")
    out, cmds = tmp_path / "s.json", tmp_path / "cmds.txt"
    assert main(["dram", "--standard", "hbm2-ram2compat", "--trace", str(trace), "--json", str(out),
                 "--dump-commands", str(cmds)]) == 0
    text = capsys.readouterr().out
    assert "avg_read_latency_cycles" in text and "row_conflicts" in text
    stats = json.loads(out.read_text())["stats"]
    assert stats["requests"] == 500 and stats["reads"] == 500
    lines = cmds.read_text().splitlines()
    assert lines[0].startswith("# cycle, command, channel, pseudochannel") and len(lines) == 1 + sum(
        stats["commands"].values())


def test_dram_cli_generates_the_reference_traces(tmp_path, capsys):
    """--generate runs the same requests as a trace file holding make_trace's output."""
    from accsim.arch.dram.cli import GENERATED_KINDS
    from accsim.arch.dram.patterns import KINDS
    assert GENERATED_KINDS == KINDS
    trace = tmp_path / "mix.trace"
    write_trace(trace, make_trace("mix", 3000), "ldst")
    stats = []
    for source in (["--generate", "mix", "3000"], ["--trace", str(trace)]):
        out = tmp_path / "s.json"
        assert main(["dram", "--standard", "gddr6-14gbps", *source, "--json", str(out), "--quiet"]) == 0
        stats.append(json.loads(out.read_text())["stats"])
    assert stats[0] == stats[1] and stats[0]["writes"] == 1000


@pytest.mark.parametrize("argv, message", [
    (["dram", "--standard", "gddr7", "--trace", "x"], "unknown preset 'gddr7'"),
    (["dram", "--standard", "t4", "--trace", "x"], "'t4' is a gpu preset, not a DRAM standard"),
    (["dram", "--standard", "gddr6-14gbps", "--trace", "missing.trace"], "cannot read trace"),
])
def test_dram_cli_errors(argv, message, capsys):
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_dram_cli_reports_malformed_trace_line(tmp_path, capsys):
    bad = tmp_path / "bad.trace"
    bad.write_text("LD 0x40\nLD 0xZZ\n")
    assert main(["dram", "--standard", "gddr6-14gbps", "--trace", str(bad)]) == 1
    assert f"{bad}:2: expected 'LD|ST <address>', got 'LD 0xZZ'" in capsys.readouterr().err


NOJIT_DRAM = """
import json
from accsim.arch.dram.patterns import make_trace, prefix
from accsim.arch.dram.trace import simulate_trace
from accsim.arch.pim.streams import CommandStreams, run_streams
from accsim.core.presets import resolve_preset
cfg = resolve_preset("gddr6-14gbps", {"dram.timing.nREFI": 500}).spec.dram
r = simulate_trace(cfg, prefix(make_trace("mix"), 60), max_log=10000)
aim = resolve_preset("gddr6-aim", {"dram.timing.nREFI": 400}).spec.dram
s = CommandStreams(2)
for c in range(2):
    s.add(c, "ACTab", row=1)
    for _ in range(30):
        s.add(c, "MACab", row=1)
    s.add(c, "RDMAC")
    s.add(c, "PREA")
s.barrier(20)
p = run_streams(aim, s, max_log=10000)
pb = simulate_trace(resolve_preset("gddr6-dramsim3").spec.dram, prefix(make_trace("mix"), 60), max_log=10000)
print(json.dumps([r.stats.to_dict(), r.commands.tolist(), p.stats.to_dict(), p.commands.tolist(),
                  pb.stats.to_dict(), pb.commands.tolist()]))
"""


@pytest.mark.kernel
def test_dram_kernels_agree_with_and_without_jit():
    """The DRAM and PIM-stream kernels also run as plain Python (NUMBA_DISABLE_JIT=1)."""
    nojit, jit = run_with_and_without_jit(NOJIT_DRAM)
    assert nojit == jit


def test_ddr4_streams_within_its_bank_group_limit():
    """DDR4-3200 (25.6 GB/s peak): sequential reads under RoBaRaCoCh stay in one bank group, so
    reads issue at most every nCCDL = 8 cycles (half the peak) except where rows change over
    to another bank; refresh and row changes cost the rest. No two-cycle commands (DDR5's nCMD)."""
    from accsim.arch.dram.standards import DDR4
    assert all("nCMD" not in rule.latency for rule in DDR4.rules)
    s = simulate_trace(dram("ddr4-3200"), prefix(make_trace("seq"), 50_000)).stats
    peak_GBps = 3200e6 * 8 / 1e9
    assert peak_GBps / 2 * 0.9 < s["bandwidth_GBps"] < peak_GBps
    assert s["row_hits"] > 0.98 * 50_000


def test_lpddr5_activates_in_two_commands_and_streams_within_its_bank_group_limit():
    """LPDDR5-6400, four x16 channels (51.2 GB/s peak): an activation holds the command bus for
    ACT-1 and ACT-2, so nothing issues on a channel in the cycle after an ACT; all banks close
    in nRPab. Sequential reads stay in one bank group per channel (RoBaRaCoCh), so a channel
    reads every nCCDL = 4 cycles, not every BL16 burst (nBL = 2): at most half the peak, minus
    refresh (tRFCab / tREFI = 5.4%) and row changes."""
    from accsim.arch.dram.standards import LPDDR5
    config = dram("lpddr5-6400")
    result = simulate_trace(config, prefix(make_trace("rand"), 20_000), max_log=1_000_000)
    assert check_commands(config, result.commands) is None
    log = result.commands           # rows: cycle, command code, channel, bank group, bank, row, column
    acts = log[log[:, 1] == LPDDR5.code("ACT")]
    assert len(acts) > 1000
    issued = {(int(cycle), int(channel)) for cycle, channel in log[:, [0, 2]]}
    assert not any((int(cycle) + 1, int(channel)) in issued for cycle, channel in acts[:, [0, 2]])
    assert any(rule.latency == "nRPab" for rule in LPDDR5.rules)
    s = simulate_trace(config, prefix(make_trace("seq"), 50_000)).stats
    peak_GBps = 6400e6 * 2 * 4 / 1e9
    assert peak_GBps / 2 * (1 - 168 / 3125) * 0.8 < s["bandwidth_GBps"] < peak_GBps / 2
