"""Split cores (parallel.stream_cores): the MoE block runs on its own cores beside the attention
stream, so one microbatch's MoE overlaps another's attention (CloudMatrix-Infer's decode
pipeline); each stream sees its cores and a proportional share of HBM and L2 bandwidth."""
import numpy as np
import pytest

from accsim.arch.npu.model import schedule, simulate
from accsim.errors import ConfigError
from accsim.mappers.npu import lower
from accsim.presets import resolve_preset
from accsim.runner import step_graph
from accsim.workloads import load_model
from accsim.workloads.graph import Phase
from contract import assert_breakdown_sums

pytestmark = pytest.mark.unit
SPLIT = {"system.chips": 16, "parallel.microbatches": 2, "parallel.stream_cores": 16}


def program_and_spec(overrides):
    preset = resolve_preset("ascend-910c", overrides)
    model = load_model("deepseek-r1").with_dtype("w8a8")
    return lower(step_graph(preset, model, Phase.decode(128, 256)), preset.spec), preset.spec


def test_stream_specs_split_cores_and_bandwidth():
    spec = resolve_preset("ascend-910c", SPLIT).spec
    attn, moe = spec.stream_spec("attention"), spec.stream_spec("moe")
    assert (attn.cores, moe.cores) == (16, spec.cores - 16)
    assert attn.memory.bandwidth_GBps + moe.memory.bandwidth_GBps == pytest.approx(spec.memory.bandwidth_GBps)
    assert attn.memory.l2_bandwidth_GBps / spec.memory.l2_bandwidth_GBps == pytest.approx(16 / spec.cores)
    assert spec.stream_spec("all") is spec
    whole = resolve_preset("ascend-910c").spec
    assert whole.stream_spec("moe") is whole            # no split: every stream is the die


def test_moe_kernels_run_on_their_own_cores_and_overlap_attention():
    program, spec = program_and_spec(SPLIT)
    units = np.array(program.units)[program.column("unit")]
    moe = np.array(["moe." in name for name in program.ops])
    compute = units != "link"
    assert np.all(units[moe & compute] == "aicore_moe") and np.all(units[~moe & compute] == "aicore")
    sched = schedule(spec, program)
    # some attention kernel runs while an MoE kernel of the other microbatch runs
    a = np.flatnonzero(units == "aicore")
    m = np.flatnonzero(units == "aicore_moe")
    overlap = (sched.start[a][:, None] < sched.finish[m][None, :]) & (sched.start[m][None, :] < sched.finish[a][:, None])
    assert overlap.any()
    stats = simulate(spec, program)
    assert_breakdown_sums(stats)
    # a kernel on a stream's share of the die is no faster than on the whole die
    from accsim.arch.npu import tiles as T
    for i in np.flatnonzero(compute)[:200]:
        kern = T.kernel_of_row(program.columns, int(i))
        stream = spec.stream_spec(T.UNIT_STREAMS[units[i]])
        assert T.simulate_kernel(stream, kern).cycles >= T.simulate_kernel(spec, kern).cycles


def test_the_split_is_checked():
    with pytest.raises(ConfigError, match="parallel.stream_cores: 24 leaves no cores"):
        resolve_preset("ascend-910c", {"parallel.microbatches": 2, "parallel.stream_cores": 24})
    with pytest.raises(ConfigError, match="parallel.stream_cores: streams overlap microbatches"):
        resolve_preset("ascend-910c", {"parallel.stream_cores": 16})
