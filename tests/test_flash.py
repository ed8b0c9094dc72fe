"""The flash component: timing probes, an independent checker, property tests, the CLI."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accsim.arch.flash.checker import check_run
from accsim.arch.flash.service import characterise, serve
from accsim.cli import cli
from accsim.core.errors import ConfigError
from accsim.core.presets import resolve_preset


def flash(name="instinfer-csd-flash", **changes):
    return dataclasses.replace(resolve_preset(name).spec.flash, **changes)


def test_one_read_is_tR_then_one_page_on_the_bus():
    config = flash()
    tR, _, xfer = config.timing_ns()
    run = serve(config, [0], [False], [100])
    assert run.done[0] == 100 + tR + xfer
    assert xfer == pytest.approx(4096 / 1.4e9 * 1e9, abs=1)


@pytest.mark.parametrize("multiplane, operations", [(True, 1), (False, 2)])
def test_pages_on_two_planes_of_one_die_share_a_read_only_with_multiplane(multiplane, operations):
    config = flash(multiplane=multiplane)
    stride = config.channels * config.ways            # same channel and die, next plane
    run = serve(config, [0, stride], [False, False], [0, 0])
    assert len({(int(s), int(e)) for s, e in zip(run.op_start, run.op_end)}) == operations
    assert check_run(config, run) == []


def test_cache_reads_overlap_the_next_tR_with_the_transfer():
    stride = flash().channels * flash().ways * flash().planes   # same die, same plane
    pages = [0, stride, 2 * stride]
    plain = serve(flash(cache_read=False), pages, [False] * 3, [0] * 3)
    cached = serve(flash(cache_read=True), pages, [False] * 3, [0] * 3)
    tR, _, xfer = flash().timing_ns()
    assert plain.done[-1] == 3 * (tR + xfer)
    assert cached.done[-1] == 3 * tR + xfer


def test_a_write_transfers_then_programs():
    config = flash()
    tR, tPROG, xfer = config.timing_ns()
    run = serve(config, [5], [True], [0])
    assert (run.xfer_start[0], run.op_start[0], run.done[0]) == (0, xfer, xfer + tPROG)


@pytest.mark.parametrize("name", ["instinfer-csd-flash", "samsung-980pro-flash"])
def test_a_saturating_stream_reaches_the_narrower_of_buses_and_dies(name):
    config = flash(name)
    c = characterise(config, "read")
    assert c.bandwidth_GBps <= min(c.bus_peak_GBps, c.array_peak_GBps) * 1.0001
    assert c.bandwidth_GBps > 0.95 * min(c.bus_peak_GBps, c.array_peak_GBps)


def test_the_checker_catches_overlapping_transfers():
    config = flash()
    run = serve(config, [0, config.channels], [False, False], [0, 0])   # same channel, two dies
    broken = dataclasses.replace(run, xfer_start=np.minimum(run.xfer_start, run.xfer_start.min()))
    assert any("carried two transfers" in p for p in check_run(config, broken))


@st.composite
def requests(draw):
    n = draw(st.integers(1, 80))
    pages = draw(st.lists(st.integers(0, 300), min_size=n, max_size=n))
    writes = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    gaps = draw(st.lists(st.integers(0, 60_000), min_size=n, max_size=n))
    return pages, writes, np.cumsum(gaps) - gaps[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.sampled_from(["instinfer-csd-flash", "samsung-980pro-flash"]),
       st.booleans(), st.booleans(), st.integers(1, 4))
def test_random_streams_obey_every_rule(stream, name, multiplane, cache_read, ways):
    pages, writes, arrival = stream
    config = flash(name, multiplane=multiplane, cache_read=cache_read, ways=ways)
    run = serve(config, pages, writes, arrival)
    assert check_run(config, run) == []
    assert np.all(run.done >= arrival)
    again = serve(config, pages, writes, arrival)
    assert np.array_equal(run.done, again.done)


def test_bad_requests_are_refused():
    with pytest.raises(ConfigError, match="beyond the array"):
        serve(flash(), [10**12], [False], [0])
    with pytest.raises(ConfigError, match=">= 0"):
        serve(flash(), [-1], [False], [0])


def test_accsim_flash_runs_a_trace(tmp_path):
    trace = tmp_path / "t.trace"
    trace.write_text("".join(f"{i * 1000} {'W' if i % 4 == 0 else 'R'} {i * 4096}\n" for i in range(200)))
    out = CliRunner().invoke(cli, ["flash", "--preset", "instinfer-csd-flash", "--trace", str(trace),
                                   "--json", str(tmp_path / "f.json")])
    assert out.exit_code == 0, out.output
    assert "bandwidth_GBps" in out.output and "checker_violations" in out.output
    bad = CliRunner().invoke(cli, ["flash", "--preset", "t4", "--trace", str(trace)])
    assert bad.exit_code != 0 and "not a flash array" in bad.output


def test_a_kv_chunk_reads_at_the_characterised_rate_the_csd_model_uses():
    """One drive's chunk of KV pages (heads x 16-token blocks, consecutive logical pages) served
    event by event takes what the csd model charges: the idle latency, then the bytes at the
    characterised bandwidth."""
    config = flash()
    for heads, blocks in ((10, 96), (40, 512)):
        pages = np.arange(heads * blocks)
        run = serve(config, pages, np.zeros(pages.size, bool), np.zeros(pages.size, np.int64))
        charged_s = characterise(config, "read").transfer_s(pages.size * config.page_bytes)
        assert run.done.max() * 1e-9 == pytest.approx(charged_s, rel=0.03)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.sampled_from(["instinfer-csd-flash", "samsung-980pro-flash"]), st.integers(1, 12),
       st.booleans())
def test_a_window_keeps_at_most_that_many_requests_in_the_array(stream, name, window, multiplane):
    """Request i is sent when i < window + completions so far: it is served no earlier than the
    (i - window + 1)-th completion, and every rule still holds."""
    pages, writes, arrival = stream
    config = flash(name, multiplane=multiplane)
    run = serve(config, pages, writes, arrival, window)
    assert check_run(config, run) == []
    first_service = np.where(run.is_write, run.xfer_start, run.op_start)
    completions = np.sort(run.done)
    for i in range(window, len(pages)):
        assert first_service[i] >= completions[i - window]
    open_loop = serve(config, pages, writes, arrival)
    assert np.array_equal(serve(config, pages, writes, arrival, len(pages)).done, open_loop.done)


def test_a_deeper_queue_never_reads_slower_and_saturates_the_array():
    config = flash("instinfer-csd-flash")
    rates = [characterise(config, "read", window=w).bandwidth_GBps for w in (1, 8, 64, 256)]
    assert rates == sorted(rates) and rates[0] < rates[-1]
    assert rates[-1] == pytest.approx(characterise(config, "read").bandwidth_GBps)
    with pytest.raises(ConfigError, match="window must be >= 0"):
        serve(config, [0], [False], [0], -1)


def test_accsim_flash_takes_a_queue_depth(tmp_path):
    import json
    trace = tmp_path / "t.trace"
    trace.write_text("".join(f"LD {i * 4096}\n" for i in range(400)))
    rates = []
    for depth in (1, 64):
        out = CliRunner().invoke(cli, ["flash", "--preset", "instinfer-csd-flash", "--trace", str(trace),
                                       "--queue-depth", str(depth), "--json", str(tmp_path / f"{depth}.json")])
        assert out.exit_code == 0, out.output
        rates.append(json.loads((tmp_path / f"{depth}.json").read_text())["stats"]["bandwidth_GBps"])
    assert rates[0] < rates[1]
