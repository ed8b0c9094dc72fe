"""Timed traces: no request reaches the controller before its arrival cycle (both controllers),
a gap in the trace shows in the run, and a trace whose cycles go backwards is refused."""
import numpy as np
import pytest

from accsim.arch.dram.checker import check_commands
from accsim.arch.dram.trace import simulate_trace
from accsim.core.errors import TraceFormatError
from accsim.core.presets import resolve_preset
from accsim.core.traces import Trace

pytestmark = pytest.mark.unit
PRESETS = ["gddr6-ram2compat", "gddr6-dramsim3", "hbm2-2gbps", "gddr6-14gbps"]


def timed(addr, cycle, write=None):
    addr = np.asarray(addr, np.int64)
    return Trace(addr, np.zeros(addr.size, bool) if write is None else np.asarray(write, bool),
                 np.asarray(cycle, np.int64))


@pytest.mark.parametrize("preset", PRESETS)
def test_a_gap_in_the_trace_is_waited_for(preset):
    config = resolve_preset(preset).spec.dram
    alone = simulate_trace(config, timed([0x40], [0])).stats
    gap = simulate_trace(config, timed([0x0, 0x40], [0, 1_000_000])).stats
    assert gap["total_cycles"] == 1_000_000 + alone["total_cycles"]
    assert gap["avg_read_latency_cycles"] < 2 * alone["avg_read_latency_cycles"]


@pytest.mark.parametrize("preset", PRESETS)
def test_no_request_arrives_before_its_cycle(preset):
    config = resolve_preset(preset).spec.dram
    rng = np.random.default_rng(7)
    n = 400
    cycle = np.cumsum(rng.integers(0, 40, n))
    addr = rng.integers(0, 1 << 28, n) * 64
    result = simulate_trace(config, timed(addr, cycle, rng.random(n) < 0.3), max_log=100_000)
    assert np.all(result.arrive >= cycle)
    assert check_commands(config, result.commands) is None
    untimed = simulate_trace(config, timed(addr, np.zeros(n), rng.random(n) < 0.3))
    assert result.stats["total_cycles"] >= untimed.stats["total_cycles"]


def test_arrival_cycles_change_nothing_when_the_controller_is_the_bottleneck():
    """Arrivals earlier than the frontend could offer them anyway give the untimed run exactly."""
    config = resolve_preset("gddr6-ram2compat").spec.dram
    addr = np.arange(2000, dtype=np.int64) * 64
    a = simulate_trace(config, timed(addr, np.zeros(2000))).stats
    b = simulate_trace(config, timed(addr, np.arange(2000) // 4)).stats
    assert a == b


@pytest.mark.parametrize("cycle, message", [([5, 3], "request 2: arrival cycle 3 is before the previous"),
                                            ([-1, 3], "request 1: arrival cycle -1 is negative")])
def test_cycles_going_backwards_are_refused(cycle, message):
    config = resolve_preset("gddr6-ram2compat").spec.dram
    with pytest.raises(TraceFormatError, match=message):
        simulate_trace(config, timed([0, 64], cycle))


@pytest.mark.parametrize("preset", PRESETS)
def test_idle_gaps_are_skipped_exactly(preset):
    """Long idle gaps (refreshes of closed banks, nothing queued) are counted, not stepped:
    every figure equals the run that steps through them (a command log turns the skip off),
    and a gap of 1e12 cycles takes a handful of kernel events, not one per refresh period."""
    config = resolve_preset(preset).spec.dram
    rng = np.random.default_rng(3)
    n = 60
    gaps = np.where(rng.random(n) < 0.2, rng.integers(200_000, 3_000_000, n), rng.integers(0, 30, n))
    cycle = np.cumsum(gaps)
    trace = timed(rng.integers(0, 1 << 26, n) * 64, cycle, rng.random(n) < 0.3)
    skipped = simulate_trace(config, trace)
    stepped = simulate_trace(config, trace, max_log=10_000_000)
    bookkeeping = ("events", "commands_not_logged")      # how the run went, not what it simulated
    figures = lambda r: {k: v for k, v in r.stats.to_dict().items() if not any(b in k for b in bookkeeping)}
    assert figures(skipped) == figures(stepped)
    assert np.array_equal(skipped.arrive, stepped.arrive) and np.array_equal(skipped.depart, stepped.depart)
    far = simulate_trace(config, timed([0x0, 0x40], [0, 10**12])).stats
    assert far["total_cycles"] >= 10**12
    assert far["events"] < 10_000             # not ~1e8 refresh periods, one event loop each
