"""An all-to-all pays a fixed and a per-peer cost on top of its wire time (CloudMatrix384
Table 6's dispatch grows with the EP degree at almost constant bytes)."""
import pytest

from accsim.arch.npu.tiles import CollectiveKernel, simulate_kernel
from accsim.engine.collectives import ALL_REDUCE, ALL_TO_ALL
from accsim.presets import resolve_preset

pytestmark = pytest.mark.unit


def cycles(spec, code, payload, group):
    return simulate_kernel(spec, CollectiveKernel(code, payload, group)).cycles


def test_each_peer_adds_its_cost_and_the_wire_time_is_unchanged():
    base = resolve_preset("ascend-910c", {"system.all_to_all_fixed_us": 0, "system.all_to_all_per_peer_us": 0}).spec
    spec = resolve_preset("ascend-910c", {"system.all_to_all_fixed_us": 10, "system.all_to_all_per_peer_us": 0.5}).spec
    us = spec.clock_hz * 1e-6
    for group in (2, 8, 256):
        extra = cycles(spec, ALL_TO_ALL, 1 << 20, group) - cycles(base, ALL_TO_ALL, 1 << 20, group)
        assert extra == pytest.approx((10 + 0.5 * (group - 1)) * us, abs=1)
    assert cycles(spec, ALL_REDUCE, 1 << 20, 8) == cycles(base, ALL_REDUCE, 1 << 20, 8)
    assert cycles(spec, ALL_TO_ALL, 1 << 20, 1) == cycles(base, ALL_TO_ALL, 1 << 20, 1)


def test_dispatch_latency_grows_with_the_ep_degree():
    from accsim.arch.npu.validation import metric_moe_all_to_all_us as latency
    sc = {"arch": "ascend-910c", "model": "deepseek-r1", "dtype": "w8a8", "tokens": 128, "direction": "dispatch"}
    assert latency({**sc, "ep": 8}, None) < latency({**sc, "ep": 64}, None) < latency({**sc, "ep": 256}, None)
