"""npu family: tile task graphs, the shared tiling search, the npu mapper, multi-chip runs."""
import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from accsim.arch.npu import tiles as T
from accsim.arch.npu.model import simulate
from accsim.cli import main
from accsim.core.errors import ConfigError
from accsim.core.presets import resolve_preset
from accsim.core.program import successors_csr
from accsim.mappers.npu import choose_tiling, lower
from accsim.mappers.tiling import search, tile_sizes
from accsim.simulation.api import run
from accsim.simulation.runner import decode_contexts, step_graph
from accsim.workloads import load_model
from accsim.workloads.graph import Parallelism, Phase, build_graph
from tests.conftest import run_with_and_without_jit
from contract import assert_breakdown_sums

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def ascend():
    return resolve_preset("ascend-910b").spec


def gemm(g=1, m=64, k=256, n=128, tiles=(32, 64, 64), order="mn", a_src=T.IN_L2, b_src=T.IN_HBM,
         **kw):
    return T.GemmKernel(g, m, k, n, tiles[0], tiles[1], tiles[2], order, 2, 2, 2, a_src, b_src,
                        T.IN_L2, False, 0.0, 0, **kw)


# --- tile task graphs ---------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(g=st.integers(1, 3), m=st.integers(1, 300), k=st.integers(1, 700), n=st.integers(1, 300),
       mt=st.sampled_from([16, 32, 128]), kt=st.sampled_from([16, 64, 256]),
       nt=st.sampled_from([16, 64, 128]), order=st.sampled_from(T.ORDERS))
def test_gemm_tiles_cover_every_mac_once(ascend, g, m, k, n, mt, kt, nt, order):
    """The cube tasks of any tiling do exactly the GEMM's MACs (edge tiles included), and the
    task graph is a valid DAG whose schedule respects every dependency."""
    kern = gemm(g, m, k, n, (mt, kt, nt), order)
    t = T._output_tiles(kern)
    k_len = (t.ksteps - 1) * kern.k_t + t.k_last
    assert int((t.rows * t.cols * k_len).sum()) == g * m * k * n
    ptr, idx, unit, busy, lat, _ = T.gemm_tasks(ascend, kern)
    assert np.all(idx < np.repeat(np.arange(unit.size), np.diff(ptr)))       # topological
    from accsim.core.engine import run_task_graph
    sptr, sidx = successors_csr(ptr, idx)
    start, finish, _ = run_task_graph(ptr, idx, sptr, sidx, unit, busy, lat, T.unit_lanes(ascend))
    for task in range(unit.size):
        deps = idx[ptr[task]:ptr[task + 1]]
        assert np.all(finish[deps] <= start[task])


def test_cube_steps_follow_the_da_vinci_cube(ascend):
    cycles = T.cube_step_cycles(ascend, np.array([16, 17, 128]), np.array([16, 16, 256]),
                                np.array([16, 16, 128]), False)
    assert list(cycles) == [1, 2, 8 * 16 * 8]
    int8 = T.cube_step_cycles(ascend, np.array([128]), np.array([256]), np.array([128]), True)
    assert int8[0] == 8 * 8 * 8                          # int8 cube is 16x32x16


def test_causal_attention_skips_masked_tiles(ascend):
    full = gemm(1, 256, 64, 256, (64, 64, 64))
    causal = replace(full, causal_axis="n", causal_group=1, causal_offset=0)
    t_full, t_causal = T._output_tiles(full), T._output_tiles(causal)
    assert t_causal.batch.size == 10 < t_full.batch.size == 16      # 4x4 tiles, lower triangle
    context = gemm(1, 256, 256, 64, (64, 64, 64), causal_axis="k", causal_group=1, causal_offset=0)
    assert list(T._output_tiles(context).ksteps) == [1, 2, 3, 4]


def test_kernels_separated_by_a_drain_add_up_exactly(ascend):
    """What makes per-kernel reuse exact: two kernels in one task graph, the second starting
    after the first has drained, take exactly the sum of their separate makespans."""
    from accsim.core.engine import run_task_graph
    a, b = gemm(1, 96, 512, 384, (32, 128, 64)), gemm(2, 40, 200, 300, (16, 64, 128), "nm")
    parts = [T.gemm_tasks(ascend, kern) for kern in (a, b)]
    alone = [T.simulate_kernel(ascend, kern).cycles for kern in (a, b)]
    (p1, i1, u1, b1, l1, _), (p2, i2, u2, b2, l2, _) = parts
    n1 = u1.size
    barrier_deps = np.arange(n1, dtype=np.int32)           # the barrier waits for all of kernel 1
    first_of_2 = np.diff(p2) == 0                            # kernel 2's tasks without deps
    counts2 = np.diff(p2) + first_of_2
    ptr = np.concatenate([p1, p1[-1] + n1 + np.cumsum(np.concatenate([[0], [0], counts2]))[1:]])
    idx_parts = [i1, barrier_deps]
    for task in range(u2.size):
        deps = i2[p2[task]:p2[task + 1]] + n1 + 1
        idx_parts.append(np.concatenate([deps, [n1]]).astype(np.int32) if first_of_2[task] else deps.astype(np.int32))
    idx = np.concatenate(idx_parts).astype(np.int32)
    unit = np.concatenate([u1, [T.ONCHIP], u2]).astype(np.int32)
    busy = np.concatenate([b1, [0], b2])
    lat = np.concatenate([l1, [0], l2])
    sptr, sidx = successors_csr(ptr, idx)
    _, finish, _ = run_task_graph(ptr, idx, sptr, sidx, unit, busy, lat, T.unit_lanes(ascend))
    assert finish.max() == sum(alone)


def test_shared_hbm_contention_shows(ascend):
    """A weight-streaming GEMV is bound by the die's HBM: 24 cores are not 24x faster than 3,
    and twice the HBM bandwidth nearly halves it; a compute-bound GEMM does not care."""
    gemv = gemm(1, 8, 4096, 4096, (16, 512, 128), b_src=T.IN_HBM)
    many = T.simulate_kernel(ascend, gemv).cycles
    few = T.simulate_kernel(replace(ascend, cores=3), gemv).cycles
    assert many > few / 8 * 1.5
    fast_hbm = replace(ascend, memory=replace(ascend.memory, bandwidth_GBps=2 * ascend.memory.bandwidth_GBps))
    assert T.simulate_kernel(fast_hbm, gemv).cycles < 0.7 * many
    big = gemm(1, 2048, 2048, 2048, (128, 128, 128), a_src=T.IN_L2, b_src=T.IN_L2)
    assert T.simulate_kernel(fast_hbm, big).cycles == pytest.approx(T.simulate_kernel(ascend, big).cycles, rel=0.02)


def test_finite_buffers_stall_the_cube(ascend):
    """Double buffering hides a load only up to its length: longer DMA latency stalls the cube."""
    kern = gemm(1, 128, 4096, 128, (128, 128, 128))
    slow = replace(ascend, dma=replace(ascend.dma, latency_cycles=5000))
    assert T.simulate_kernel(slow, kern).cycles > T.simulate_kernel(ascend, kern).cycles + 5000


def test_kernels_agree_with_and_without_jit():
    script = """
import json
from accsim.arch.npu import tiles as T
from accsim.core.presets import resolve_preset
spec = resolve_preset("ascend-910b").spec
k = T.GemmKernel(2, 70, 300, 90, 32, 64, 64, "nm", 2, 2, 2, T.IN_L2, T.IN_HBM, T.IN_L2, False, 3.0, 0)
v = T.VectorKernel(10000, 40000.0, 20000, 20000, T.IN_L2, T.IN_HBM, 2)
print(json.dumps([list(T.simulate_kernel(spec, x).unit_busy) + [T.simulate_kernel(spec, x).cycles] for x in (k, v)]))
"""
    plain, jit = run_with_and_without_jit(script)
    assert plain == jit


# --- the shared tiling search -------------------------------------------------------------
def test_tile_sizes_never_split_small_dimensions():
    assert tile_sizes(8, 16, 2048) == [16]
    assert tile_sizes(100, 16, 2048) == [16, 32, 64, 112]
    assert tile_sizes(5000, 16, 256) == [16, 32, 64, 128, 256]


def test_search_is_deterministic_budgeted_and_keeps_the_simulated_best():
    calls = []

    def evaluate(c):
        calls.append(dict(c))
        return 1000 - c["x"] if c["order"] == "b" else 5000

    args = ({"x": [1, 2, 3, 4]}, ("a", "b"), lambda c: c["x"] != 4, lambda c: -c["x"], evaluate)
    r1 = search(*args, max_candidates=100, top_k=3, what="toy")
    r2 = search(*args, max_candidates=100, top_k=3, what="toy")
    assert r1 == r2 and r1.best == {"x": 3, "order": "b"} and r1.best_cycles == 997
    assert r1.enumerated == 8 and r1.fitting == 6 and not r1.budget_hit and len(r1.evaluated) == 3
    cut = search(*args, max_candidates=3, top_k=3, what="toy")
    assert cut.budget_hit and cut.enumerated == 3
    with pytest.raises(ConfigError, match="toy: no tiling fits"):
        search({"x": [4]}, ("a",), lambda c: False, lambda c: 0, evaluate, 10, 2, "toy")


def test_fields_an_array_kind_would_ignore_are_refused():
    with pytest.raises(ConfigError, match="array.depth / array.int8_rate: only a cube"):
        run("systolic-32x32", "gpt2-small", prompt=4, gen=2, overrides={"array.depth": 4})
    with pytest.raises(ConfigError, match="array.dataflow: a cube has no dataflow choice"):
        run("ascend-910b", "llama2-7b", prompt=4, gen=2, overrides={"array.dataflow": "ws"})


def test_tile_larger_than_its_buffer_is_refused(ascend):
    tiny = resolve_preset("ascend-910b", {"buffers.ifmap_KiB": 0.5}).spec
    with pytest.raises(ConfigError, match="no tiling fits the core's buffers.*buffers"):
        choose_tiling(tiny, gemm(1, 64, 256, 64, (0, 0, 0)))


def test_chosen_tilings_fit_their_buffers_and_beat_the_rest(ascend):
    kern = gemm(1, 512, 2048, 1024, (0, 0, 0))
    best = choose_tiling(ascend, kern)
    kib = 1024
    assert 2 * best["m_t"] * best["k_t"] * 2 <= ascend.buffers.ifmap_KiB * kib
    assert 2 * best["k_t"] * best["n_t"] * 2 <= ascend.buffers.filter_KiB * kib
    assert 2 * best["m_t"] * best["n_t"] * 4 <= ascend.buffers.ofmap_KiB * kib
    chosen = T.simulate_kernel(ascend, replace(kern, **best)).cycles
    naive = T.simulate_kernel(ascend, replace(kern, m_t=16, k_t=16, n_t=16, order="mn")).cycles
    assert chosen < naive / 2


# --- the mapper and the model ---------------------------------------------------------------
@pytest.fixture(scope="module")
def llama_programs(ascend):
    model = load_model("llama2-7b").with_dtype("bf16")
    return {kind: lower(build_graph(model, phase), ascend)
            for kind, phase in (("prefill", Phase.prefill(1, 256)), ("decode", Phase.decode(4, 300)))}


def test_no_kernel_beats_its_roofline(ascend, llama_programs):
    """Every simulated kernel takes at least its compute bound and its memory bound."""
    for program in llama_programs.values():
        peak_flops_per_cycle = 2 * ascend.macs_per_cycle("bf16") * ascend.cores
        hbm_per_cycle = ascend.memory.bandwidth_GBps * 1e9 / ascend.clock_hz
        for i in range(program.n_tasks):
            kern = T.kernel_of_row(program.columns, i)
            r = T.simulate_kernel(ascend, kern)
            if isinstance(kern, T.GemmKernel):
                assert r.cycles >= 2 * kern.g * kern.m * kern.k * kern.n / peak_flops_per_cycle
            assert r.cycles >= r.hbm_bytes / hbm_per_cycle


def test_gemm_kernels_do_the_models_multiply_adds(llama_programs):
    """Mapper/model consistency: GEMM kernels' MACs equal the graph's matmul flops / 2 (decode:
    no causal skipping, so exactly)."""
    model = load_model("llama2-7b").with_dtype("bf16")
    graph = build_graph(model, Phase.decode(4, 300))
    graph_macs = sum(op.flops // 2 for op in graph.ops()
                     if op.kind in ("matmul", "attn_score", "attn_context"))
    program = llama_programs["decode"]
    kernel_macs = sum(k.g * k.m * k.k * k.n for k in (T.kernel_of_row(program.columns, i)
                                                      for i in range(program.n_tasks))
                      if isinstance(k, T.GemmKernel))
    assert kernel_macs == graph_macs


def test_attention_is_fused_and_weights_read_once(ascend, llama_programs):
    program = llama_programs["decode"]
    kinds = [program.kinds[k] for k in program.column("kind")]
    assert "softmax" not in kinds and "activation" not in kinds        # fused into GEMM epilogues
    stats = simulate(ascend, program)
    weights = build_graph(load_model("llama2-7b").with_dtype("bf16"), Phase.decode(4, 300)).weight_bytes()
    assert weights <= stats["hbm_bytes_per_die"] < 1.1 * weights


def test_the_search_effort_is_reported(ascend, llama_programs):
    search = simulate(ascend, llama_programs["decode"])["tiling_search"]
    assert search["gemm_shapes"] > 0 and search["enumerated"] >= search["fitting"] > 0
    assert 0 < search["simulated"] <= ascend.search.top_k * search["gemm_shapes"]
    assert search["budget_hits"] == 0


def test_reused_kernels_give_the_same_answer_as_fresh_ones(ascend, llama_programs):
    program = llama_programs["prefill"]
    memoised = simulate(ascend, program)
    T.simulate_kernel.cache_clear()
    fresh = simulate(ascend, program)
    assert memoised.to_dict() == fresh.to_dict()
    assert memoised["kernels_simulated"] < memoised["kernels"] / 5


def test_runs_are_deterministic_and_int8_is_faster():
    a = run("ascend-910b", "llama2-7b", batch=2, prompt=128, gen=3, dtype="bf16")
    b = run("ascend-910b", "llama2-7b", batch=2, prompt=128, gen=3, dtype="bf16")
    assert a.to_dict() == b.to_dict()
    int8 = run("ascend-910b", "llama2-7b", batch=2, prompt=128, gen=3, dtype="int8")
    assert int8["ttft_s"] < a["ttft_s"] and int8["tpot_s"] < a["tpot_s"]
    assert_breakdown_sums(a)


def test_generic_systolic_preset_runs_an_llm():
    stats = run("systolic-128x128", "gpt2-small", batch=1, prompt=16, gen=3, dtype="int8")
    assert stats["tpot_s"] > 0 and stats["by_unit.cube.util_pct"] > 0


# --- multi-chip --------------------------------------------------------------------------------
def test_parallel_degrees_follow_the_chip_count():
    from accsim.mappers.npu import parallelism
    spec = resolve_preset("ascend-910c", {"system.chips": 16}).spec
    assert parallelism(spec, load_model("deepseek-r1")) == Parallelism(tp=1, ep=32, dp=32)
    assert parallelism(spec, load_model("llama2-70b")) == Parallelism(tp=32, ep=1, dp=1)
    odd = resolve_preset("ascend-910c", {"system.chips": 3}).spec
    assert parallelism(odd, load_model("llama2-7b")) == Parallelism(tp=1, ep=1, dp=6)
    with pytest.raises(ConfigError, match="parallel.tp: 4 does not divide the 6 dies"):
        parallelism(resolve_preset("ascend-910c", {"system.chips": 3, "parallel.tp": 4}).spec,
                    load_model("llama2-7b"))


def test_expert_replicas_and_imbalance_shape_the_busiest_rank():
    model = load_model("deepseek-r1")
    balanced = build_graph(model, Phase.decode(4, 100), Parallelism(ep=320, dp=320))
    skewed = build_graph(model, Phase.decode(4, 100), Parallelism(ep=320, dp=320, expert_imbalance=1.5))
    gate = "L5.moe.experts.gate"
    assert balanced.op(gate).attrs["experts"] == 1 and balanced.op(gate).attrs["m"] == 4 * 8
    assert skewed.op(gate).attrs["m"] == 48
    with pytest.raises(ConfigError, match="expert_imbalance"):
        build_graph(model, Phase.decode(4, 100), Parallelism(ep=32, dp=32, expert_imbalance=0.5))


def test_collectives_move_over_the_link():
    # the bandwidth part alone (the all-to-all's fixed and per-peer costs have their own test)
    wire_only = {"system.all_to_all_fixed_us": 0, "system.all_to_all_per_peer_us": 0,
                 "system.combine_fixed_us": 0, "system.combine_per_peer_us": 0}
    spec = resolve_preset("ascend-910c", {"system.chips": 16, **wire_only}).spec
    model = load_model("deepseek-r1").with_dtype("int8")
    program = lower(step_graph(resolve_preset("ascend-910c", {"system.chips": 16}), model,
                               Phase.decode(64, 512)), spec)
    stats = simulate(spec, program)
    assert stats["link_bytes_per_die"] > 0 and stats["by_op_kind.all_to_all.kernels"] == 2 * 58
    slow = resolve_preset("ascend-910c", {"system.chips": 16, "system.link_GBps": 19.6, **wire_only}).spec
    assert simulate(slow, program)["by_op_kind.all_to_all.exposed_s"] > 5 * stats["by_op_kind.all_to_all.exposed_s"]


def test_multi_token_prediction_steps():
    assert list(decode_contexts(100, 11, 1.0)) == list(range(100, 110))
    assert list(decode_contexts(100, 18, 1.7)) == [100, 101, 103, 105, 106, 108, 110, 111, 113, 115]
    base = dict(arch="ascend-910c", model="deepseek-r1", chips=16, batch=64, prompt=64, gen=9,
                dtype="w8a8", decode_only=True)
    one = run(**base)
    mtp = run(**base, draft_tokens=1, acceptance=0.7)
    assert mtp["decode.steps"] == 5 < one["decode.steps"] == 8
    assert mtp["tpot_s"] < one["tpot_s"] and one["ttft_s"] == 0
    # the draft module (one more MLA + MoE layer and the shared head) runs in every MTP step
    from accsim.simulation.runner import lower_and_simulate
    preset = resolve_preset("ascend-910c", {"system.chips": 16})
    model = load_model("deepseek-r1").with_dtype("w8a8")
    verify_only, _, _ = lower_and_simulate(preset, model, Phase.decode(64, 64, 2), None)
    with_draft, _, _ = lower_and_simulate(preset, model, Phase.decode(64, 64, 2, 1), None)
    assert with_draft["kernels"] > verify_only["kernels"]
    assert with_draft["latency_s"] > 1.01 * verify_only["latency_s"]
    with pytest.raises(ConfigError, match="llama2-7b has 0 multi-token-prediction module"):
        run("ascend-910b", "llama2-7b", prompt=8, gen=3, draft_tokens=1)


def test_the_draft_module_is_deepseeks_mtp_layer():
    model = load_model("deepseek-r1")
    assert model.mtp_layers == 1
    plain = build_graph(model, Phase.decode(2, 100, 2), Parallelism(ep=32, dp=32))
    drafted = build_graph(model, Phase.decode(2, 100, 2, 1), Parallelism(ep=32, dp=32))
    extra = {n for n in drafted.graph.nodes} - {n for n in plain.graph.nodes}
    assert {"mtp0.eh_proj", "L61.attn.kv_a", "L61.moe.dispatch", "mtp0.lm_head"} <= extra
    assert drafted.op("mtp0.lm_head").attrs["m"] == 4          # logits for every new token
    # the MTP module's own weights (eh_proj and layer 61) add to the model's; the head is shared
    assert drafted.weight_bytes() > plain.weight_bytes()
    assert "lm_head.weight" in {t.name for t in drafted.op("mtp0.lm_head").weights}


@pytest.mark.parametrize("kwargs, message", [
    (dict(arch="ascend-910b", model="deepseek-r1", dtype="int8"), "needs .* GiB per die.*--chips"),
    (dict(arch="ascend-910c", model="deepseek-r1", dtype="int8", chips=16, batch=3),
     "batch: 3 sequences do not split evenly over 32"),
    (dict(arch="ascend-910b", model="llama2-7b", dtype="fp32"), "the npu family runs fp16, bf16, int8"),
    (dict(arch="pim-gpt", model="gpt2-small", chips=2), "chips: family 'pim' runs on one device"),
    (dict(arch="ascend-910b", model="llama2-7b", acceptance=0.5), "acceptance: set only with draft_tokens"),
    (dict(arch="ascend-910b", model="llama2-7b", overrides={"parallel.expert_imbalance": 1.3}),
     "expert_imbalance: 1.3 needs expert parallelism"),
    (dict(arch="pim-gpt", model="gpt2-small", draft_tokens=1), "gpt2-small has 0 multi-token-prediction"),
])
def test_bad_scenarios_are_refused_clearly(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        run(**{"prompt": 16, "gen": 2, **kwargs})


def test_issue_command_runs_from_the_cli(tmp_path, capsys):
    out = tmp_path / "ds.json"
    assert main(["run", "--arch", "ascend-910c", "--model", "deepseek-r1", "--chips", "16",
                 "--batch", "96", "--prompt", "4096", "--gen", "64", "--dtype", "int8",
                 "--decode-samples", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "decode tokens/s per chip" in printed and "TTFT" in printed
    stats = json.loads(out.read_text())["stats"]
    assert stats["per_chip"]["chips"] == 16 and stats["per_chip"]["decode_tokens_per_s"] > 0
    assert {"cube", "vector", "hbm", "l2", "link"} <= set(stats["by_unit"])


def test_gemm_command_on_a_cube_preset_tiles_over_the_die(tmp_path, capsys):
    out = tmp_path / "g.json"
    assert main(["gemm", "--arch", "ascend-910b", "--m", "1024", "--k", "1024", "--n", "1024",
                 "--json", str(out)]) == 0
    gemm_stats = json.loads(out.read_text())["gemms"][0]
    assert 0 < gemm_stats["compute_util_pct"] <= 100 and gemm_stats["tiling"]["m_t"] % 16 == 0
    assert gemm_stats["hbm_bytes"] >= gemm_stats["dram_bytes_compulsory"]
    assert "tile m/k/n" in capsys.readouterr().out
    assert main(["gemm", "--arch", "ascend-910b", "--m", "8", "--k", "8", "--n", "8",
                 "--dataflow", "ws"]) == 2
    assert main(["gemm", "--arch", "systolic-32x32", "--m", "8", "--k", "8", "--n", "8",
                 "--dtype", "int8"]) == 2
    assert "--dtype" in capsys.readouterr().err


def test_sweeps_take_the_serving_scenario_fields():
    from accsim.study.sweeps import expand_points, parse_spec
    spec = parse_spec({"base": {"arch": "ascend-910c", "model": "deepseek-r1", "chips": 160,
                                "draft_tokens": 1, "acceptance": 0.7, "decode_only": True},
                       "axes": {"batch": [2560, 5120], "system.link_GBps": [98, 196]}})
    assert len(expand_points(spec)) == 4
    with pytest.raises(ConfigError) as err:
        parse_spec({"base": {"arch": "ascend-910c", "decode_only": "yes", "acceptance": "high",
                             "chips": -1}, "axes": {"batch": [1]}})
    text = str(err.value)
    assert "base.decode_only: expected true or false" in text
    assert "base.acceptance: expected a finite number" in text and "base.chips: expected an integer >= 0" in text


def test_w8a8_quantises_the_linear_layers_only():
    model = load_model("deepseek-r1").with_dtype("w8a8")
    graph = build_graph(model, Phase.decode(4, 100), Parallelism(ep=32, dp=32))
    assert graph.op("L5.attn.q_b").weights[0].dtype_bytes == 1
    assert graph.op("L5.attn.kv_append").outputs[0].dtype_bytes == 2          # bf16 KV cache
    bf16 = build_graph(load_model("deepseek-r1").with_dtype("bf16"), Phase.decode(4, 100),
                       Parallelism(ep=32, dp=32))
    assert graph.op("L5.moe.dispatch").attrs["payload_bytes"] * 2 == bf16.op("L5.moe.dispatch").attrs["payload_bytes"]
    assert graph.op("L5.moe.combine").attrs["payload_bytes"] == bf16.op("L5.moe.combine").attrs["payload_bytes"]
    spec = resolve_preset("ascend-910c", {"system.chips": 16}).spec
    program = lower(graph, spec)
    kernels = {program.ops[program.columns["op"][i]]: T.kernel_of_row(program.columns, i)
               for i in range(program.n_tasks)}
    assert kernels["L5.attn.q_b"].int8 and kernels["L5.attn.q_b"].b_bytes == 1
    assert not kernels["L5.attn.score"].int8 and kernels["L5.attn.score"].b_bytes == 2


@pytest.mark.parametrize("arch, dtype, message", [
    ("pim-gpt", "int8", "the AiM MAC units multiply bf16"),
    ("t4", "w8a8", "no peak for dtype 'w8a8'"),
])
def test_unsupported_precisions_are_refused(arch, dtype, message):
    with pytest.raises(ConfigError, match=message):
        run(arch, "gpt2-small", prompt=4, gen=2, dtype=dtype)


def test_microbatches_overlap_collectives_with_compute():
    """Two microbatches: one's all-to-all runs on the network port while the other computes
    on the cores; compute kernels never overlap each other; the breakdown still sums to the
    step; a batch that does not split is refused."""
    from accsim.arch.npu.model import schedule
    preset = resolve_preset("ascend-910c", {"system.chips": 16, "parallel.microbatches": 2})
    model = load_model("deepseek-r1").with_dtype("w8a8")
    graph = step_graph(preset, model, Phase.prefill(64, 512))
    program = lower(graph, preset.spec)
    one = lower(graph, resolve_preset("ascend-910c", {"system.chips": 16}).spec)
    assert program.n_tasks == 2 * one.n_tasks and program.meta["microbatches"] == 2
    sched = schedule(preset.spec, program)
    unit = program.column("unit")
    compute, link = np.flatnonzero(unit == 0), np.flatnonzero(unit == 1)
    order = compute[np.argsort(sched.start[compute])]
    assert np.all(sched.start[order[1:]] >= sched.finish[order[:-1]])       # one at a time
    overlapped = any(((sched.start[compute] < sched.finish[j]) & (sched.finish[compute] > sched.start[j])).any()
                     for j in link)
    assert overlapped
    assert sched.finish.max() < sched.busy.sum()
    stats = simulate(preset.spec, program)
    assert_breakdown_sums(stats)
    with pytest.raises(ConfigError, match="parallel.microbatches: 2 does not divide the die's batch of 1"):
        lower(step_graph(preset, model, Phase.prefill(32, 64)), preset.spec)
