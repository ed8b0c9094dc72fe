"""The simulation layer's entry points: a scenario of one model goes to the runner, a
composition of experts to CoE (which runs the router and each expert through the runner);
``run`` is the public ``accsim.run``."""
from __future__ import annotations

from typing import Any, Callable

from accsim.core.errors import ConfigError
from accsim.core.stats import Stats
from accsim.simulation.coe import run_coe
from accsim.simulation.runner import RunResult, run_model
from accsim.simulation.scenario import Scenario, field_docs, signature


def run_scenario(scenario: Scenario, timeline: bool = False,
                 on_pass: Callable[[int, int], None] | None = None) -> RunResult:
    """Simulate a scenario: its stats and what produced them (``runner.run_model``), or a
    composition of experts' (``coe.run_coe``)."""
    if not scenario.coe:
        return run_model(scenario, timeline, on_pass)
    scenario.check()
    if timeline:
        raise ConfigError(["--trace: a composition of experts has no single timeline; trace one "
                           "expert's run (drop --coe)"])
    return run_coe(scenario, lambda s: run_model(s, on_pass=on_pass))


def run(*args: Any, **kwargs: Any) -> Stats:
    """Simulate a generation scenario and return its Stats (the ``accsim run`` command's
    figures: TTFT, TPOT, tokens/s, energy, breakdowns by op kind and unit).

    Fields (accsim.simulation.scenario.Scenario):
{fields}
    """
    bound = RUN_SIGNATURE.bind(*args, **kwargs)
    bound.apply_defaults()
    values = dict(bound.arguments)
    values["overrides"] = dict(values["overrides"] or {})
    return run_scenario(Scenario(**values)).stats


RUN_SIGNATURE = signature()
run.__signature__ = RUN_SIGNATURE            # what help() and Jupyter show
run.__doc__ = run.__doc__.format(fields=field_docs())
