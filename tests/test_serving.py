"""The serving layer: it reproduces 'accsim run', conserves requests and tokens under any
policy and trace, keeps Little's law, respects the KV capacity, and is deterministic."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accsim.cli import main
from accsim.serving.engine import Policy
from accsim.serving.requests import Requests, at_once, generate, read_trace
from accsim.serving.server import Server, find_max_batch, find_max_rate, meets
from accsim.simulation.api import run_scenario
from accsim.simulation.scenario import Scenario

pytestmark = pytest.mark.unit

MACHINE = Scenario(arch="t4", model="gpt2-small")


@pytest.fixture(scope="module")
def exact_server():
    return Server(MACHINE)


@pytest.fixture(scope="module")
def grid_server():
    # a coarse grid: few distinct passes, so that property tests stay fast
    return Server(MACHINE, grid_per_octave=1)


def test_static_batch_at_t0_reproduces_accsim_run(exact_server):
    batch, prompt, gen = 4, 64, 12
    run = run_scenario(replace(MACHINE, batch=batch, prompt=prompt, gen=gen, decode_samples=0)).stats
    out = exact_server.serve(at_once(batch, prompt, gen), Policy("static", max_batch=batch)).outcome
    assert np.allclose(out.first_token_s, run["ttft_s"], rtol=1e-12, atol=0)
    assert np.allclose(out.finish_s, run["latency_s"], rtol=1e-12, atol=0)
    rows = exact_server.serve(at_once(batch, prompt, gen), Policy("static", max_batch=batch)).figures
    assert rows["tpot_s"]["p50"] == pytest.approx(run["tpot_s"], rel=1e-12)


def test_kv_capacity_matches_the_memory_left_by_the_weights(exact_server):
    from accsim.core.capacity import GIB, resident_bytes
    from accsim.simulation.runner import step_graph
    from accsim.workloads.graph import Phase
    m = exact_server.machine
    weights = resident_bytes(step_graph(m.preset, m.model, Phase.decode(1, 0))).weights_bytes
    by_hand = (m.preset.spec.memory.capacity_GiB * GIB - weights) / exact_server.kv_bytes_per_token
    # the search fills memory with whole 1024-token sequences (gpt2's longest)
    assert by_hand - 1024 < exact_server.kv_tokens <= by_hand


def test_policies_under_load_continuous_beats_static(grid_server):
    requests = generate(300, 40.0, "poisson", "uniform:32,400", "uniform:8,300", seed=3)
    static = grid_server.serve(requests, Policy("static", max_batch=32)).figures
    continuous = grid_server.serve(requests, Policy("continuous", max_batch=32)).figures
    assert continuous["ttft_s"]["p99"] < static["ttft_s"]["p99"]
    assert continuous["throughput_tokens_per_s"] > static["throughput_tokens_per_s"]


def test_same_inputs_give_identical_results():
    requests = generate(80, 30.0, "gamma", "uniform:16,300", "uniform:4,120", seed=11, cv=3.0)
    a, b = (Server(MACHINE, grid_per_octave=1).serve(requests, Policy("chunked", max_batch=16,
                                                                      max_batched_tokens=128)).figures
            for _ in range(2))
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_grid_interpolation_error_is_small_on_this_machine():
    server = Server(MACHINE, grid_per_octave=4)
    server.serve(generate(150, 30.0, "poisson", "uniform:16,400", "uniform:4,200", seed=5),
                 Policy("chunked", max_batch=32, max_batched_tokens=256))
    error = server.steps.grid_error(12)
    assert error["points_checked"] == 12
    assert error["max_rel_error"] < 0.03


def _random_requests(draw) -> Requests:
    n = draw(st.integers(1, 25))
    gaps = draw(st.lists(st.floats(0, 0.05), min_size=n, max_size=n))
    prompt = draw(st.lists(st.integers(1, 200), min_size=n, max_size=n))
    output = draw(st.lists(st.integers(2, 120), min_size=n, max_size=n))
    return Requests(np.cumsum(gaps), np.asarray(prompt), np.asarray(output))


@st.composite
def scenarios(draw):
    requests = _random_requests(draw)
    block = draw(st.sampled_from([1, 4, 16]))
    longest = int((requests.prompt + requests.output).max()) + 1
    policy = Policy(draw(st.sampled_from(["static", "continuous", "chunked"])),
                    max_batch=draw(st.integers(1, 12)), max_batched_tokens=draw(st.integers(200, 600)),
                    block_tokens=block, preempt=draw(st.sampled_from(["recompute", "swap"])), swap_GBps=16.0)
    # KV from one request's worth to plenty: small ones force preemption
    capacity_tokens = draw(st.integers(longest + block, 6 * longest))
    return requests, policy, capacity_tokens


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=scenarios())
def test_every_request_finishes_once_with_its_tokens_and_littles_law_holds(grid_server, case):
    requests, policy, capacity_tokens = case
    server = grid_server
    saved = server.kv_tokens
    server.kv_tokens = capacity_tokens
    try:
        result = server.serve(requests, policy)
    finally:
        server.kv_tokens = saved
    out = result.outcome
    # conservation: every request ends exactly once, having received exactly its output tokens
    assert np.isfinite(out.finish_s).all()
    assert (out.tokens_out == requests.output).all()
    assert (out.first_token_s >= requests.arrival_s).all() and (out.finish_s >= out.first_token_s).all()
    assert (out.start_s >= requests.arrival_s).all()
    assert out.prompt_tokens_processed >= requests.prompt.sum() or policy.name == "static"
    s = out.series
    assert (s["kv_blocks"] <= out.capacity_blocks).all()
    assert (s["end_s"] > s["start_s"]).all() and (s["start_s"][1:] >= s["end_s"][:-1] - 1e-12).all()
    assert (s["batch"] <= policy.max_batch).all()
    # Little's law, L = lambda W: the time integral of requests in the system (from the engine's
    # own queue counts at each iteration's start, plus what arrives during it) brackets the sum
    # of the requests' times in the system
    dt = s["end_s"] - s["start_s"]
    arrivals_during = (np.searchsorted(requests.arrival_s, s["end_s"], side="left")
                       - np.searchsorted(requests.arrival_s, s["start_s"], side="right"))
    in_system_s = float((out.finish_s - requests.arrival_s).sum())
    assert (s["in_system"] * dt).sum() <= in_system_s + 1e-9
    assert in_system_s <= ((s["in_system"] + arrivals_during) * dt).sum() + 1e-9
    # the wait before the first iteration after an arrival is idle time: none in the system then
    assert result.figures["requests"] == len(requests)


def test_preemption_happens_and_swap_takes_copy_time(grid_server):
    requests = at_once(6, 100, 100)
    saved = grid_server.kv_tokens
    grid_server.kv_tokens = 3 * 200
    try:
        recompute = grid_server.serve(requests, Policy("continuous", block_tokens=16))
        swap = grid_server.serve(requests, Policy("continuous", block_tokens=16, preempt="swap", swap_GBps=1.0))
    finally:
        grid_server.kv_tokens = saved
    assert recompute.figures["preemptions"] > 0 and recompute.figures["swap_s"] == 0
    assert recompute.outcome.prompt_tokens_processed > requests.prompt.sum()      # re-prefills
    assert swap.figures["preemptions"] > 0 and swap.figures["swap_s"] > 0
    assert swap.outcome.prompt_tokens_processed == requests.prompt.sum()


def test_max_rate_search_brackets_the_slo(grid_server):
    make = lambda rate: generate(120, rate, "poisson", "uniform:32,256", "uniform:8,64", seed=2)  # noqa: E731
    policy = Policy("continuous", max_batch=16)
    found = find_max_rate(grid_server, make, policy, 0.2, None, start_rate=20.0)
    assert meets(grid_server.serve(make(found["max_rate_per_s"]), policy, 0.2, None).figures, 0.2, None)
    assert not meets(grid_server.serve(make(found["first_failing_rate_per_s"]), policy, 0.2, None).figures,
                     0.2, None)
    assert (found["first_failing_rate_per_s"] - found["max_rate_per_s"]) / found["max_rate_per_s"] <= 0.02


def test_max_batch_search_on_a_decode_only_instance(grid_server):
    requests = at_once(64, 200, 20)
    found = find_max_batch(grid_server, requests, Policy("continuous", decode_only=True), None, 0.0075)
    ok = {t["max_batch"]: t["meets_slo"] for t in found["tries"]}
    assert ok[found["max_batch"]]
    assert found["limited_by_requests"] or not ok[min(b for b in ok if b > found["max_batch"])]


def test_trace_layouts(tmp_path):
    (tmp_path / "azure.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                        "2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n")
    (tmp_path / "burst.csv").write_text("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                                        "5,ChatGPT,472,18,490,Conversation log\n45,GPT-4,1087,0,1087,API log\n"
                                        "118,ChatGPT,417,276,693,Conversation log\n")
    (tmp_path / "mine.jsonl").write_text('{"arrival_s": 2.5, "prompt_tokens": 10, "output_tokens": 3}\n'
                                         '{"arrival_s": 1.0, "prompt_tokens": 7, "output_tokens": 4}\n')
    azure = read_trace(tmp_path / "azure.csv")
    assert azure.arrival_s.tolist() == pytest.approx([0.0, 4.314579]) and azure.prompt.tolist() == [374, 396]
    burst = read_trace(tmp_path / "burst.csv")
    assert burst.arrival_s.tolist() == [0.0, 113.0] and burst.output.tolist() == [18, 276]
    assert burst.skipped_failed == 1
    mine = read_trace(tmp_path / "mine.jsonl")
    assert mine.arrival_s.tolist() == [0.0, 1.5] and mine.prompt.tolist() == [7, 10]


def test_generators_are_seeded_and_scale_with_the_rate():
    a, b = generate(50, 2.0, "poisson", "lognormal:100,0.5", "hist:10=1,20=3", 7), \
        generate(50, 4.0, "poisson", "lognormal:100,0.5", "hist:10=1,20=3", 7)
    assert np.allclose(a.arrival_s, 2 * b.arrival_s) and (a.prompt == b.prompt).all()
    assert set(a.output.tolist()) <= {10, 20}
    fixed = generate(5, 10.0, "fixed", "fixed:3", "uniform:1,2", 0)
    assert np.allclose(np.diff(fixed.arrival_s), 0.1)


def test_cli_writes_every_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["serve", "--quiet", "--requests", "30", "--rate", "20", "--policy", "chunked",
                 "--max-batched-tokens", "256", "--slo-tpot-ms", "20", "--requests-csv", "r.csv",
                 "--plot", "p.png", "--timeline", "t.json", "--json", "s.json"])
    assert code == 0
    payload = json.loads((tmp_path / "s.json").read_text())
    assert payload["figures"]["requests"] == 30 and payload["steps"]["mode"] == "grid"
    assert payload["series"]["kept"] == payload["figures"]["iterations"]
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 31
    trace = json.loads((tmp_path / "t.json").read_text())
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert sum(e["pid"] == 1 for e in slices) == payload["figures"]["iterations"]
    # every request shows its queueing, prefill and decode, in order, ending at its end-to-end time
    rows = {int(r.split(",")[0]): r.split(",") for r in (tmp_path / "r.csv").read_text().splitlines()[1:]}
    for i in (0, 29):
        mine = sorted((e for e in slices if e["pid"] == 2 and e["tid"] == i), key=lambda e: e["ts"])
        assert [e["name"] for e in mine][-2:] == ["prefill", "decode"]
        end_s = (mine[-1]["ts"] + mine[-1]["dur"]) / 1e6
        assert end_s - float(rows[i][1]) == pytest.approx(float(rows[i][7]), rel=1e-9)
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_disaggregated_pools_feed_forward(grid_server):
    from accsim.serving.disagg import transfer_done_s
    from accsim.serving.server import Disaggregated, KvLink
    requests = generate(120, 40.0, "poisson", "uniform:32,400", "uniform:1,200", seed=4)
    link = KvLink(2.0, 20.0)
    result = Disaggregated(grid_server, grid_server, 2, 3, link).serve(requests, Policy("continuous", max_batch=16))
    out, landed = result.outcome, result.pools["landed_s"]
    assert np.isfinite(out.finish_s).all() and (out.tokens_out == requests.output).all()
    # a transfer leaves after its prefill, takes at least its own bytes' time, and waits its turn
    kv_bytes = requests.prompt * grid_server.kv_bytes_per_token * grid_server.machine.tp
    assert (landed >= out.first_token_s + 20e-6 + kv_bytes / 2e9 - 1e-12).all()
    one_token = requests.output == 1
    assert (out.finish_s[one_token] == out.first_token_s[one_token]).all()
    assert (out.finish_s[~one_token] > landed[~one_token]).all()
    assert [len(result.pools["prefill"]), len(result.pools["decode"])] == [2, 3]
    # the link is first come first served: a burst of equal transfers lands evenly spaced
    done = transfer_done_s(np.zeros(4), np.full(4, 1e9), KvLink(1.0))
    assert done.tolist() == pytest.approx([1.0, 2.0, 3.0, 4.0])
    # a slower link only delays the decode side: the first tokens are the same
    slow = Disaggregated(grid_server, grid_server, 2, 3, KvLink(0.2, 20.0)).serve(
        requests, Policy("continuous", max_batch=16)).outcome
    assert np.array_equal(slow.first_token_s, out.first_token_s)
    assert (slow.finish_s[~one_token] >= out.finish_s[~one_token] - 1e-9).mean() > 0.9


def test_a_sweep_serves_every_point_and_ids_follow_the_serve_options(tmp_path):
    from accsim.study.results import load
    from accsim.study.sweeps import parse_spec, plan_sweep, run_sweep
    raw = {"base": {"arch": "t4", "model": "gpt2-small"},
           "serve": {"requests": 40, "rate": 20.0, "grid_per_octave": 1, "slo_tpot_ms": 8.0},
           "axes": {"serve.policy": ["static", "continuous"]},
           "constraints": ["serve.rate <= 20"]}
    spec = parse_spec(raw)
    planned, _ = plan_sweep(spec)
    assert [s["serve"]["policy"] for _, s, _ in planned] == ["static", "continuous"]
    other, _ = plan_sweep(parse_spec({**raw, "serve": {**raw["serve"], "seed": 1}}))
    assert not {pid for *_, pid in planned} & {pid for *_, pid in other}
    summary = run_sweep(spec, tmp_path / "s.db")
    assert summary.ok == 2
    rows = load(tmp_path / "s.db")
    assert set(rows["serve.policy"]) == {"static", "continuous"}
    assert (rows["requests"] == 40).all() and rows["ttft_s.p99"].notna().all()
    # a point equals the same serving run from the command line's code path
    from accsim.serving.options import ServeOptions
    from accsim.serving.run import flat_figures, run_serve
    direct = flat_figures(run_serve(MACHINE, ServeOptions(requests=40, rate=20.0, grid_per_octave=1,
                                                          slo_tpot_ms=8.0, policy="continuous")))
    stored = rows[rows["serve.policy"] == "continuous"].iloc[0]
    assert stored["ttft_s.p99"] == direct["ttft_s.p99"] and stored["goodput_requests_per_s"] == \
        direct["goodput_requests_per_s"]


def test_python_api_mirrors_the_command():
    import accsim
    run = accsim.serve(arch="t4", model="gpt2-small", requests=20, rate=10.0, grid_per_octave=1)
    assert run.result.figures["requests"] == 20
    from accsim.core.errors import ConfigError
    with pytest.raises(ConfigError, match="rat: unknown field.*did you mean 'rate'"):
        accsim.serve(rat=3.0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_disaggregated_conservation_under_random_traces(grid_server, data):
    from accsim.serving.server import Disaggregated, KvLink
    requests = _random_requests(data.draw)
    pools = Disaggregated(grid_server, grid_server, data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)),
                          KvLink(data.draw(st.floats(0.01, 100)), data.draw(st.floats(0, 100))))
    policy = Policy(data.draw(st.sampled_from(["continuous", "chunked"])), max_batch=data.draw(st.integers(1, 8)),
                    max_batched_tokens=600)
    result = pools.serve(requests, policy)
    out, landed = result.outcome, result.pools["landed_s"]
    assert np.isfinite(out.finish_s).all() and (out.tokens_out == requests.output).all()
    assert (requests.arrival_s <= out.start_s).all() and (out.start_s < out.first_token_s).all()
    assert (out.first_token_s < landed).all() and (landed < out.finish_s).all()   # outputs >= 2 here
    served = sum(len(o.requests) for o in result.pools["decode"])
    assert served == len(requests) == sum(len(o.requests) for o in result.pools["prefill"])


def test_a_token_by_token_family_serves_one_sequence_at_a_time():
    """PIM-GPT runs batch 1, its prompts one token per pass: serving says so for a larger
    --max-batch, and with 1 a prompt costs about its length in one-token passes."""
    from accsim.core.errors import ConfigError
    pim = Server(Scenario(arch="pim-gpt", model="gpt2-small"), grid_per_octave=2)
    requests = generate(6, 2.0, "poisson", "uniform:16,48", "uniform:4,8", seed=1)
    with pytest.raises(ConfigError, match="--max-batch: pim-gpt does not run 256 sequences.*runs 1"):
        pim.serve(requests, Policy("continuous"))
    figures = pim.serve(requests, Policy("continuous", max_batch=1)).figures
    assert figures["max_batch_seen"] == 1
    one_token_s = pim.steps.decode_s(np.array([32.0]))
    assert figures["ttft_s"]["p50"] == pytest.approx(32 * one_token_s, rel=0.5)


def test_serve_sweep_on_a_dask_cluster_matches_local_workers(tmp_path):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    from accsim.study.results import read_table
    from accsim.study.sweeps import parse_spec, run_sweep
    spec = parse_spec({"base": {"arch": "t4", "model": "gpt2-small"},
                       "serve": {"requests": 30, "grid_per_octave": 1, "slo_tpot_ms": 8.0},
                       "axes": {"serve.rate": [10.0, 40.0], "serve.policy": ["continuous", "chunked"]}})

    def rows(db):
        columns, table = read_table(db)
        skip = {columns.index("elapsed_s"), columns.index("finished_at")}
        return sorted(tuple(v for i, v in enumerate(r) if i not in skip) for r in table)
    assert run_sweep(spec, tmp_path / "local.db", jobs=2).ok == 4
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert run_sweep(spec, tmp_path / "dask.db", scheduler=cluster.scheduler_address).ok == 4
    assert rows(tmp_path / "local.db") == rows(tmp_path / "dask.db")


def test_the_summary_names_no_slo_figure_without_slos_and_says_what_a_max_rate_is(tmp_path, capsys, monkeypatch):
    from accsim.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--rate", "5", "--requests", "30"]) == 0
    out = capsys.readouterr().out
    assert "no SLOs given" in out and "meet the SLOs" not in out
    assert main(["serve", "--rate", "5", "--find", "max-rate", "--slo-tpot-ms", "20"]) == 0
    assert "requests/s offered" in capsys.readouterr().out


def test_the_python_api_has_a_signature_a_short_repr_and_frames():
    import inspect
    import accsim
    from accsim.core.errors import ConfigError
    params = inspect.signature(accsim.serve).parameters
    assert list(params)[:2] == ["arch", "model"] and params["rate"].default == 1.0 and "policy" in params
    run = accsim.serve("t4", "gpt2-small", rate=5, requests=20)
    text = repr(run)
    assert text.startswith("ServeRun(gpt2-small on t4, continuous, 20 requests") and len(text) < 300
    frame = run.to_pandas()
    assert len(frame) == 20 and {"ttft_s", "tpot_s", "e2e_s"} <= set(frame.columns)
    assert accsim.run(gen=2).to_pandas().shape[0] == 1
    with pytest.raises(ConfigError, match="rat: unknown field .did you mean 'rate'"):
        accsim.serve(rat=5)
    with pytest.raises(ConfigError, match="too many positional arguments"):
        accsim.serve("t4", "gpt2-small", "x")


@st.composite
def prefixed_traffic(draw):
    n = draw(st.integers(1, 30))
    groups = draw(st.integers(1, 4))
    block = draw(st.sampled_from([1, 4, 16]))
    prefix = {g: draw(st.integers(1, 120)) for g in range(groups)}
    ids = np.asarray([draw(st.integers(-1, groups - 1)) for _ in range(n)], np.int64)
    own = np.asarray([draw(st.integers(1, 60)) for _ in range(n)], np.int64)
    tokens = np.asarray([prefix[g] if g >= 0 else 0 for g in ids], np.int64)
    gaps = np.asarray([draw(st.floats(0, 0.05)) for _ in range(n)])
    output = np.asarray([draw(st.integers(2, 40)) for _ in range(n)], np.int64)
    requests = Requests(np.cumsum(gaps), own + tokens, output, prefix_id=ids, prefix_tokens=tokens)
    policy = Policy(draw(st.sampled_from(["continuous", "chunked"])), max_batch=draw(st.integers(1, 8)),
                    max_batched_tokens=draw(st.integers(200, 600)), block_tokens=block, prefix_cache="device")
    longest = int((requests.prompt + requests.output).max()) + 1
    capacity = draw(st.integers(longest + block, 8 * longest))
    return requests, policy, capacity


def _serve_with_capacity(server, requests, policy, capacity_tokens):
    saved = server.kv_tokens
    server.kv_tokens = capacity_tokens
    try:
        return server.serve(requests, policy)
    finally:
        server.kv_tokens = saved


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=prefixed_traffic())
def test_prefix_cache_accounting_is_exact(grid_server, case):
    """Try to break the prefix cache: every request still ends with its tokens; every lookup is
    one admission of a request with a cacheable prefix; the prompt tokens processed and those the
    cache skipped add up to what the admissions asked for; blocks never exceed the capacity; and
    when each request has ended before the next arrives and nothing is evicted, the hits are
    exactly the requests whose prefix an earlier one left."""
    requests, policy, capacity = case
    result = _serve_with_capacity(grid_server, requests, policy, capacity)
    out, counts = result.outcome, result.outcome.prefix
    assert (out.tokens_out == requests.output).all() and np.isfinite(out.finish_s).all()
    assert (out.series["kv_blocks"] <= out.capacity_blocks).all()
    block = policy.block_tokens
    cacheable = (np.minimum(requests.prefix_tokens, requests.prompt - 1) // block) * block
    eligible = (requests.prefix_id >= 0) & (cacheable > 0)
    admissions = 1 + out.preemptions        # with recompute, a preempted request is admitted again
    if policy.preempt == "recompute" and not out.preemptions.any():
        assert counts["lookups"] == int(eligible.sum())
        assert out.prompt_tokens_processed + counts["prompt_tokens_saved"] == int(requests.prompt.sum())
    assert counts["hits"] <= counts["lookups"] <= int((eligible * admissions).sum())
    # sequential traffic (each request alone) with room for everything: exact hit count
    alone = Requests(np.arange(len(requests)) * 1000.0, requests.prompt, requests.output,
                     prefix_id=requests.prefix_id, prefix_tokens=requests.prefix_tokens)
    roomy = _serve_with_capacity(grid_server, alone, policy, 100 * int((requests.prompt + requests.output).sum()))
    stored, expected_hits, expected_saved = {}, 0, 0       # prefix id -> tokens the first left
    for pid, ok, tokens in zip(requests.prefix_id.tolist(), eligible.tolist(), cacheable.tolist()):
        if ok and pid in stored:
            expected_hits += 1
            expected_saved += stored[pid]
        elif ok:
            stored[pid] = tokens
    assert roomy.outcome.prefix["hits"] == expected_hits
    assert roomy.outcome.prefix["prompt_tokens_saved"] == expected_saved
    assert roomy.outcome.prefix["evictions"] == 0


def test_prefix_cache_evicts_unused_prefixes_before_preempting(grid_server):
    """Many prefixes, a KV memory for a few: the least recently used ones go, and no sequence is
    preempted to make room for a cached prefix."""
    n = 40
    ids = np.arange(n, dtype=np.int64) % 10
    requests = Requests(np.arange(n) * 0.5, np.full(n, 400), np.full(n, 8), prefix_id=ids,
                        prefix_tokens=np.full(n, 384))
    policy = Policy("continuous", max_batch=4, block_tokens=16, prefix_cache="device")
    result = _serve_with_capacity(grid_server, requests, policy, 4 * 420)
    counts = result.outcome.prefix
    assert counts["evictions"] > 0 and result.outcome.preemptions.sum() == 0
    assert counts["kept_at_end"] <= 4


def test_a_pooled_prefix_cache_copies_the_prefix_in_and_skips_its_prefill(grid_server):
    """The pool tier (EMS-like): hits cost a copy at the pool link's rate instead of prefill;
    a slower link costs more copy time, and without the cache every prompt is prefilled whole."""
    requests = generate(60, 10.0, "poisson", "uniform:8,32", "fixed:8", seed=2, prefix_groups=2, prefix_tokens=600)
    base = Policy("continuous", max_batch=8)
    none = grid_server.serve(requests, base).figures
    fast = grid_server.serve(requests, replace(base, prefix_cache="pool", pool_GBps=50.0, pool_tokens=10_000)).figures
    slow = grid_server.serve(requests, replace(base, prefix_cache="pool", pool_GBps=0.5, pool_tokens=10_000)).figures
    assert "prefix_cache" not in none and none["prompt_tokens_processed"] == int(requests.prompt.sum())
    assert fast["prefix_cache"]["hits"] == 58                     # two first requests miss
    assert fast["prompt_tokens_processed"] + fast["prefix_cache"]["prompt_tokens_saved"] == int(requests.prompt.sum())
    assert slow["prefix_cache"]["pool_copy_s"] == pytest.approx(100 * fast["prefix_cache"]["pool_copy_s"])
    assert fast["ttft_s"]["mean"] < none["ttft_s"]["mean"]
    # a pool too small for one prefix keeps nothing
    tiny = grid_server.serve(requests, replace(base, prefix_cache="pool", pool_GBps=50.0, pool_tokens=100)).figures
    assert tiny["prefix_cache"]["hits"] == 0


def test_prefixes_from_a_trace_and_bad_prefix_input(tmp_path):
    from accsim.core.errors import ConfigError
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens,prefix_id,prefix_tokens\n0,100,4,7,64\n1,80,4,7,64\n2,50,4,,\n")
    r = read_trace(trace)
    assert r.prefix_id.tolist() == [7, 7, -1] and r.prefix_tokens.tolist() == [64, 64, 0]
    bad = tmp_path / "b.csv"
    bad.write_text("arrival_s,prompt_tokens,output_tokens,prefix_id,prefix_tokens\n0,100,4,7,64\n1,80,4,7,32\n")
    with pytest.raises(ConfigError, match="prefix 7 has 64 tokens in one request and 32 in another"):
        read_trace(bad)
    bad.write_text("arrival_s,prompt_tokens,output_tokens,prefix_id,prefix_tokens\n0,10,4,1,64\n")
    with pytest.raises(ConfigError, match="prefix of 64 tokens must be 1 to its prompt's 10 tokens"):
        read_trace(bad)
    bad.write_text("arrival_s,prompt_tokens,output_tokens,prefix_id\n0,10,4,1\n")
    with pytest.raises(ConfigError, match="needs both prefix_id and prefix_tokens"):
        read_trace(bad)
    import accsim
    with pytest.raises(ConfigError, match="prefix_cache: a static batch"):
        accsim.serve("t4", "gpt2-small", policy="static", prefix_cache="device")
    with pytest.raises(ConfigError, match="prefix_cache pool: give the pool's link"):
        accsim.serve("t4", "gpt2-small", prefix_cache="pool", prefix_pool_GBps=10)
    with pytest.raises(ConfigError, match="prefix_groups/prefix_tokens: shared prefixes need both"):
        accsim.serve("t4", "gpt2-small", prefix_groups=3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=st.integers(0, 10**8), gaps=st.lists(st.integers(0, 200), min_size=1, max_size=8))
def test_serving_times_keep_their_precision_wherever_the_trace_starts(grid_server, tmp_path_factory, offset, gaps):
    """A trace's arrivals count from its first row: shifting every row by an offset (up to three
    years) changes no request's TTFT or TPOT. (Gaps in 1/1024 s, which a float holds exactly at
    any offset here: a gap the file itself cannot hold at that offset is the trace's rounding.)"""
    gaps = [g / 1024 for g in gaps]
    folder = tmp_path_factory.mktemp("trace")
    times = np.cumsum(gaps)
    rows = "".join(f"{float(t)!r},40,6\n" for t in times)
    shifted = "".join(f"{float(t) + offset!r},40,6\n" for t in times)
    (folder / "a.csv").write_text("arrival_s,prompt_tokens,output_tokens\n" + rows)
    (folder / "b.csv").write_text("arrival_s,prompt_tokens,output_tokens\n" + shifted)
    a = grid_server.serve(read_trace(folder / "a.csv"), Policy("continuous", max_batch=4)).figures
    b = grid_server.serve(read_trace(folder / "b.csv"), Policy("continuous", max_batch=4)).figures
    assert a["ttft_s"]["max"] > 0 and a["tpot_s"]["max"] > 0
    assert b["ttft_s"] == a["ttft_s"] and b["tpot_s"] == a["tpot_s"]


def test_a_serving_run_too_big_for_memory_is_refused_before_it_runs(grid_server, monkeypatch):
    """The engine estimates what a run will hold (per-request arrays, per-iteration series) and
    refuses, naming the fix, when the machine has less; the estimate grows with the requests."""
    import accsim.core.limits as limits
    from accsim.serving.engine import estimated_bytes
    small = generate(1_000, 10.0, "poisson", "fixed:32", "fixed:16", seed=1)
    large = generate(100_000, 10.0, "poisson", "fixed:32", "fixed:16", seed=1)
    policy = Policy("continuous", max_batch=8)
    assert estimated_bytes(large, policy) > 50 * estimated_bytes(small, policy)
    monkeypatch.setattr(limits, "available_memory_bytes", lambda: 2 ** 20)
    monkeypatch.setattr(limits, "ALWAYS_AVAILABLE_BYTES", 0)
    with pytest.raises(limits.TooLargeError, match="serving 100,000 requests would need about .* serve fewer requests"):
        grid_server.serve(large, policy)
