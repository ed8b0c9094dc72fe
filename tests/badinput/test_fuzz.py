"""Hypothesis fuzzing of every input parser: whatever the bytes, a parser returns a value or
raises the user-error class (AccsimError) with a message; never another exception,
never a hang."""
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from accsim.core import config
from accsim.core.errors import AccsimError
from accsim.core.presets import parse_set_options
from accsim.core.traces import read_trace
from accsim.study.constraints import Constraint
from accsim.study.sweeps import expand_points, parse_spec
from accsim.workloads.model import parse_config

pytestmark = [pytest.mark.unit, pytest.mark.badinput]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

YAML_WORDS = st.sampled_from(["family", "gpu", "memory", "bandwidth_GBps", ":", " ", "\n", "  ", "-", "[",
                              "]", "{", "}", ",", "&a", "*a", "<<", "!!str", "!!python/name:os.system",
                              "1e9", ".inf", ".nan", "0x1F", "true", "null", "'", '"', "#", "\t", "?",
                              "|", ">", "%YAML 1.1", "---", "...", "\x00", "\x1b[31m", "é"])
YAML_TEXT = st.lists(YAML_WORDS, max_size=40).map("".join) | st.text(max_size=200)

JSON_SCALARS = st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | st.text(max_size=8)
CONFIG_KEYS = st.sampled_from(["model_type", "n_layer", "n_embd", "n_head", "vocab_size", "n_positions",
                               "num_hidden_layers", "hidden_size", "num_attention_heads",
                               "num_key_value_heads", "intermediate_size", "head_dim", "num_local_experts",
                               "num_experts_per_tok", "n_routed_experts", "moe_intermediate_size",
                               "kv_lora_rank", "tie_word_embeddings", "hidden_act", "first_k_dense_replace",
                               "attention_bias", "bogus"])
MODEL_TYPES = st.sampled_from(["gpt2", "opt", "llama", "mistral", "mixtral", "deepseek_v3", "bert"])


def assert_user_error(exc: AccsimError) -> None:
    """A user error says something (the CLI escapes and cuts each line: conftest checks that)."""
    assert str(exc).strip()


@FUZZ
@given(YAML_TEXT)
def test_yaml_parser(text):
    try:
        config.parse_yaml(text, "fuzz.yaml")
    except AccsimError as exc:
        assert_user_error(exc)


@FUZZ
@given(st.lists(st.text(max_size=30), max_size=4))
def test_set_options(items):
    try:
        parse_set_options(items)
    except AccsimError as exc:
        assert_user_error(exc)


@FUZZ
@given(MODEL_TYPES, st.dictionaries(CONFIG_KEYS, JSON_SCALARS | st.integers(1, 64), max_size=12))
def test_model_config_parser(model_type, raw):
    try:
        model = parse_config({"model_type": model_type, **raw}, "fuzz", "fuzz.json")
    except AccsimError as exc:
        assert_user_error(exc)
        return
    assert model.n_layers >= 1 and model.d_model >= 1 and model.n_heads % model.n_kv_heads == 0


TRACE_WORDS = st.sampled_from([b"LD", b"ST", b"R", b"W", b"READ", b"WRITE", b"0x40", b"64", b"-1", b" ",
                               b"\t", b"\n", b"\r\n", b"#", b"0x", b"99999999999999999999", b"\x00", b"\xff",
                               b"\x1b[2J", b"10", b"5"])


@FUZZ
@given(st.lists(TRACE_WORDS, max_size=60).map(b"".join) | st.binary(max_size=300),
       st.sampled_from(["auto", "ldst", "timed", "dramsim3"]))
def test_trace_parser(tmp_path, data, fmt):
    path = tmp_path / "fuzz.trace"
    path.write_bytes(data)
    try:
        trace = read_trace(path, fmt)
    except AccsimError as exc:
        assert_user_error(exc)
        return
    assert len(trace) >= 1 and (trace.addr >= 0).all() and (trace.cycle[1:] >= trace.cycle[:-1]).all()


SPEC_VALUES = (st.integers(-3, 3) | st.floats(allow_nan=True) | st.text(max_size=6) | st.none()
               | st.lists(st.integers(-2, 5) | st.floats() | st.text(max_size=3), max_size=4)
               | st.dictionaries(st.sampled_from(["range", "lin", "log", "uniform", "loguniform", "n", "x"]),
                                 st.lists(st.integers(-5, 10 ** 7) | st.floats(), max_size=4) | st.integers(-2, 10 ** 7),
                                 max_size=2))
SPEC_KEYS = st.sampled_from(["batch", "prompt", "gen", "dtype", "memory.bandwidth_GBps", "compute.sms", "bogus"])


@FUZZ
@given(st.dictionaries(SPEC_KEYS, SPEC_VALUES, max_size=3), st.sampled_from(["grid", "random", "x"]),
       st.integers(-1, 10 ** 9), st.lists(st.text(max_size=30), max_size=2))
def test_sweep_spec_parser(axes, mode, samples, constraints):
    raw = {"base": {"arch": "t4", "gen": 2}, "axes": axes, "mode": mode, "samples": samples,
           "constraints": constraints}
    try:
        points = expand_points(parse_spec(raw, "fuzz.yaml", max_points=1000))
    except AccsimError as exc:
        assert_user_error(exc)
        return
    assert len(points) <= 1000


CONSTRAINT_WORDS = st.sampled_from(["batch", "prompt", "arch", "memory.bandwidth_GBps", "1", "0", "9", "2.5",
                                    "1e308", "'t4'", "+", "-", "*", "/", "//", "%", "**", "<", "<=", "==",
                                    "!=", "and", "or", "not", "(", ")", " ", ".", "[", "]", "lambda", ":", ","])


@FUZZ
@given(st.lists(CONSTRAINT_WORDS, min_size=1, max_size=25).map(" ".join),
       st.integers(-3, 3), st.integers(0, 4) | st.floats())
def test_constraint_interpreter(text, batch, prompt):
    names = ["batch", "prompt", "arch", "memory.bandwidth_GBps"]
    try:
        constraint = Constraint(text, names, "constraints[0]")
        result = constraint.holds({"batch": batch, "prompt": prompt, "arch": "t4", "memory.bandwidth_GBps": 300.0})
    except AccsimError as exc:
        assert_user_error(exc)
        return
    assert isinstance(result, bool)


@FUZZ
@given(st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=20))
def test_model_config_files(tmp_path, data):
    from accsim.workloads import load_model
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(data))
    try:
        load_model(str(path))
    except AccsimError as exc:
        assert_user_error(exc)
