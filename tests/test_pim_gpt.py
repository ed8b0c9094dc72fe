"""The pim family end to end: mapper consistency, legal command traces, runs, errors."""
import json

import numpy as np
import pytest

import accsim
from accsim.arch.dram.checker import check_commands
from accsim.arch.pim import kernels as K
from accsim.arch.pim.model import simulate, stream_arrays
from accsim.cli import main
from accsim.core.errors import ConfigError
from accsim.core.presets import preset_family, preset_names, resolve_preset
from accsim.mappers.pim import KINDS, lower
from accsim.workloads import Phase, build_graph, load_model
from accsim.workloads.graph import GEMM_KINDS
from contract import assert_breakdown_sums

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "tiny-gpt.json"
    path.write_text(json.dumps({"model_type": "gpt2", "n_layer": 2, "n_embd": 256, "n_head": 4,
                                "vocab_size": 1000, "n_positions": 256}))
    return str(path)


@pytest.fixture(scope="module")
def spec():
    return resolve_preset("pim-gpt", {"dram.organization.channels": 2}).spec


def test_useful_macs_equal_the_models_multiply_adds(tiny, spec):
    graph = build_graph(load_model(tiny), Phase.decode(1, 37))
    program = lower(graph, spec)
    matrix_macs = sum(op.flops for op in graph.ops() if op.kind in GEMM_KINDS) // 2
    assert program.meta["useful_macs"] == matrix_macs
    stats = simulate(spec, program)
    assert stats["mac_lane_ops"] >= matrix_macs          # idle lanes/banks are padding, never less
    assert stats["mac_lane_ops"] < 1.6 * matrix_macs


@pytest.mark.parametrize("mapping", [{}, {"mapping.v_layout": "row_major", "mapping.channels_per_gemv": 2}])
def test_every_issued_command_obeys_every_rule(tiny, mapping):
    spec = resolve_preset("pim-gpt", {"dram.organization.channels": 2, **mapping}).spec
    program = lower(build_graph(load_model(tiny), Phase.decode(1, 100)), spec)
    arrays = stream_arrays(program)
    cmd, count = arrays[1], arrays[5]
    d = spec.dram
    rules = d.compiled_rules()
    *_, log = K.simulate_streams(*arrays, d.level_sizes(), int(d.timing["nREFI"]), rules.ptr, rules.following,
                                 rules.latency, rules.window, rules.scope, 10_000_000)
    assert log.shape[0] >= int(count[cmd != K.BARRIER].sum())
    assert check_commands(d, log) is None


def test_run_breakdown_sums_and_prompt_runs_token_by_token(tiny):
    s = accsim.run(arch="pim-gpt", model=tiny, prompt=6, gen=4, decode_samples=0,
                   overrides={"dram.organization.channels": 2})
    assert_breakdown_sums(s)
    assert s["prefill.steps"] == 6 and s["decode.steps"] == 3
    assert s["ttft_s"] == pytest.approx(s["prefill.latency_s"])
    assert {"pim_mac", "activation_refresh", "data_movement", "asic"} <= set(s["by_op_kind"])
    assert s["energy_J"] > 0 and s["decode_energy_per_token_J"] > 0
    again = accsim.run(arch="pim-gpt", model=tiny, prompt=6, gen=4, decode_samples=0,
                       overrides={"dram.organization.channels": 2})
    assert json.dumps(s.to_dict(), sort_keys=True) == json.dumps(again.to_dict(), sort_keys=True)


def test_mac_time_dominates_a_large_gemv_model(spec):
    s = simulate(spec, lower(build_graph(load_model("gpt2-small"), Phase.decode(1, 16)), spec))
    kinds = {k: v["exposed_s"] for k, v in s["by_op_kind"].to_dict().items()}
    assert max(kinds, key=kinds.get) == "pim_mac"


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="gpt2-small", batch=2), "PIM-GPT runs batch 1"),
    (dict(model="llama2-7b"), "llama2-7b needs 12.6 GiB per PIM system .* but a PIM system has 8 GiB"),
])
def test_impossible_pim_scenarios_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        accsim.run(arch="pim-gpt", prompt=2, gen=2, **kwargs)


def test_cli_run_prints_the_pim_breakdown_and_timeline(tmp_path, capsys):
    trace = tmp_path / "t.json"
    assert main(["run", "--arch", "pim-gpt", "--model", "gpt2-small", "--prompt", "1", "--gen", "3",
                 "--json", str(tmp_path / "s.json"), "--trace", str(trace), "--trace-max-events", "2000"]) == 0
    out = capsys.readouterr().out
    assert "pim_mac" in out and "activation_refresh" in out and "asic" in out and "TPOT" in out
    events = json.loads(trace.read_text())["traceEvents"]
    tracks = {e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    last = resolve_preset("pim-gpt").spec.dram.organization.channels - 1
    assert {"ch0", f"ch{last}"} <= tracks
    stats = json.loads((tmp_path / "s.json").read_text())["stats"]
    first_pass_end = max(e["ts"] + e["dur"] for e in events if e["ph"] == "X" and e["pid"] == 0)
    assert first_pass_end * 1e-6 == pytest.approx(stats["prefill"]["latency_s"], rel=1e-6)


def test_attention_heads_spread_over_channel_groups_by_the_shared_search():
    """16 heads of a short attention GEMV run one per channel group (their own input vectors in
    their own global buffers) rather than all channels on each head in turn: the search's
    cycle-level evaluation says so, and the chosen placement really is the fastest."""
    from accsim.mappers.pim import _channel_cycles, channel_groups, gemv_pattern
    spec = resolve_preset("pim-gpt").spec
    n_ch = spec.dram.organization.channels
    chosen = channel_groups(spec, 16, 128, 100)
    assert chosen < n_ch
    cycles = {}
    for group in (g for g in (1, 2, 4, 8, 16) if g <= n_ch):
        pattern = gemv_pattern(spec, 128, 100, group)
        sequential = -(-16 // (n_ch // group))
        cycles[group] = _channel_cycles(spec, np.tile(pattern.kinds, sequential),
                                        np.tile(pattern.row_offset1, sequential), np.tile(pattern.count, sequential))
    assert cycles[chosen] == min(cycles.values())
    assert channel_groups(spec, 1, 2048, 8192) == n_ch          # one GEMV: every channel


def test_grouped_heads_split_the_work_evenly_over_the_channels(tiny, spec):
    """With 4 heads on 2 channels each channel runs 2 heads of a score GEMV on its own: the
    op's MACs split evenly and no head is run on both channels."""
    program = lower(build_graph(load_model(tiny), Phase.decode(1, 40)), spec)
    c = program.columns
    score = program.ops.index("L0.attn.score")
    macs = c["kind"] == KINDS.index("MACab")
    per_channel = [int(c["count"][(c["op"] == score) & macs & (c["unit"] == ch)].sum()) for ch in range(2)]
    from accsim.mappers.pim import channel_groups, gemv_pattern
    assert channel_groups(spec, 4, 64, 41) == 1                  # heads x (41 keys . 64 dims)
    pattern = gemv_pattern(spec, 64, 41, 1)
    one_head = int(pattern.count[pattern.kinds == KINDS.index("MACab")].sum())
    assert per_channel == [2 * one_head, 2 * one_head]


def test_offchip_bytes_are_the_pin_crossings_not_the_weights(spec):
    """Input vectors in, results out, KV in: the weights stay in the banks (PIM-GPT's I/O claim)."""
    step = simulate(spec, lower(build_graph(load_model("gpt2-small"), Phase.decode(1, 16)), spec))
    commands = step["commands"]
    tx = spec.dram.organization.tx_bytes
    assert step["offchip_bytes"] == tx * sum(commands.get(c, 0) for c in ("RD", "RDMAC", "WR", "WRGB"))
    weights = load_model("gpt2-small").num_params * 2
    assert 0 < step["offchip_bytes"] < weights / 50


PIM_PRESETS = [n for n in preset_names() if preset_family(n) == "pim"]


@pytest.mark.parametrize("name", PIM_PRESETS)
def test_a_bit_multiplied_in_its_bank_costs_less_than_a_bit_read_over_the_pins(name):
    """The premise of a PIM study: the in-bank MAC (cells + its lane's arithmetic) is cheaper
    per bit than reading the bit out (cells, across the die, through the pins)."""
    from accsim.arch.pim.model import energy_per_bit_pJ
    per_bit = energy_per_bit_pJ(resolve_preset(name).spec)
    assert 0 < per_bit["in_bank_mac"] < per_bit["offchip_read"]


def test_energy_parts_follow_the_commands(tiny, spec):
    """Each part of a pass's energy is its command count times its per-command price: in-bank
    MACs pay the cells and arithmetic, never the pins; activations and refresh the datasheet's."""
    from accsim.arch.dram.energy import command_energy_pJ
    s = simulate(spec, lower(build_graph(load_model(tiny), Phase.decode(1, 37)), spec))
    parts, counts, o = s["energy_breakdown_J"], s["commands"], spec.dram.organization
    banks, bits, e = o.bank_groups * o.banks_per_group, 8 * o.tx_bytes, spec.energy
    mac_bits = counts["MACab"] * banks * bits
    assert parts["mac_arithmetic_J"] == pytest.approx(counts["MACab"] * banks * spec.pim.mac_lanes_per_bank * e.mac_pJ * 1e-12)
    assert parts["cell_access_J"] == pytest.approx((mac_bits + (counts.get("RD", 0) + counts.get("WR", 0)) * bits)
                                                   * e.cell_access_pJ_per_bit * 1e-12)
    pins = sum(counts.get(c, 0) for c in ("RD", "WR", "RDMAC", "WRGB")) * bits
    assert parts["io_J"] == pytest.approx(pins * e.io_pJ_per_bit * 1e-12)
    act = command_energy_pJ(spec.dram)["ACT"]
    assert parts["activation_J"] == pytest.approx((counts["ACTab"] * banks + counts.get("ACT", 0)) * act * 1e-12)
    assert parts["total_J"] == pytest.approx(sum(v for k, v in parts.items() if k != "total_J"))
    assert s["energy_J"] == parts["total_J"]


def test_a_pim_preset_without_datasheet_currents_is_refused():
    with pytest.raises(ConfigError, match="dram.power: a pim system prices row activations"):
        resolve_preset("pim-gpt", {"dram.power.VDD_V": 0.0}).spec.check()


def test_value_layout_trades_scattered_writes_for_reads_out_to_the_asic(tiny):
    """Column-major values (PIM-GPT): the context is an in-bank GEMV, and each new token's
    values go to head_dim x heads rows, one activation each. Row-major: one burst of writes,
    and the context reads the whole value cache over the pins."""
    model, graph = load_model(tiny), None
    graph = build_graph(model, Phase.decode(1, 100))
    specs = {v: resolve_preset("pim-gpt", {"dram.organization.channels": 2, "mapping.v_layout": v}).spec
             for v in ("column_major", "row_major")}
    stats = {v: simulate(sp, lower(graph, sp)) for v, sp in specs.items()}
    counts = {v: s["commands"] for v, s in stats.items()}
    layers, dims = model.n_layers, model.n_kv_heads * model.head_dim
    # per layer: one single-bank ACT for the contiguous keys, then one per value dimension
    assert counts["column_major"]["ACT"] == layers * (2 + dims)          # 2 channels
    assert counts["row_major"]["ACT"] - layers * 2 > 0 and counts["row_major"].get("RD", 0) > 0
    value_cache_bytes = layers * 100 * dims * 2
    assert counts["row_major"]["RD"] * 32 >= value_cache_bytes
    assert counts["column_major"].get("RD", 0) == 0
    assert counts["row_major"]["MACab"] < counts["column_major"]["MACab"]
    assert stats["row_major"]["offchip_bytes"] > 2 * stats["column_major"]["offchip_bytes"]


def test_channels_per_gemv_must_divide_the_channels():
    with pytest.raises(ConfigError, match="mapping.channels_per_gemv: 3 does not divide the 8 channels"):
        resolve_preset("pim-gpt", {"mapping.channels_per_gemv": 3}).spec.check()
