"""The DRAM component's interface for other families: cycle-level service and characterised tiers."""
import dataclasses

import numpy as np
import pytest

from accsim.arch.dram import tier
from accsim.arch.dram.trace import simulate_trace
from accsim.core.errors import ConfigError
from accsim.core.presets import resolve_preset
from accsim.core.traces import Trace

pytestmark = pytest.mark.unit


def dram(preset, **organization):
    config = resolve_preset(preset).spec.dram
    return dataclasses.replace(config, organization=dataclasses.replace(config.organization, **organization))


@pytest.mark.parametrize("preset", ["gddr6-14gbps", "hbm2-2gbps", "hbm3-6400"])
def test_characterised_tier_is_bounded_by_its_bus_and_streaming_beats_random(preset):
    config = dram(preset)
    streaming = tier.characterise(config, "streaming", requests=5000)
    random = tier.characterise(config, "random", requests=5000)
    for t in (streaming, random):
        assert 0 < t.bandwidth_GBps <= t.bus_peak_GBps
        assert t.read_latency_ns >= t.idle_read_latency_ns > 0
    assert streaming.bandwidth_GBps > random.bandwidth_GBps and streaming.row_hit_pct > 80 > random.row_hit_pct
    assert tier.characterise(config, "streaming", requests=5000) is streaming     # cached


def test_serve_gives_the_cycle_level_completions():
    config = dram("gddr6-14gbps", channels=1)
    addr, is_write = tier.pattern_requests(config, "random", 3000, write_fraction=0.3, seed=4)
    done = tier.serve(config, addr, is_write)
    reference = simulate_trace(config, Trace(addr, is_write, np.zeros(addr.size, np.int64)))
    assert np.array_equal(done[~is_write], reference.depart[~is_write])
    assert np.array_equal(done[is_write], reference.arrive[is_write])     # posted writes
    assert np.all(done[~is_write] > reference.arrive[~is_write])
    # the characterised bandwidth is what serving the same stream gives
    t = tier.characterise(config, "random", requests=3000, write_fraction=0.3, seed=4)
    moved = addr.size * config.organization.tx_bytes
    assert t.bandwidth_GBps == pytest.approx(reference.stats["bandwidth_GBps"])
    assert t.transfer_s(moved) == pytest.approx(t.idle_read_latency_ns * 1e-9 + moved / (t.bandwidth_GBps * 1e9))


@pytest.mark.parametrize("pattern", ["streaming", "random"])
def test_one_channel_characterisation_scales_to_the_whole_tier(pattern):
    """Where the trace front-end does not bind (two GDDR6 channels), simulating every channel
    at once gives the bandwidth the per-channel characterisation predicts."""
    config = dram("gddr6-14gbps", channels=2)
    t = tier.characterise(config, pattern, requests=8000)
    addr, is_write = tier.pattern_requests(config, pattern, 16000)
    whole = simulate_trace(config, Trace(addr, is_write, np.zeros(addr.size, np.int64))).stats
    assert whole["bandwidth_GBps"] == pytest.approx(t.bandwidth_GBps, rel=0.05)


def test_bad_pattern_requests_are_refused_with_every_problem():
    with pytest.raises(ConfigError) as err:
        tier.pattern_requests(dram("gddr6-14gbps"), "zigzag", 0, write_fraction=2.0)
    text = str(err.value)
    assert "pattern: expected one of streaming, random" in text and "requests" in text and "write_fraction" in text
    with pytest.raises(ConfigError, match="1-D of one length"):
        tier.serve(dram("gddr6-14gbps"), np.zeros(3, np.int64), np.zeros(2, bool))
