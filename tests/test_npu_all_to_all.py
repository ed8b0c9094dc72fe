"""An all-to-all pays a fixed and a per-peer cost on top of its wire time (CloudMatrix384
Table 6's dispatch grows with the EP degree at almost constant bytes)."""
import pytest

from accsim.arch.npu.tiles import CollectiveKernel, simulate_kernel
from accsim.core.engine.collectives import ALL_REDUCE, ALL_TO_ALL
from accsim.core.presets import resolve_preset

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


def test_dispatch_and_combine_take_their_own_measured_rates():
    """MoE all-to-alls are marked by the workload; each takes its pattern's link efficiency, any
    other collective (or a pattern without a figure) the generic one."""
    from accsim.arch.npu.tiles import PATTERNS
    costs = {"system.all_to_all_fixed_us": 0, "system.all_to_all_per_peer_us": 0,
             "system.combine_fixed_us": -1, "system.combine_per_peer_us": -1}
    base = resolve_preset("ascend-910c", {**costs, "system.link_efficiency": 0.5}).spec
    spec = resolve_preset("ascend-910c", {**costs, "system.link_efficiency": 0.5,
                                          "system.dispatch_link_efficiency": 0.25,
                                          "system.combine_link_efficiency": 0.0}).spec
    payload = 1 << 24
    generic = simulate_kernel(base, CollectiveKernel(ALL_TO_ALL, payload, 8)).cycles
    dispatch = simulate_kernel(spec, CollectiveKernel(ALL_TO_ALL, payload, 8, PATTERNS.index("moe_dispatch"))).cycles
    combine = simulate_kernel(spec, CollectiveKernel(ALL_TO_ALL, payload, 8, PATTERNS.index("moe_combine"))).cycles
    assert dispatch == pytest.approx(2 * generic, rel=1e-3)
    assert combine == generic


def test_the_workload_marks_moe_all_to_alls():
    from accsim.workloads import Parallelism, Phase, build_graph, load_model
    graph = build_graph(load_model("deepseek-r1"), Phase.decode(4, 64), Parallelism(ep=8))
    patterns = {op.name.rsplit(".", 1)[1]: op.attrs["pattern"] for op in graph.ops() if op.kind == "all_to_all"}
    assert patterns == {"dispatch": "moe_dispatch", "combine": "moe_combine"}


def test_combine_pays_its_own_software_cost_or_dispatchs():
    """Combine's fixed and per-peer costs are its own when given, dispatch's when -1."""
    from accsim.arch.npu.tiles import PATTERNS
    kern = lambda pattern: CollectiveKernel(ALL_TO_ALL, 1 << 20, 64, PATTERNS.index(pattern))
    shared = resolve_preset("ascend-910c", {"system.combine_fixed_us": -1, "system.combine_per_peer_us": -1}).spec
    own = resolve_preset("ascend-910c", {"system.combine_fixed_us": 5.0, "system.combine_per_peer_us": 0.0}).spec
    hz = shared.clock_hz
    s = shared.system
    wire_only = resolve_preset("ascend-910c", {"system.combine_fixed_us": 0.0, "system.combine_per_peer_us": 0.0}).spec
    base = simulate_kernel(wire_only, kern("moe_combine")).cycles
    assert simulate_kernel(own, kern("moe_combine")).cycles == pytest.approx(base + 5.0e-6 * hz, abs=1)
    assert simulate_kernel(shared, kern("moe_combine")).cycles == pytest.approx(
        base + (s.all_to_all_fixed_us + 63 * s.all_to_all_per_peer_us) * 1e-6 * hz, abs=1)
    # dispatch never takes combine's
    assert simulate_kernel(own, kern("moe_dispatch")).cycles == simulate_kernel(shared, kern("moe_dispatch")).cycles
