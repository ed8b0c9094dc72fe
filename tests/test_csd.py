"""The csd family (InstInfer + offloading baselines): where attention runs, what moves, the
placement search, overlap, capacity and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import accsim
from accsim.arch.csd import model as M
from accsim.arch.csd.ir import ENGINE, FLASH_READ, P2P
from accsim.core.capacity import CapacityError
from accsim.core.errors import ConfigError
from accsim.core.presets import resolve_preset
from accsim.mappers.csd import lower
from accsim.simulation.runner import step_graph
from accsim.workloads.graph import Phase
from accsim.workloads.model import load_model

OPT = load_model("opt-13b")


def program(arch, phase, model=OPT, **overrides):
    preset = resolve_preset(arch, overrides)
    return preset.spec, lower(step_graph(preset, model, phase), preset.spec)


def kv_bytes_per_token_layer(model=OPT):
    return 2 * model.n_kv_heads * model.head_dim * 2


def test_decode_attention_runs_in_the_drive_and_reads_the_whole_cache():
    spec, prog = program("instinfer-a6000-1csd", Phase.decode(4, 512))
    cls = prog.column("task_class")
    units = [prog.units[u] for u in prog.column("unit")]
    # no attention op on the GPU; every layer reads its cache from flash and runs the engine
    gpu_kinds = {prog.kinds[k] for k, u in zip(prog.column("kind"), units) if u == "device"}
    assert not gpu_kinds & {"attn_score", "softmax", "attn_context", "kv_append"}
    read = prog.column("storage_bytes")[cls == FLASH_READ].sum()
    assert read == pytest.approx(4 * 512 * kv_bytes_per_token_layer() * OPT.n_layers, rel=1e-3)
    assert (cls == ENGINE).sum() == OPT.n_layers * spec.pipeline.chunks * 2     # 2 microbatches
    stats = M.simulate(spec, prog)
    assert stats["by_unit"]["csd0_engine"]["busy_s"] > 0 and stats["flash_read_bytes"] == read


def test_sparf_reads_the_channel_and_token_fractions():
    _, dense = program("instinfer-a6000-1csd", Phase.decode(4, 512))
    _, sparse = program("instinfer-a6000-1csd", Phase.decode(4, 512), **{"attention.mode": "sparf"})
    read = lambda p: p.column("storage_bytes")[p.column("task_class") == FLASH_READ].sum()
    # the page groups of K's channel-major copy that the top 16 of 128 channels fall in (4
    # channels a page), then whole token pages: the page-level step keeps half the top-1/8
    # sparsity, so 1/4 of K and V
    from accsim.mappers.csd import channel_groups_read
    groups = channel_groups_read(128, 1 / 8, 4)
    assert groups == pytest.approx(1 - math.comb(124, 16) / math.comb(128, 16))
    assert read(sparse) / read(dense) == pytest.approx(0.5 * groups + (1 / 8) / 0.5, rel=1e-3)
    # one channel a page and no page-level loss: the ideal fractions r/d of K, k of K and V
    _, ideal = program("instinfer-a6000-1csd", Phase.decode(4, 512),
                       **{"attention.mode": "sparf", "attention.page_sparsity_kept": 1.0,
                          "attention.channels_per_page": 1})
    assert read(ideal) / read(dense) == pytest.approx(0.5 * (1 / 8) + 1 / 8, rel=1e-3)


def test_prefill_runs_on_the_gpu_and_writes_each_layer_to_the_drives():
    spec, prog = program("instinfer-a6000-2csd", Phase.prefill(2, 256))
    cls = prog.column("task_class")
    written = prog.column("storage_bytes")[cls == 21].sum()
    assert written == pytest.approx(2 * 256 * kv_bytes_per_token_layer() * OPT.n_layers, rel=1e-3)
    drives = {prog.units[u].split("_")[0] for u, c in zip(prog.column("unit"), cls) if c == P2P}
    assert drives == {"csd0", "csd1"}


def test_more_drives_share_the_heads_and_speed_up_attention_bound_decode():
    one = accsim.run("instinfer-a6000-1csd", "opt-13b", batch=16, prompt=512, gen=2)
    two = accsim.run("instinfer-a6000-2csd", "opt-13b", batch=16, prompt=512, gen=2)
    assert 1.6 < one["tpot_s"] / two["tpot_s"] < 2.05


def test_microbatches_overlap_gpu_layers_with_in_storage_attention():
    base = dict(batch=16, prompt=512, gen=2)
    one = accsim.run("instinfer-a6000-1csd", "opt-13b", **base, overrides={"pipeline.microbatches": 1})
    two = accsim.run("instinfer-a6000-1csd", "opt-13b", **base, overrides={"pipeline.microbatches": 2})
    assert two["tpot_s"] < one["tpot_s"]


def test_flexgen_search_puts_the_kv_cache_where_the_baseline_allows_and_keeps_weights_on_gpu():
    spec, prog = program("flexgen-a6000-ssd", Phase.decode(64, 1536))
    place = prog.meta["placement"]
    assert place["kv_gpu_host_ssd"] == [0.0, 0.0, 1.0]
    assert place["weights_gpu_host_ssd"][0] == 1.0          # OPT-13B's 24 GiB fit the A6000
    assert place["policy_enumerated"] == 66 >= place["policy_fitting"] > 0   # 66 weight splits x 1
    stats = M.simulate(spec, prog)
    assert stats["ssd_read_bytes"] > 0 and stats["kv_access_share_pct"] > 90
    # with host memory allowed, a cache that fits there stays off the SSD
    free = program("flexgen-a6000-ssd", Phase.decode(8, 512), **{"policy.kv_tiers": ["gpu", "host", "ssd"]})[1]
    assert free.meta["placement"]["kv_gpu_host_ssd"][2] == 0.0


def test_flexgen_moves_weights_off_the_gpu_when_they_do_not_fit():
    spec, prog = program("flexgen-a6000-ssd", Phase.decode(4, 256), model=load_model("opt-30b"))
    assert prog.meta["placement"]["weights_gpu_host_ssd"][0] < 1.0


def test_deepspeed_streams_weights_and_runs_decode_attention_on_the_host_cpu():
    """ZeRO-Inference: every step moves the weights over PCIe; the cache stays in host memory,
    where the host CPU reads all of it for scores and context; only the new keys, values and
    query go out and the context comes back."""
    spec, prog = program("deepspeed-a6000-hostkv", Phase.decode(8, 512))
    stats = M.simulate(spec, prog)
    weights = load_model("opt-13b").num_params * 2
    cache = 8 * 512 * kv_bytes_per_token_layer() * OPT.n_layers
    # the weights (the tied embedding read again by the LM head: +2%), never the 3.4 GB cache
    assert 0.99 * weights <= stats["host_link_bytes"] < 1.03 * weights < weights + cache
    units = [prog.units[u] for u in prog.column("unit")]
    on_cpu = [prog.kinds[k] for k, u in zip(prog.column("kind"), units) if u == "host_cpu"]
    assert sorted(set(on_cpu)) == ["attn_context", "attn_score", "kv_append", "softmax"]
    read_on_cpu = prog.column("mem_bytes")[np.array(units) == "host_cpu"].sum()
    assert read_on_cpu >= cache
    assert stats["by_unit"]["host_cpu"]["busy_s"] > 0
    # a slower host memory slows decode attention, so the step
    slow = M.simulate(*program("deepspeed-a6000-hostkv", Phase.decode(8, 512), **{"host.cpu": "xeon-gold-6154"}))
    assert slow["by_unit"]["host_cpu"]["busy_s"] != stats["by_unit"]["host_cpu"]["busy_s"]
    with pytest.raises(CapacityError, match="host.memory_GiB: ZeRO-Inference keeps 24 GiB of weights and 100 GiB"):
        accsim.run("deepspeed-a6000-hostkv", "opt-13b", batch=64, prompt=1024, gen=1024, decode_samples=2)
    with pytest.raises(ConfigError, match="host.cpu: 'a6000' is a gpu, not a CPU"):
        accsim.run("deepspeed-a6000-hostkv", "opt-13b", gen=2, overrides={"host.cpu": "a6000"})


def test_the_breakdown_sums_and_the_kv_share_is_reported_for_every_system():
    for arch in ("instinfer-a6000-1csd", "flexgen-a6000-ssd", "deepspeed-a6000-hostkv"):
        s = accsim.run(arch, "opt-13b", batch=8, prompt=256, gen=3)
        assert sum(v["exposed_s"] for v in s["by_op_kind"].values()) == pytest.approx(s["latency_s"])
        assert 0 < s["decode"]["last_step"]["kv_access_share_pct"] <= 100


@pytest.mark.parametrize("overrides, message", [
    ({"drives.count": 0}, "drives.count: instinfer keeps the KV cache in drives"),
    ({"gpu": "sn40l"}, "gpu: 'sn40l' is a rdu preset"),
    ({"drives.flash": "t4"}, "drives.flash: 't4' is a gpu preset"),
    ({"policy.kv_tiers": ["tape"]}, "policy.kv_tiers"),
])
def test_bad_csd_configurations_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        accsim.run("instinfer-a6000-1csd", "opt-13b", gen=2, overrides=overrides)


def test_baselines_refuse_sparf_and_drives():
    with pytest.raises(ConfigError, match="SparF runs in the drives"):
        accsim.run("flexgen-a6000-ssd", "opt-13b", gen=2, overrides={"attention.mode": "sparf"})
    with pytest.raises(ConfigError, match="has no computational storage"):
        accsim.run("deepspeed-a6000-hostkv", "opt-13b", gen=2, chips=2)
    with pytest.raises(ConfigError, match="dtype: the csd family runs"):
        accsim.run("instinfer-a6000-1csd", "opt-13b", gen=2, dtype="int8")


def test_sparf_keeps_a_second_channel_major_copy_of_k():
    _, dense = program("instinfer-a6000-1csd", Phase.prefill(2, 128))
    _, sparse = program("instinfer-a6000-1csd", Phase.prefill(2, 128), **{"attention.mode": "sparf"})
    written = lambda p: p.column("storage_bytes")[p.column("task_class") == 21].sum()
    assert written(sparse) == pytest.approx(1.5 * written(dense), rel=1e-3)


def test_more_drives_than_kv_heads_or_huge_chunk_counts_are_refused():
    with pytest.raises(ConfigError, match="drives.count: 1000 drives for 40 KV heads"):
        accsim.run("instinfer-a6000-1csd", "opt-13b", gen=2, chips=1000)
    with pytest.raises(ConfigError, match="pipeline.chunks: expected a value <= 256"):
        accsim.run("instinfer-a6000-1csd", "opt-13b", gen=2, overrides={"pipeline.chunks": 100000})


def test_the_engine_is_its_units_pipelined():
    """A chunk takes its slowest unit kind's time (the kinds pipeline); a kind's units share its
    work (Table I's rates are one unit's)."""
    e = resolve_preset("instinfer-a6000-1csd").spec.drives.engine
    macs, soft, filt = 1e9, 1e5, 1e6
    expected = max(macs / (e.gemv_macs_per_cycle * e.gemv_units),
                   soft / (e.softmax_elements_per_cycle * e.softmax_units),
                   filt / (e.filter_bytes_per_cycle * e.filter_units))
    assert float(e.cycles(macs, soft, filt)) == pytest.approx(expected, rel=1e-12)
    doubled = resolve_preset("instinfer-a6000-1csd", {"drives.engine.softmax_units": 2 * e.softmax_units}).spec
    assert float(doubled.drives.engine.cycles(0.0, soft, 0.0)) == pytest.approx(
        float(e.cycles(0.0, soft, 0.0)) / 2, rel=1e-12)


def test_dense_decode_is_bound_by_the_flash_and_the_share_says_so():
    """The paper's breakdown: decode waits on KV access. The overlap-aware share is the time
    the flash reads are in flight; the exposed-time share credits the engine that ends last."""
    stats = accsim.run(arch="instinfer-a6000-1csd", model="opt-13b", batch=16, prompt=256, gen=3)
    step = stats["decode.last_step"]
    assert step["kv_access_share_pct"] > 90
    units = stats["decode.by_unit"]
    assert units["csd0_flash"]["busy_s"] > units["csd0_engine"]["busy_s"]
    assert step["kv_exposed_share_pct"] < step["kv_access_share_pct"]


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), max_size=30))
def test_covered_cycles_is_the_union_of_the_intervals(pairs):
    from accsim.core.engine import covered_cycles
    start = np.array([min(a, b) for a, b in pairs], np.int64)
    finish = np.array([max(a, b) for a, b in pairs], np.int64)
    cycles = set()
    for s, f in zip(start, finish):
        cycles.update(range(int(s), int(f)))
    assert covered_cycles(start, finish) == len(cycles)


def test_file_reads_run_at_the_runtimes_share_of_the_drive_unless_overridden():
    from accsim.arch.flash.service import characterise
    from accsim.core.presets import preset_spec
    spec = resolve_preset("flexgen-a6000-ssd").spec
    drive = min(characterise(preset_spec(spec.host.ssd).flash, "read").bandwidth_GBps, spec.host.ssd_link_GBps)
    per_cycle = lambda GBps: GBps * 1e9 / spec.clock_hz
    assert M.storage_rates(spec).ssd == pytest.approx(per_cycle(drive * spec.host.file_read_efficiency), rel=1e-12)
    fixed = resolve_preset("flexgen-a6000-ssd", {"host.file_read_GBps": 0.473}).spec
    assert M.storage_rates(fixed).ssd == pytest.approx(per_cycle(0.473), rel=1e-12)


def test_flexgen_runs_out_of_gpu_memory_in_prefill_at_batch_128():
    """Two attention-score tensors beside the weights the decode placement kept on the GPU."""
    assert accsim.run("flexgen-a6000-ssd", "opt-13b", batch=64, prompt=1024, gen=2)["tokens_per_s"] > 0
    with pytest.raises(CapacityError, match="FlexGen's prefill needs 48.9 GiB .* 20.0 GiB of two attention-score"):
        accsim.run("flexgen-a6000-ssd", "opt-13b", batch=128, prompt=1024, gen=2)


def test_a_two_gpu_server_runs_opt_30b_and_its_drives_serve_every_gpus_heads():
    with pytest.raises(CapacityError, match="opt-30b needs .* per GPU .* use more GPUs .gpu=a6000x2."):
        accsim.run("instinfer-a6000-1csd", "opt-30b", batch=8, prompt=512, gen=2)
    assert accsim.run("instinfer-a6000-1csd", "opt-30b", batch=8, prompt=512, gen=2,
                      overrides={"gpu": "a6000x2"})["tokens_per_s"] > 0
    one, two = (accsim.run("instinfer-a6000-1csd", "opt-13b", batch=8, prompt=512, gen=3, overrides=o)
                for o in ({}, {"gpu": "a6000x2"}))
    for stat in ("decode.totals.flash_read_bytes", "decode.totals.flash_write_bytes", "prefill.flash_write_bytes"):
        assert two[stat] == one[stat]
    with pytest.raises(ConfigError, match="the flexgen baseline runs on one GPU"):
        accsim.run("flexgen-a6000-ssd", "opt-13b", batch=8, prompt=512, gen=2, overrides={"gpu": "a6000x2"})


def test_a_shallower_engine_queue_reads_the_flash_slower():
    deep, shallow = (accsim.run("instinfer-a6000-1csd", "opt-13b", batch=16, prompt=256, gen=3,
                                overrides={"drives.queue_depth": q}) for q in (0, 32))
    assert shallow["decode.last_step.flash_read_GBps"] < deep["decode.last_step.flash_read_GBps"]
    assert shallow["tpot_s"] > deep["tpot_s"]


def test_flexgen_gds_reads_the_ssd_at_its_own_rate_and_only_flexgen_has_it():
    """GPUDirect Storage skips the page cache and the host relay: the SSD's reads run at the
    drive's rate, not the file path's share of it; the same bytes still cross the GPU's link."""
    plain, gds = M.storage_rates(resolve_preset("flexgen-a6000-ssd").spec), M.storage_rates(
        resolve_preset("flexgen-gds-a6000-ssd").spec)
    efficiency = resolve_preset("flexgen-a6000-ssd").spec.host.file_read_efficiency
    assert plain.ssd == pytest.approx(gds.ssd * efficiency)
    a = M.simulate(*program("flexgen-a6000-ssd", Phase.decode(16, 512)))
    b = M.simulate(*program("flexgen-gds-a6000-ssd", Phase.decode(16, 512)))
    assert a["ssd_read_bytes"] == b["ssd_read_bytes"] and a["host_link_bytes"] == b["host_link_bytes"]
    with pytest.raises(ConfigError, match="host.gpudirect: GPUDirect Storage is FlexGen's disk path"):
        accsim.run("deepspeed-a6000-hostkv", "opt-13b", gen=2, overrides={"host.gpudirect": True})
