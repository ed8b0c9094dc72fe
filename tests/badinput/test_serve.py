"""accsim serve: bad traffic specs, trace files, policies and impossible requests are refused
before any simulation, naming the option or the file and row."""
import pytest

pytestmark = [pytest.mark.unit, pytest.mark.badinput]

SERVE = ["serve", "--quiet", "--json", "out.json", "--requests", "5"]

CASES = [
    (SERVE + ["--prompt-tokens", "gaussian:5"], "--prompt-tokens: expected fixed:N"),
    (SERVE + ["--prompt-tokens", "uniform:9,3"], "--prompt-tokens"),
    (SERVE + ["--output-tokens", "fixed:0"], "--output-tokens"),
    (SERVE + ["--output-tokens", "hist:5=-1"], "--output-tokens"),
    (SERVE + ["--output-tokens", "lognormal:100,nan"], "--output-tokens"),
    (SERVE + ["--requests", "1000000000"], "--requests"),
    (SERVE + ["--arrivals", "gamma", "--cv", "1e-300"], "--cv"),
    (SERVE + ["--prompt-tokens", "hist:5=1e308,6=1e308"], ("--prompt-tokens", "finite sum")),
    (SERVE + ["--prompt-tokens", "uniform:1,99999999999999999999"], ("--prompt-tokens", "1,048,576")),
    (SERVE + ["--output-tokens", "lognormal:100,1e9"], "sigma 0 to 10"),
    (SERVE + ["--request-trace", "t.csv"], "tokens 1 to 1,048,576",
     {"t.csv": "arrival_s,prompt_tokens,output_tokens\n0,5,99999999999999999999\n"}),
    (SERVE + ["--request-trace", "t.csv"], "row 2", {"t.csv": "arrival_s,prompt_tokens,output_tokens\nnan,5,5\n"}),
    (SERVE + ["--rate", "0"], "Invalid value for '--rate'"),
    (SERVE + ["--rate", "inf"], "rate: expected a finite number"),
    (SERVE + ["--arrivals", "gamma", "--cv", "0"], "--cv"),
    (SERVE + ["--policy", "fifo"], "--policy"),
    (SERVE + ["--max-batch", "0"], "--max-batch"),
    (SERVE + ["--preempt", "swap"], "--swap-GBps: preempting by swap"),
    (SERVE + ["--swap-GBps", "10"], "swap_GBps: the host link of preempt swap"),
    (SERVE + ["--find", "max-rate"], "find: give the SLO"),
    (SERVE + ["--prompt-tokens", "fixed:1000"], "beyond the model's 1024 positions"),
    (SERVE + ["--prompt-tokens", "fixed:600", "--max-batched-tokens", "512"],
     "--max-batched-tokens: request 0's prompt has 600 tokens"),
    (SERVE + ["--decode-only", "--output-tokens", "fixed:1"], "decode-only requests need output >= 2"),
    (SERVE + ["--kv-capacity-tokens", "100", "--prompt-tokens", "fixed:200"], ("kv: request", "KV blocks of 16 tokens")),
    (SERVE + ["--request-trace", "missing.csv"], "missing.csv"),
    (SERVE + ["--request-trace", "t.csv"], "match no known layout", {"t.csv": "a,b\n1,2\n"}),
    (SERVE + ["--request-trace", "t.csv"], "row 3", {"t.csv": "arrival_s,prompt_tokens,output_tokens\n0,5,5\n1,x,5\n"}),
    (SERVE + ["--request-trace", "t.csv"], "row 2: arrival must be finite and tokens 1 to",
     {"t.csv": "arrival_s,prompt_tokens,output_tokens\n0,0,5\n"}),
    (SERVE + ["--request-trace", "t.jsonl"], "t.jsonl:2: not a JSON object",
     {"t.jsonl": '{"arrival_s": 0, "prompt_tokens": 5, "output_tokens": 5}\n{oops\n'}),
    (SERVE + ["--request-trace", "t.csv"], "no requests", {"t.csv": "arrival_s,prompt_tokens,output_tokens\n"}),
    (SERVE + ["--request-trace", "t.csv", "--find", "max-rate", "--slo-tpot-ms", "5"], "drop the request trace",
     {"t.csv": "arrival_s,prompt_tokens,output_tokens\n0,5,5\n"}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: " ".join(c[0][6:]) if isinstance(c, tuple) else str(c))
def test_serve_refuses(refused, case):
    argv, expect, *files = case
    refused(argv, expect, files[0] if files else None)


DISAGG_CASES = [
    (SERVE + ["--kv-link-GBps", "10"], "kv_link_GBps: sets up disaggregated serving"),
    (SERVE + ["--decode-instances", "2"], "decode_instances: sets up disaggregated serving"),
    (SERVE + ["--prefill-instances", "1"], "--kv-link-GBps: disaggregated serving moves"),
    (SERVE + ["--prefill-instances", "1", "--kv-link-GBps", "10", "--decode-only"], "decode_only: describes one decode instance"),
    (SERVE + ["--prefill-instances", "1", "--kv-link-GBps", "10", "--policy", "static"],
     "a disaggregated prefill pool batches continuously"),
    (SERVE + ["--prefill-instances", "1", "--kv-link-GBps", "10", "--prefill-arch", "t5"], "unknown preset 't5'"),
]


@pytest.mark.parametrize("case", DISAGG_CASES, ids=lambda c: " ".join(c[0][6:]) if isinstance(c, tuple) else str(c))
def test_serve_refuses_bad_disaggregation(refused, case):
    argv, expect = case
    refused(argv, expect)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=40),
                      st.builds(lambda k, a: f"{k}:{a}", st.sampled_from(["fixed", "uniform", "lognormal", "hist"]),
                                st.text(alphabet="0123456789.,=-e+naif", max_size=30))))
def test_length_specs_parse_or_are_refused(text):
    from accsim.core.errors import ConfigError
    from accsim.serving.requests import draw_lengths, parse_length_dist
    import numpy as np
    try:
        dist = parse_length_dist(text, "--prompt-tokens")
    except ConfigError as exc:
        assert "--prompt-tokens" in str(exc)
        return
    lengths = draw_lengths(np.random.default_rng(0), dist, 50)
    assert lengths.min() >= 1 and lengths.max() <= 1 << 20


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), header=st.sampled_from([b"", b"arrival_s,prompt_tokens,output_tokens\n",
                                                             b"TIMESTAMP,ContextTokens,GeneratedTokens\n",
                                                             b"Timestamp,Request tokens,Response tokens\n", b"{"]))
def test_trace_files_read_or_are_refused(tmp_path_factory, data, header):
    from accsim.core.errors import ConfigError
    from accsim.serving.requests import read_trace
    path = tmp_path_factory.mktemp("t") / "t.csv"
    path.write_bytes(header + data)
    try:
        requests = read_trace(path)
    except ConfigError as exc:
        assert str(exc)
        return
    assert len(requests) >= 1 and (requests.prompt >= 1).all() and requests.arrival_s.min() == 0.0


ROW = "arrival_s,prompt_tokens,output_tokens\n"
STRICT_TRACE_CASES = [
    ('{"arrival_s": 0, "prompt_tokens": 100.9, "output_tokens": 5}\n', "100.9 is not a whole number of tokens"),
    ('{"arrival_s": 0, "prompt_tokens": true, "output_tokens": 5}\n', "True is not a whole number of tokens"),
    ('{"arrival_s": true, "prompt_tokens": 5, "output_tokens": 5}\n', "True is not a time"),
    ('{"arrival_s": 0, "prompt_tokens": 5, "prompt_tokens": 6, "output_tokens": 5}\n', "duplicate key 'prompt_tokens'"),
    ('{"arrival_s": Infinity, "prompt_tokens": 5, "output_tokens": 5}\n', "Infinity is not a number a trace may hold"),
    ('{"arrival_s": 0, "prompt_tokens": NaN, "output_tokens": 5}\n', "NaN is not a number a trace may hold"),
    ('{"arrival_s": 0, "prompt_tokens": 1e400, "output_tokens": 5}\n', "inf is not a whole number of tokens"),
    ('{"arrival_s": 0, "prompt_tokens": ' + "9" * 5000 + ', "output_tokens": 5}\n', "not a trace row"),
    ('{"arrival_s": 0, "prompt_tokens": 5, "output_tokens": 5, "x": ' + "[" * 100000 + "]" * 100000 + "}\n",
     "nested too deeply"),
    (ROW + "0,5," + "7" * (200 * 1024) + "\n", "a field over 131,072 characters"),
]


@pytest.mark.parametrize("content, expect", STRICT_TRACE_CASES, ids=range(len(STRICT_TRACE_CASES)))
def test_traces_are_read_strictly(refused, content, expect):
    name = "t.jsonl" if content.startswith("{") else "t.csv"
    refused(SERVE + ["--request-trace", name], expect, {name: content})


def test_a_trace_that_is_not_a_regular_file_is_refused(refused):
    refused(SERVE + ["--request-trace", "/dev/zero"], "/dev/zero is not a regular file")


def test_a_lognormal_median_beyond_the_clip_is_refused(refused):
    refused(SERVE + ["--prompt-tokens", "lognormal:100000,0"], "lognormal draws are clipped to 32,768 tokens")


def test_azure_timestamps_are_utc_whatever_the_machine_zone(tmp_path, monkeypatch):
    import time
    from accsim.serving.requests import read_trace
    trace = tmp_path / "azure.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,10,5\n"
                     "2023-03-26 01:30:00.0000000,10,5\n")
    arrivals = []
    for zone in ("UTC", "Europe/London", "America/New_York"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        arrivals.append(read_trace(trace).arrival_s.tolist())
    monkeypatch.delenv("TZ")
    time.tzset()
    assert arrivals[0] == arrivals[1] == arrivals[2]
    # 2023-03-26 01:30 UTC to 2023-11-16 18:15:46.68059 UTC, exactly
    assert arrivals[0][1] == pytest.approx(235 * 86400 + 16 * 3600 + 45 * 60 + 46.68059, abs=1e-5)


def test_arrivals_spanning_more_than_the_clock_resolves_are_refused(refused):
    refused(SERVE + ["--rate", "1e-13"], "the simulation clock cannot resolve 0.1 us")
    refused(SERVE + ["--request-trace", "t.csv"], "arrivals span 1e+15 s",
            {"t.csv": ROW + "0,5,5\n1e15,5,5\n"})


def test_outputs_and_draft_models_are_checked_before_the_run(refused):
    refused(SERVE + ["--plot", "p.txt"], "the suffix names the format")
    refused(["run", "--quiet", "--json", "out.json", "--arch", "h100-sxm", "--model", "llama2-7b",
             "--draft-model", "gpt2-small", "--draft-tokens", "2", "--gen", "4"],
            "draft_model: gpt2-small has a vocabulary of 50,257 tokens and llama2-7b one of 32,000")


def test_work_is_bounded_by_named_options(refused):
    refused(SERVE + ["--prefill-instances", "1", "--kv-link-GBps", "10", "--decode-instances", "1000000000"],
            "--decode-instances")
    refused(["run", "--quiet", "--json", "out.json", "--gen", "2", "--arch", "sn40l", "--set", "mapper.max_steps=1000000000"],
            "mapper.max_steps: expected a value <= 4096")
