"""A trace streamed in chunks gives exactly the results of the whole trace at once, and the
controller keeps only the requests in flight between chunks (memory flat in trace length)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accsim.arch.dram.patterns import make_trace, prefix
from accsim.arch.dram.trace import TraceRun, simulate_trace, simulate_trace_chunks
from accsim.cli import main
from accsim.core.errors import TraceFormatError
from accsim.core.presets import resolve_preset
from accsim.core.traces import Trace, iter_trace, read_trace, write_trace

pytestmark = pytest.mark.unit

# FR-FCFS (open and closed rows, several standards) and the per-bank controller (dual issue on
# hbm2-dramsim3); refresh often so that chunks fall inside refreshes too
CONTROLLERS = [("gddr6-ram2compat", "open"), ("hbm2-ram2compat", "closed"), ("ddr4-3200", "open"),
               ("gddr6-dramsim3", "open"), ("hbm2-dramsim3", "open")]


def dram(preset, row_policy="open"):
    t = resolve_preset(preset, {}).spec.dram.timing
    return resolve_preset(preset, {"dram.timing.nREFI": max(400, t["nRFC"] + t["nRP"] + 100),
                                   "dram.controller.row_policy": row_policy}).spec.dram


def pieces(trace, cuts):
    bounds = [0, *sorted(set(cuts)), len(trace)]
    return [Trace(trace.addr[a:b], trace.is_write[a:b], trace.cycle[a:b])
            for a, b in zip(bounds, bounds[1:]) if b > a]


def simulated(result):
    """Everything a run simulated (not how the run went: its loop count)."""
    stats = result.stats.to_dict()
    stats.pop("events")
    return stats, result.commands.tolist()


@st.composite
def timed_traces(draw):
    """Few distinct lines (so reads merge, hit queued writes and rows), bursts and idle gaps."""
    n = draw(st.integers(2, 150))
    lines = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    writes = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    gaps = draw(st.lists(st.sampled_from([0, 0, 0, 1, 3, 50, 5_000]), min_size=n, max_size=n))
    spread = draw(st.sampled_from([64, 4096, 1 << 20]))
    return Trace(np.array(lines, np.int64) * spread, np.array(writes, bool), np.cumsum(gaps).astype(np.int64))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timed_traces(), st.sampled_from(CONTROLLERS), st.lists(st.integers(1, 149), max_size=6))
def test_chunks_give_the_results_of_the_whole_trace(trace, controller, cuts):
    config = dram(*controller)
    whole = simulate_trace(config, trace, max_log=100_000)
    chunked = simulate_trace_chunks(config, pieces(trace, [c for c in cuts if c < len(trace)]), max_log=100_000)
    assert simulated(chunked) == simulated(whole)


@pytest.mark.parametrize("preset", ["gddr6-ram2compat", "hbm2-dramsim3"])
def test_reference_trace_in_chunks_of_one_to_many_requests(preset):
    config = resolve_preset(preset, {}).spec.dram
    trace = prefix(make_trace("mix"), 3000)
    whole = simulated(simulate_trace(config, trace, max_log=50_000))
    for size in (1, 97, 2999):
        cuts = range(size, len(trace), size)
        assert simulated(simulate_trace_chunks(config, pieces(trace, cuts), max_log=50_000)) == whole


def test_between_chunks_only_requests_in_flight_stay():
    """The window the controller sees is the chunk plus at most the queued and returning
    requests (a few queues' worth), however long the trace grows."""
    config = resolve_preset("hbm2-ram2compat", {}).spec.dram
    trace = prefix(make_trace("rand"), 20_000)
    run, kept = TraceRun(config), []
    chunks = pieces(trace, range(500, len(trace), 500))
    for chunk in chunks[:-1]:
        run.feed(chunk, last=False)
        kept.append(len(run.window))
    run.feed(chunks[-1], last=True)
    in_flight_bound = 3 * (config.controller.read_queue + config.controller.write_queue) + 500
    assert max(kept) < in_flight_bound
    assert run.result().stats["requests"] == len(trace)


def test_file_pieces_join_to_the_whole_file(tmp_path):
    trace = prefix(make_trace("mix"), 5000)
    for fmt in ("ldst", "dramsim3", "timed"):
        path = tmp_path / f"t.{fmt}"
        write_trace(path, Trace(trace.addr, trace.is_write, np.arange(len(trace)) * 3), fmt)
        parts = list(iter_trace(path, chunk_bytes=1000))
        assert len(parts) > 10
        whole = read_trace(path)
        for field in ("addr", "is_write", "cycle"):
            assert np.array_equal(np.concatenate([getattr(p, field) for p in parts]), getattr(whole, field))


def test_file_pieces_keep_line_numbers_and_order_across_pieces(tmp_path):
    body = "".join(f"0x{64 * i:x} READ {i}\n" for i in range(200))
    path = tmp_path / "t.trace"
    path.write_text("# a header of comments\n" * 100 + body + "0x40 READ 5\n")   # back in time on line 301
    with pytest.raises(TraceFormatError, match=r"t.trace:301: cycle 5 goes back in time \(previous 199\)"):
        list(iter_trace(path, chunk_bytes=256))
    path.write_text("# comments only in the first piece\n" * 50 + "0 R 0x40\n7 W 0x80")   # no final newline
    parts = list(iter_trace(path, chunk_bytes=64))
    assert np.concatenate([p.cycle for p in parts]).tolist() == [0, 7]         # detected as timed
    path.write_text("# nothing but comments\n" * 30)
    with pytest.raises(TraceFormatError, match="no requests"):
        list(iter_trace(path, chunk_bytes=64))


def test_cli_streams_the_file_and_matches_the_whole_trace(tmp_path, monkeypatch):
    """`accsim dram --trace` reads the file in pieces (here small ones) with the in-memory results."""
    import json

    import accsim.core.traces as traces
    monkeypatch.setattr(traces, "CHUNK_BYTES", 2048)      # about 150 requests a piece
    trace = prefix(make_trace("mix"), 4000)
    path = tmp_path / "mix.ldst"
    write_trace(path, trace, "ldst")
    out = tmp_path / "out.json"
    assert main(["dram", "--standard", "gddr6-ram2compat", "--trace", str(path), "--json", str(out), "--quiet"]) == 0
    streamed = json.loads(out.read_text())["stats"]
    whole = simulate_trace(resolve_preset("gddr6-ram2compat", {}).spec.dram, trace).stats.to_dict()
    streamed.pop("events"), whole.pop("events")
    assert streamed == json.loads(json.dumps(whole))
