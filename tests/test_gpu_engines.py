"""The gpu family's serving engines and baselines as papers ran them: TensorRT-LLM (fused
kernels, custom all-reduce by message size), a CPU that runs fp16 models in fp32, the host CPU's
speed as a parameter."""
import numpy as np
import pytest

import accsim
from accsim.arch.gpu import kernels as K
from accsim.core.engine.collectives import (ALL_REDUCE, ALL_REDUCE_ONE_SHOT, ALL_REDUCE_TWO_SHOT,
                                       collective_wire)
from accsim.core.presets import resolve_preset
from accsim.mappers.gpu import collective_class, fuse_kernels, kernel_table, lower
from accsim.workloads import Parallelism, Phase, build_graph, load_model

pytestmark = pytest.mark.unit


def _trtllm(preset="dgx-h100", **overrides):
    return resolve_preset(preset, {"framework.mode": "trtllm", **overrides}).spec


def _fused(model="llama2-7b", phase=None, tp=8):
    spec = _trtllm()
    graph = build_graph(load_model(model), phase or Phase.decode(1, 128), Parallelism(tp=tp))
    return graph, fuse_kernels(list(graph.ops()), kernel_table(spec, load_model(model).model_type), spec)


def test_a_trtllm_llama_layer_is_ten_kernels():
    """QKV GEMM (rotary and KV write inside attention), attention, O, all-reduce, add+RMSNorm,
    gate/up GEMM, SiLU-and-mul, down, all-reduce, add+RMSNorm: TensorRT-LLM's Llama layer."""
    _, fused = _fused()
    layer = [(op, k) for op, k in fused if op.layer == 5]
    assert sum(k for _, k in layer) == 10
    names = [op.name for op, _ in layer]
    assert "L5.attn.q+L5.attn.k+L5.attn.v+L5.attn.rope+L5.attn.kv_append" in names
    assert "L5.ffn.gate+L5.ffn.up" in names and "L5.res1+L5.ln2" in names


def test_fusion_keeps_the_work_and_drops_the_activations_passed_inside():
    for phase in (Phase.decode(4, 256), Phase.prefill(2, 512)):
        graph, fused = _fused(phase=phase)
        ops = list(graph.ops())
        assert sum(op.flops for op, _ in fused) == sum(op.flops for op in ops)
        weights = lambda group: sum(t.bytes for op in group for t in op.inputs if t.role == "weight")
        assert weights(op for op, _ in fused) == weights(ops)
        moved = lambda group: sum(op.bytes_read + op.bytes_written for op in group)
        assert moved(op for op, _ in fused) < moved(ops)
    # the prefill score matrix (batch x heads x prompt^2) never reaches memory in fused attention
    graph, fused = _fused(phase=Phase.prefill(2, 512))
    attention = next(op for op, _ in fused if op.name.startswith("L0.attn.score"))
    score = next(op for op in graph.ops() if op.name == "L0.attn.score").outputs[0]
    assert score.name not in {t.name for t in attention.outputs + attention.inputs}
    assert attention.bytes_written < score.bytes


def test_a_fused_gemm_is_one_gemm_over_the_summed_width():
    _, fused = _fused(tp=1)
    qkv = next(op for op, _ in fused if op.name.startswith("L0.attn.q+"))
    assert qkv.kind == "matmul" and qkv.attrs["n"] == 3 * 4096


@pytest.mark.parametrize("payload, code", [(8192, ALL_REDUCE_ONE_SHOT), (2 ** 20, ALL_REDUCE_ONE_SHOT),
                                           (2 ** 20 + 2, ALL_REDUCE_TWO_SHOT), (4 * 2 ** 20, ALL_REDUCE_TWO_SHOT),
                                           (4 * 2 ** 20 + 2, ALL_REDUCE)])
def test_the_custom_all_reduce_is_picked_by_message_size(payload, code):
    from accsim.workloads.graph import Op
    op = Op("ar", "all_reduce", 0, (), (), 0, payload, payload, {"payload_bytes": payload, "group": 8})
    assert collective_class(op, _trtllm()) == K.ALL_REDUCE + code
    assert collective_class(op, resolve_preset("dgx-h100").spec) == K.ALL_REDUCE   # NCCL's ring


def test_one_shot_reads_every_peer_in_one_step_and_two_shot_takes_two():
    assert collective_wire(ALL_REDUCE_ONE_SHOT, 1000.0, 8) == (7000.0, 1)
    assert collective_wire(ALL_REDUCE_TWO_SHOT, 1000.0, 8) == (1750.0, 2)
    assert collective_wire(ALL_REDUCE, 1000.0, 8) == (1750.0, 14)
    assert collective_wire(ALL_REDUCE_ONE_SHOT, 1000.0, 1) == (0.0, 0)


def test_trtllm_decode_is_faster_than_captured_hf_kernels_and_eager():
    tpot = {mode: accsim.run(arch="dgx-h100", model="llama2-7b", prompt=64, gen=3,
                             overrides={"framework.mode": mode})["tpot_s"]
            for mode in ("eager", "graph", "trtllm")}
    assert tpot["trtllm"] < tpot["graph"] < tpot["eager"]


def test_with_latency_bound_all_reduces_gone_h100_outruns_a100_by_its_links_and_memory():
    """TensorRT-LLM's one-step all-reduce leaves the GEMMs and HBM to decide: the DGX H100
    gains over the DGX A100 more than under NCCL's 14-step ring."""
    def ratio(mode):
        run = lambda arch: accsim.run(arch=arch, model="llama2-7b", prompt=64, gen=3,
                                      overrides={"framework.mode": mode})["tpot_s"]
        return run("dgx-a100") / run("dgx-h100")
    assert ratio("trtllm") > ratio("graph") > 1.0


def test_a_cpu_runs_an_fp16_model_in_fp32():
    """Skylake has no fp16 arithmetic: the fp16 run is the fp32 run (4-byte weights, fp32 peak)."""
    fp16 = accsim.run(arch="xeon-gold-6154", model="gpt2-small", gen=3, dtype="fp16")
    fp32 = accsim.run(arch="xeon-gold-6154", model="gpt2-small", gen=3, dtype="fp32")
    assert fp16["tpot_s"] == fp32["tpot_s"] and fp16["decode.last_step.device_bytes"] == fp32["decode.last_step.device_bytes"]
    spec = resolve_preset("xeon-gold-6154").spec
    program = lower(build_graph(load_model("gpt2-small").with_dtype("fp16"), Phase.decode(1, 64)), spec)
    assert program.meta["dtype"] == "fp32"
    gpu = lower(build_graph(load_model("gpt2-small").with_dtype("fp16"), Phase.decode(1, 64)),
                resolve_preset("t4").spec)
    assert gpu.meta["dtype"] == "fp16"


def test_the_host_speed_scales_every_host_time():
    def host_busy(speed):
        run = accsim.run(arch="h100-sxm", model="gpt2-small", gen=3, overrides={"framework.host_speed": speed})
        return run["decode.by_unit.host.busy_s"]
    assert host_busy(2.0) == pytest.approx(host_busy(1.0) / 2, rel=1e-3)


def test_trtllm_runs_every_phase_from_a_graph():
    spec = _trtllm("h100-sxm")
    for phase in (Phase.prefill(1, 64), Phase.decode(1, 64)):
        program = lower(build_graph(load_model("llama2-7b"), phase), spec)
        classes = program.columns["task_class"]
        assert int((classes == K.GRAPH_LAUNCH).sum()) == 1 and int((classes == K.LAUNCH).sum()) == 0
        assert np.all(program.columns["n_kernels"][classes == K.COMPUTE] >= 0)
