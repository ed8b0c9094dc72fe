"""The scenario is declared once; the API, the CLI, sweeps and validation derive from it."""
import inspect

import pytest

import accsim
from accsim.core.errors import ConfigError
from accsim.simulation.scenario import FIELDS, RUN_KEYS, Scenario

pytestmark = pytest.mark.unit
NAMES = [f.name for f in FIELDS]


def test_python_api_signature_is_the_declaration():
    params = inspect.signature(accsim.run).parameters
    assert list(params) == NAMES
    assert all(params[f.name].default == (f.default_factory() if f.name == "overrides" else f.default)
               for f in FIELDS)
    assert all(f.name in accsim.run.__doc__ and f.metadata["help"] in accsim.run.__doc__ for f in FIELDS)


def test_run_command_has_one_option_per_field():
    from accsim.cli.run import run_cmd
    names = {p.name for p in run_cmd.params}
    assert set(NAMES) <= names


def test_sweep_axes_and_validation_run_keys_derive_from_it():
    from accsim.study.sweeps import SCENARIO_FIELDS
    from accsim.validation import cases, metrics
    assert list(SCENARIO_FIELDS) == [n for n in NAMES if n != "overrides"]
    assert cases.RUN_KEYS == RUN_KEYS and metrics.RUN_KEYS == RUN_KEYS and set(RUN_KEYS) == set(NAMES) - {"model"}


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        Scenario(batch=0, prompt=True, dtype="fp4", acceptance=1.5, decode_samples=1).check()
    text = str(err.value)
    for expected in ("batch: expected an integer >= 1, got 0", "prompt: expected an integer >= 1, got True",
                     "dtype: expected one of", "acceptance: expected a value <= 1.0",
                     "decode_samples: 1 cannot span"):
        assert expected in text


def test_positional_use_is_refused_beyond_arch_and_model():
    with pytest.raises(TypeError):
        accsim.run("t4", "gpt2-small", 2)


def test_a_run_reports_its_pass_total_before_the_first_pass():
    from accsim.simulation.api import run_scenario
    from accsim.simulation.scenario import Scenario
    seen = []
    run_scenario(Scenario(gen=4, decode_samples=0), on_pass=lambda done, total: seen.append((done, total)))
    total = seen[0][1]
    assert seen[0] == (0, total) and seen[-1] == (total, total) and total == 4
