"""The gpu baseline family: roofline bounds, launch-bound regime, exact breakdowns."""
import json

import numpy as np
import pytest

import accsim
from accsim.arch.gpu import kernels as K
from accsim.arch.gpu.model import device_rates
from accsim.errors import ConfigError
from accsim.mappers.gpu import lower
from accsim.presets import resolve_preset
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
                                 c["n_kernels"], c["group"], **rates)
    compute = c["task_class"] == K.COMPUTE
    hz = spec.clock_hz
    peak_flops_per_cycle = spec.compute.peak_TFLOPS["fp16"] * 1e12 / hz
    peak_bytes_per_cycle = spec.memory.bandwidth_GBps * 1e9 / hz
    bound = np.maximum(c["flops"] / peak_flops_per_cycle, c["mem_bytes"] / peak_bytes_per_cycle)
    assert np.all(busy[compute] >= np.floor(bound[compute]))
    transfers = c["task_class"] == K.HOST_TRANSFER
    assert np.all(busy[transfers] >= c["link_bytes"][transfers] / (spec.host_link.bandwidth_GBps * 1e9 / hz))


def test_batch1_decode_is_launch_bound_and_large_prefill_is_not():
    decode = accsim.run(arch="h200", model="gpt2-xl", gen=4, prompt=128)
    launch_share = decode["decode.by_op_kind.launch.exposed_s"] / decode["decode.latency_s"]
    assert launch_share > 0.8
    big = accsim.run(arch="t4", model="gpt2-xl", batch=16, prompt=1024 - 2, gen=2)
    assert big["prefill.by_op_kind.matmul.exposed_s"] > 0.5 * big["ttft_s"]


def test_graph_mode_removes_launch_overhead():
    eager = accsim.run(arch="h100-sxm", model="gpt2-medium", gen=4)
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


@pytest.mark.validation
def test_eager_kernel_count_matches_profiled(tmp_path, gpu_reference):
    ref = gpu_reference["kernels_per_decode_step"]
    model = load_model(gpt2_shaped(tmp_path, ref["n_layer"], ref["n_embd"], 12))
    program = lower(build_graph(model, Phase.decode(1, 128)), resolve_preset("h200").spec)
    kernels = int(program.columns["n_kernels"][program.columns["task_class"] == K.LAUNCH].sum())
    assert kernels == pytest.approx(ref["kernels"], rel=0.05)


@pytest.mark.validation
@pytest.mark.parametrize("n_embd, n_head", [(768, 12), (1600, 25), (2048, 16)])
def test_decode_time_per_layer_matches_measurement(tmp_path, gpu_reference, n_embd, n_head):
    """Least-squares slope of TPOT over n_layer, eager batch-1 decode on H200 (128-token prompt)."""
    layers = [1, 2, 4, 8, 16, 24, 48]
    tpots = [accsim.run(arch="h200", model=gpt2_shaped(tmp_path, n, n_embd, n_head), prompt=128,
                        gen=2)["tpot_s"] for n in layers]
    slope_ms = np.polyfit(layers, tpots, 1)[0] * 1e3
    measured_ms = gpu_reference["decode_time_per_layer_ms"][n_embd]
    assert slope_ms == pytest.approx(measured_ms, rel=0.25)
