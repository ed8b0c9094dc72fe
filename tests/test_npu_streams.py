"""Split cores (parallel.stream_cores): the MoE block runs on its own cores beside the attention
stream, so one microbatch's MoE overlaps another's attention (CloudMatrix-Infer's decode
pipeline); each stream sees its cores, and the streams share HBM as they run (contention
simulated by the shared-bandwidth engine, not split in proportion)."""
import numpy as np
import pytest

from accsim.arch.npu.model import schedule, simulate
from accsim.core.errors import ConfigError
from accsim.core.presets import resolve_preset
from accsim.mappers.npu import lower
from accsim.simulation.runner import step_graph
from accsim.workloads import load_model
from accsim.workloads.graph import Phase
from contract import assert_breakdown_sums

pytestmark = pytest.mark.unit
SPLIT = {"system.chips": 16, "parallel.microbatches": 2, "parallel.stream_cores": 16}


def program_and_spec(overrides):
    preset = resolve_preset("ascend-910c", overrides)
    model = load_model("deepseek-r1").with_dtype("w8a8")
    return lower(step_graph(preset, model, Phase.decode(128, 256)), preset.spec), preset.spec


def test_stream_specs_split_cores_and_see_the_whole_memory():
    spec = resolve_preset("ascend-910c", SPLIT).spec
    attn, moe = spec.stream_spec("attention"), spec.stream_spec("moe")
    assert (attn.cores, moe.cores) == (16, spec.cores - 16)
    assert attn.memory == moe.memory == spec.memory      # shared at run time, not split upfront
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
    # a kernel on a stream's cores is no faster than on the whole die (the same memory: up to
    # the small anomalies of list-scheduling tiles over fewer cores, under 1%)
    from accsim.arch.npu import tiles as T
    for i in np.flatnonzero(compute)[:200]:
        kern = T.kernel_of_row(program.columns, int(i))
        stream = spec.stream_spec(T.UNIT_STREAMS[units[i]])
        assert T.simulate_kernel(stream, kern).cycles >= 0.99 * T.simulate_kernel(spec, kern).cycles


def test_the_split_is_checked():
    with pytest.raises(ConfigError, match="parallel.stream_cores: 24 leaves no cores"):
        resolve_preset("ascend-910c", {"parallel.microbatches": 2, "parallel.stream_cores": 24})
    with pytest.raises(ConfigError, match="parallel.stream_cores: streams overlap microbatches"):
        resolve_preset("ascend-910c", {"parallel.stream_cores": 16})


def test_streams_running_at_once_share_hbm_and_a_stream_alone_has_all_of_it():
    """The schedule under contention: kernels whose bodies overlap another stream's take longer
    than their launch + standalone time, kernels that run alone take exactly that; and the die's
    HBM never moves more than its bandwidth allows over the step."""
    from accsim.arch.npu.model import _results, launch_cycles
    program, spec = program_and_spec(SPLIT)
    specs, results = _results(spec, program)
    sched = schedule(spec, program)
    standalone = np.array([r.cycles for r in results]) + launch_cycles(spec)
    took = sched.finish - sched.start
    assert np.all(took >= standalone)
    units = np.array(program.units)[program.column("unit")]
    compute = np.flatnonzero(units != "link")
    others = lambda i: compute[(units[compute] != units[i])]
    alone = [i for i in compute if not np.any((sched.start[others(i)] < sched.finish[i])
                                             & (sched.start[i] < sched.finish[others(i)]))]
    assert alone and all(took[i] == standalone[i] for i in alone)
    assert (took > standalone).any()                    # contention shows somewhere
    hbm_Bpc = spec.memory.bandwidth_GBps * 1e9 / spec.clock_hz
    moved = sum(results[i].hbm_bytes for i in compute)
    assert moved <= hbm_Bpc * int(sched.finish.max()) * 1.0001
