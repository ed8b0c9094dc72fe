"""Every per-op cost table of every mapper covers every op of every shipped model: a missing
key is an error naming the table, never a fallback to another entry."""
import pytest

from accsim.core.errors import ConfigError
from accsim.core.presets import resolve_preset, preset_names
from accsim.mappers.gpu import kernel_table, kernels_for
from accsim.mappers.pim import ASIC_COST
from accsim.mappers.rdu import TRANSCENDENTAL
from accsim.workloads import Phase, build_graph, load_model, model_names
from accsim.workloads.graph import GEMM_KINDS, OP_KEYS, op_table_entry


def shipped_op_keys() -> dict[str, set[str]]:
    """model_type -> the op keys its shipped models emit in prefill and decode (MTP included)."""
    keys: dict[str, set[str]] = {}
    for name in model_names():
        model = load_model(name)
        for phase in (Phase.prefill(1, 8), Phase.decode(1, 8, draft_modules=model.mtp_layers)):
            ops = build_graph(model, phase).ops()
            keys.setdefault(model.model_type, set()).update(op.key for op in ops)
    return keys


KEYS = shipped_op_keys()


def test_op_keys_are_declared():
    assert set().union(*KEYS.values()) <= set(OP_KEYS)


@pytest.mark.parametrize("preset", [p for p in preset_names() if resolve_preset(p).family == "gpu"])
@pytest.mark.parametrize("mode", ["eager", "graph", "vllm", "trtllm"])
def test_gpu_kernel_tables_cover_every_shipped_op(preset, mode):
    spec = resolve_preset(preset, {"framework.mode": mode}).spec
    for model_type, keys in KEYS.items():
        table = kernel_table(spec, model_type)
        assert keys | {"forward"} <= set(table), (model_type, keys - set(table))


def test_pim_and_rdu_tables_cover_every_shipped_op():
    everything = set().union(*KEYS.values())
    assert {k for k in everything if k not in GEMM_KINDS} - {"all_reduce", "all_gather", "all_to_all"} <= set(ASIC_COST)
    assert everything <= set(TRANSCENDENTAL)


def test_a_missing_key_is_an_error_naming_the_table():
    op = next(o for o in build_graph(load_model("llama2-7b"), Phase.decode(1, 8)).ops() if o.key == "elementwise_rope")
    with pytest.raises(ConfigError, match="framework.kernels_per_op: no entry for 'elementwise_rope'"):
        spec = resolve_preset("t4").spec
        table = {k: v for k, v in kernel_table(spec, "llama").items() if k != "elementwise_rope"}
        kernels_for(op, spec, table)
    with pytest.raises(ConfigError, match="pim ASIC_COST: no entry for 'elementwise_rope'"):
        op_table_entry({}, op, "pim ASIC_COST", "x")


def test_rope_is_charged_its_own_kernels():
    """The eager framework's RoPE is 10 kernels (5 for q, 5 for k), not one add."""
    spec = resolve_preset("t4").spec
    op = next(o for o in build_graph(load_model("llama2-7b"), Phase.decode(1, 8)).ops() if o.key == "elementwise_rope")
    assert kernels_for(op, spec, kernel_table(spec, "llama")) == 10
    add = next(o for o in build_graph(load_model("llama2-7b"), Phase.decode(1, 8)).ops() if o.key == "elementwise_add")
    assert kernels_for(add, spec, kernel_table(spec, "llama")) == 1


def test_a_model_type_without_a_framework_entry_is_refused():
    spec = resolve_preset("t4", {"framework.kernels_by_model_type": {"gpt2": {}}}).spec
    with pytest.raises(ConfigError, match="kernels_by_model_type: no entry for model type 'llama'"):
        kernel_table(spec, "llama")
