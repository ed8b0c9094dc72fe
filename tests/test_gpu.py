"""The gpu baseline family: roofline bounds, launch-bound regime, exact breakdowns."""
import json

import numpy as np
import pytest

import accsim
from accsim.arch.gpu import kernels as K
from accsim.arch.gpu.model import device_rates
from accsim.core.errors import ConfigError
from accsim.core.presets import resolve_preset
from accsim.mappers.gpu import lower
from accsim.workloads import Parallelism, Phase, build_graph, load_model
from contract import assert_breakdown_sums

pytestmark = pytest.mark.unit


def gpt2_shaped(tmp_path, n_layer, n_embd, n_head):
    path = tmp_path / f"gpt2-{n_layer}x{n_embd}.json"
    path.write_text(json.dumps({"model_type": "gpt2", "n_layer": n_layer, "n_embd": n_embd,
                                "n_head": n_head, "vocab_size": 50257, "n_positions": 1024}))
    return str(path)


@pytest.mark.parametrize("kwargs", [
    dict(arch="t4", model="gpt2-small", gen=8),
    dict(arch="dgx-h100", model="llama2-70b", batch=16, prompt=512, gen=8),
    dict(arch="t4", model="opt-13b", gen=4, overrides={"offload.weights_fraction": 0.5}),
    dict(arch="dgx-h100", model="mixtral-8x7b", batch=4, gen=4, overrides={"framework.mode": "graph"}),
])
def test_breakdown_sums_to_latency(kwargs):
    s = accsim.run(**kwargs)
    assert_breakdown_sums(s)
    assert s["latency_s"] == pytest.approx(s["ttft_s"] + s["decode.latency_s"], rel=1e-12)
    assert s["tokens_per_s"] == pytest.approx(s["scenario.batch"] * s["scenario.gen"] / s["latency_s"])


@pytest.mark.parametrize("arch, model, phase", [
    ("t4", "gpt2-xl", Phase.decode(1, 200)), ("t4", "opt-6.7b", Phase.decode(2, 20)), ("h100-sxm", "llama2-7b", Phase.prefill(8, 512)),
    ("xeon-8380", "gpt3-small", Phase.decode(4, 64)), ("dgx-h100", "mixtral-8x7b", Phase.decode(32, 10)),
])
def test_no_device_task_beats_its_roofline(arch, model, phase):
    spec = resolve_preset(arch, {"offload.weights_fraction": 0.6} if arch == "t4" else {}).spec
    program = lower(build_graph(load_model(model), phase, Parallelism(spec.devices)), spec)
    rates = device_rates(spec, "fp16")
    c = program.columns
    busy, _ = K.task_busy_cycles(c["task_class"], c["flops"], c["mem_bytes"], c["link_bytes"],
                                 c["n_kernels"], c["group"], c["compute_util"], c["host_us"], **rates)
    compute = c["task_class"] == K.COMPUTE
    hz = spec.clock_hz
    peak_flops_per_cycle = spec.compute.peak_TFLOPS[program.meta["dtype"]] * 1e12 / hz
    peak_bytes_per_cycle = spec.memory.bandwidth_GBps * 1e9 / hz
    bound = np.maximum(c["flops"] / peak_flops_per_cycle, c["mem_bytes"] / peak_bytes_per_cycle)
    assert np.all(busy[compute] >= np.floor(bound[compute]))
    transfers = c["task_class"] == K.HOST_TRANSFER
    assert np.all(busy[transfers] >= c["link_bytes"][transfers] / (spec.host_link.bandwidth_GBps * 1e9 / hz))


def test_batch1_decode_is_launch_bound_and_large_prefill_is_not():
    decode = accsim.run(arch="h200-eager", model="gpt2-xl", gen=4, prompt=128)
    launch_share = decode["decode.by_op_kind.launch.exposed_s"] / decode["decode.latency_s"]
    assert launch_share > 0.8
    big = accsim.run(arch="t4", model="gpt2-xl", batch=16, prompt=1024 - 2, gen=2)
    assert big["prefill.by_op_kind.matmul.exposed_s"] > 0.5 * big["ttft_s"]


def test_graph_mode_removes_launch_overhead():
    eager = accsim.run(arch="h100-sxm", model="gpt2-medium", gen=4, overrides={"framework.mode": "eager"})
    graph = accsim.run(arch="h100-sxm", model="gpt2-medium", gen=4, overrides={"framework.mode": "graph"})
    assert graph["tpot_s"] < eager["tpot_s"] / 3


def test_bandwidth_bound_decode_streams_the_weights():
    """Graph mode, batch 1: the projections take the time to stream their weights once."""
    s = accsim.run(arch="h100-sxm", model="llama2-7b", gen=3, prompt=32,
                   overrides={"framework.mode": "graph"})
    spec = resolve_preset("h100-sxm").spec
    m = load_model("llama2-7b")
    matmul_bytes = (m.num_params - m.vocab_size * m.d_model) * 2   # all but the embedding table
    stream_s = matmul_bytes / (spec.memory.bandwidth_GBps * 1e9 * spec.memory.efficiency)
    per_step = s["decode.by_op_kind.matmul.exposed_s"] / s["decode.steps"]
    assert per_step == pytest.approx(stream_s, rel=0.02)
    assert s["tpot_s"] > per_step   # plus the many small elementwise kernels


def test_offload_moves_bytes_over_the_host_link():
    base = accsim.run(arch="t4", model="opt-6.7b", gen=2, prompt=16)
    off = accsim.run(arch="t4", model="opt-6.7b", gen=2, prompt=16, overrides={"offload.weights_fraction": 0.5})
    spec = resolve_preset("t4").spec
    link_s = 0.5 * load_model("opt-6.7b").num_params * 2 / (spec.host_link.bandwidth_GBps * 1e9 * spec.host_link.efficiency)
    assert off["decode.by_unit.host_link.busy_s"] == pytest.approx(link_s, rel=0.05)
    assert off["tpot_s"] > base["tpot_s"] + 0.9 * link_s


def test_tensor_parallel_uses_the_interconnect():
    s = accsim.run(arch="dgx-a100", model="llama2-70b", batch=8, gen=2, prompt=64)
    assert s["by_unit.interconnect.busy_s"] > 0
    single = resolve_preset("a100-80gb").spec
    assert s["scenario.arch"] == "dgx-a100" and single.devices == 1


def test_model_that_does_not_fit_is_refused():
    with pytest.raises(ConfigError, match=r"memory.capacity_GiB: llama2-13b needs 24\.\d GiB per device"):
        accsim.run(arch="t4", model="llama2-13b", gen=2)


def test_dtype_without_peak_is_refused():
    with pytest.raises(ConfigError, match="no peak for dtype 'fp8'"):
        accsim.run(arch="t4", model="gpt2-small", gen=2, dtype="fp8")


def test_runs_are_bit_identical():
    a = accsim.run(arch="a6000", model="opt-6.7b", batch=4, prompt=100, gen=40, decode_samples=5)
    b = accsim.run(arch="a6000", model="opt-6.7b", batch=4, prompt=100, gen=40, decode_samples=5)
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


def test_sampled_decode_matches_every_step():
    kwargs = dict(arch="a6000", model="opt-6.7b", batch=16, prompt=200, gen=64)
    every = accsim.run(**kwargs, decode_samples=0)
    sampled = accsim.run(**kwargs, decode_samples=6)
    assert every["decode.steps_simulated"] == 63 and sampled["decode.steps_simulated"] == 6
    assert sampled["decode.latency_s"] == pytest.approx(every["decode.latency_s"], rel=2e-3)


def _gpu_case(case_id):
    from accsim.validation.cases import load_cases
    return next(c for c in load_cases() if c.id == case_id)


@pytest.mark.validation
def test_eager_kernel_count_matches_profiled(tmp_path, gpu_reference):
    """Within the case's own tolerance (gpu-h200-eager-kernels-gpt2-8x768)."""
    ref = gpu_reference["kernels_per_decode_step"]
    case = _gpu_case("gpu-h200-eager-kernels-gpt2-8x768")
    model = load_model(gpt2_shaped(tmp_path, ref["n_layer"], ref["n_embd"], 12))
    program = lower(build_graph(model, Phase.decode(1, 128)), resolve_preset("h200-eager").spec)
    kernels = int(program.columns["n_kernels"][program.columns["task_class"] == K.LAUNCH].sum())
    assert case.published == ref["kernels"]
    assert kernels == pytest.approx(ref["kernels"], rel=case.tolerance_pct / 100)


@pytest.mark.validation
@pytest.mark.parametrize("n_embd, n_head", [
    (768, 12),
    pytest.param(1600, 25, marks=pytest.mark.xfail(strict=True, reason=(
        "a calibration miss (-21.6% against the case's 15%): the measured 1600-wide layers (25 heads) "
        "are slower than the 768- and 2048-wide ones, and nothing in a per-kernel host cost depends "
        "on the width"))),
    (2048, 16)])
def test_decode_time_per_layer_matches_measurement(tmp_path, gpu_reference, n_embd, n_head):
    """Least-squares slope of TPOT over n_layer, eager batch-1 decode on H200 (128-token prompt),
    within the calibration case's own tolerance."""
    case = _gpu_case(f"gpu-h200-eager-decode-ms-per-layer-{n_embd}")
    layers = [1, 2, 4, 8, 16, 24, 48]
    tpots = [accsim.run(arch="h200-eager", model=gpt2_shaped(tmp_path, n, n_embd, n_head), prompt=128,
                        gen=2)["tpot_s"] for n in layers]
    slope_ms = np.polyfit(layers, tpots, 1)[0] * 1e3
    measured_ms = gpu_reference["decode_time_per_layer_ms"][n_embd]
    assert case.published == measured_ms and case.kind == "calibration"
    assert slope_ms == pytest.approx(measured_ms, rel=case.tolerance_pct / 100)


def _device_cycles(spec, ops):
    """Busy cycles of the device tasks of ``ops`` lowered alone (helper for probes)."""
    from accsim.core.program import ProgramBuilder
    from accsim.mappers.gpu import GpuStream, COLUMNS, TASK_KINDS, UNITS
    b = ProgramBuilder("gpu", UNITS, TASK_KINDS, COLUMNS)
    stream = GpuStream(b, spec, "gpt2", "decode")
    tasks = [stream.emit(op) for op in ops]
    program = b.build(meta={"dtype": "fp16", "mode": spec.framework.mode})
    c = program.columns
    busy, _ = K.task_busy_cycles(c["task_class"], c["flops"], c["mem_bytes"], c["link_bytes"],
                                 c["n_kernels"], c["group"], c["compute_util"], c["host_us"],
                                 **device_rates(spec, "fp16"))
    return [int(busy[t]) for t in tasks]


def _gemm(m, n, k, name="g"):
    from accsim.workloads.graph import Op
    return Op(name, "matmul", 0, (), (), 2 * m * n * k, 0, 0, {"m": m, "n": n, "k": k, "batch": 1})


def test_gemm_waves_quantise_over_the_sms():
    """One tile more than the SMs takes a second full wave: twice the time of a full wave
    (a compute-bound probe: no bytes)."""
    spec = resolve_preset("h100-sxm").spec
    tm, tn = spec.compute.gemm_tile
    full, one_more = _device_cycles(spec, [_gemm(tm * spec.compute.sms, tn, 65536),
                                           _gemm(tm * (spec.compute.sms + 1), tn, 65536, "h")])
    assert one_more == pytest.approx(2 * full, rel=1e-6)


def test_a_kernel_pays_the_memory_latency_before_its_bytes():
    from accsim.workloads.graph import Op
    spec = resolve_preset("h100-sxm", {"framework.min_kernel_us": 0}).spec
    rates = device_rates(spec, "fp16")
    small = Op("s", "elementwise", 0, (), (), 0, 64, 64, {"fn": "add"})
    big = Op("b", "elementwise", 0, (), (), 0, 2 ** 30, 0, {"fn": "add"})
    s_cycles, b_cycles = _device_cycles(spec, [small, big])
    assert s_cycles == int(np.ceil(rates["mem_latency_cycles"] + 128 / rates["mem_bytes_per_cycle"]))
    assert b_cycles == int(np.ceil(rates["mem_latency_cycles"] + 2 ** 30 / rates["mem_bytes_per_cycle"]))


@pytest.mark.parametrize("mode", ["eager", "graph", "vllm", "trtllm"])
def test_framework_modes_launch_as_declared(mode):
    """eager: every op launched by the host; graph: one graph launch per step; vllm: one graph
    launch per decode step, host launches in prefill, fewer device kernels than eager."""
    spec = resolve_preset("h100-sxm", {"framework.mode": mode}).spec
    model = load_model("llama2-7b")
    decode = lower(build_graph(model, Phase.decode(1, 64)), spec)
    prefill = lower(build_graph(model, Phase.prefill(1, 64)), spec)
    launches = lambda p: int((p.columns["task_class"] == K.LAUNCH).sum())
    graphs = lambda p: int((p.columns["task_class"] == K.GRAPH_LAUNCH).sum())
    device_kernels = lambda p: int(p.columns["n_kernels"][p.columns["task_class"] == K.COMPUTE].sum())
    host_work = lambda p: p.columns["host_us"][p.columns["task_class"] == K.HOST_WORK]
    if mode == "eager":
        assert graphs(decode) == 0 and launches(decode) > 32 * 10
        assert device_kernels(decode) == 32 * 41 + 10 + 1 + 8 + 1 + 3   # 41 per layer (HF llama)
    else:
        assert graphs(decode) == 1 and launches(decode) == 0
    assert (launches(prefill) > 0) == (mode in ("eager", "vllm"))     # trtllm: prefill a graph too
    eager_kernels = device_kernels(lower(build_graph(model, Phase.decode(1, 64)),
                                         resolve_preset("h100-sxm", {"framework.mode": "eager"}).spec))
    assert (device_kernels(decode) < eager_kernels / 2) == (mode in ("vllm", "trtllm"))
    fw = spec.framework
    step_host_us = {"vllm": fw.vllm_step_host_us, "trtllm": fw.trtllm_step_host_us}.get(mode, fw.step_host_us)
    assert list(host_work(decode)) == [step_host_us]


def test_vllm_decode_is_bandwidth_bound_and_faster_than_eager():
    eager = accsim.run(arch="h100-sxm", model="llama2-7b", prompt=64, gen=3, overrides={"framework.mode": "eager"})
    vllm = accsim.run(arch="h100-sxm", model="llama2-7b", prompt=64, gen=3,
                      overrides={"framework.mode": "vllm"})
    assert vllm["tpot_s"] < eager["tpot_s"] / 3
    weights_s = load_model("llama2-7b").num_params * 2 / 3.35e12
    assert weights_s < vllm["tpot_s"] < 2 * weights_s
    assert "vLLM" in vllm["decode.last_step.execution_model"]
    assert "eager" in eager["decode.last_step.execution_model"]
