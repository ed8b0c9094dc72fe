"""The scenario: everything a run depends on, declared once.

``Scenario`` lists each field with its type, unit, help, default and range (``param``). From
that one declaration come the Python API's signature (``accsim.run``), the ``accsim run``
options (``click_options``), the sweep's workload axes (``AXIS_TYPES``) and the validation
harness's run keys (``RUN_KEYS``). Adding a field here adds it everywhere.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from accsim.core.config import param
from accsim.core.errors import ConfigError

# every decode step simulated one by one: beyond this many the run takes hours; sampled steps
# (decode_samples >= 2) interpolate between and stay exact on the sampled ones
MAX_DECODE_STEPS_SIMULATED = 100_000
DTYPES = ("fp32", "fp16", "bf16", "fp8", "int8", "w8a8")


COE_FORMAT = re.compile(r"^\s*(\d+)\s*x\s*(\S+)\s*$")


def parse_coe(text: str) -> tuple[int, str]:
    """'150xllama2-7b' -> (150, 'llama2-7b')."""
    match = COE_FORMAT.match(text)
    if not match or int(match.group(1)) < 1:
        raise ConfigError([f"coe: expected 'NxMODEL' with N >= 1 experts (e.g. 150xllama2-7b), got {text!r}"])
    return int(match.group(1)), match.group(2)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """Everything a run depends on; equal scenarios give bit-identical stats."""

    arch: str = param("preset", "hardware preset name or YAML path", default="t4")
    model: str = param("model", "model name, Hugging Face config.json, or a folder holding one",
                       default="gpt2-small")
    batch: int = param("sequences", "sequences generated together", default=1, ge=1)
    prompt: int = param("tokens", "prompt tokens", default=64, ge=1)
    gen: int = param("tokens", "generated tokens (the first comes from prefill)", default=16, ge=1)
    dtype: str = param("", "number format (w8a8: int8 linear layers, bf16 attention and KV cache)",
                       default="fp16", choices=DTYPES)
    mapper: str = param("", "mapper name ('' = the family's default)", default="")
    decode_samples: int = param("steps", "decode steps simulated (interpolated between); 0 = every step",
                                default=16, ge=0)
    overrides: Mapping[str, Any] = field(default_factory=dict, metadata={
        "unit": "", "help": "preset field overrides, e.g. {'memory.bandwidth_GBps': 400}"})
    chips: int = param("chips", "chips in the system (sets the family's chip count; npu: packages, "
                       "gpu: devices); 0 = the preset's", default=0, ge=0)
    draft_tokens: int = param("tokens", "speculative decoding: draft tokens verified per decode step "
                              "(drafted by --draft-model, or by the model's own multi-token-prediction "
                              "modules when no draft model is named)", default=0, ge=0)
    acceptance: float = param("probability", "speculative decoding: probability that a draft token is "
                              "accepted (a step yields 1 + draft_tokens x acceptance tokens)",
                              default=0.0, ge=0.0, le=1.0)
    draft_model: str = param("model", "speculative decoding: the model that drafts (name or config); "
                             "'' = the model's multi-token-prediction modules", default="")
    coe: str = param("", "composition of experts 'NxMODEL' (e.g. 150xllama2-7b): a router routes each "
                     "request of the batch to its own expert; experts outside fast memory are copied "
                     "in first ('' = a single model)", default="")
    decode_only: bool = param("", "the prompt's KV cache is already in place (disaggregated "
                              "prefill): simulate decode only", default=False)
    routing_skew: float = param("", "MoE routing: the i-th most popular expert's share of tokens "
                                "~ i^-skew (Zipf), so a batch touches fewer experts and reads fewer "
                                "weights; 0 = uniform routing", default=0.0, ge=0.0, le=10.0)

    def check(self) -> None:
        """Every problem with the fields, all at once (types, ranges, choices, combinations)."""
        problems = [p for f in FIELDS if (p := field_problem(f.name, getattr(self, f.name)))]
        if self.decode_samples == 1:
            problems.append("decode_samples: 1 cannot span first and last step; use 0 (all) or >= 2")
        if not problems and self.acceptance and not self.draft_tokens:
            problems.append("acceptance: set only with draft_tokens >= 1 per step")
        if not problems and self.draft_model and not self.draft_tokens:
            problems.append("draft_model: set draft_tokens >= 1 (tokens it drafts per step)")
        if not problems and self.coe:
            try:
                parse_coe(self.coe)
            except ConfigError as exc:
                problems += exc.problems
        if not problems and self.decode_samples == 0 and self.gen - 1 > MAX_DECODE_STEPS_SIMULATED:
            problems.append(f"decode_samples: 0 simulates every one of {self.gen - 1:,} decode steps (at "
                            f"most {MAX_DECODE_STEPS_SIMULATED:,}); sample them, e.g. --decode-samples 64 "
                            "(the steps between are interpolated)")
        if not problems and self.decode_only and self.gen < 2:
            problems.append("decode_only: needs gen >= 2 (the first token comes from prefill)")
        if problems:
            raise ConfigError(problems)

    @property
    def tokens_per_step(self) -> float:
        """Expected tokens each decode step yields per sequence."""
        return 1.0 + self.draft_tokens * self.acceptance


@functools.lru_cache(maxsize=None)
def declared(cls: type) -> tuple[tuple, dict[str, type]]:
    """The fields of a declaration (Scenario, or another frozen dataclass of ``param`` fields)
    and their types."""
    hints = typing.get_type_hints(cls)
    fields = tuple(dataclasses.fields(cls))
    return fields, {f.name: hints[f.name] for f in fields}


FIELDS, TYPES = declared(Scenario)
# workload fields a sweep axis or base may set (preset fields go through overrides)
AXIS_TYPES: dict[str, type] = {n: t for n, t in TYPES.items() if n != "overrides"}
# what a validation case's scenario may set for its run (the model is the case's own)
RUN_KEYS: tuple[str, ...] = tuple(n for n in TYPES if n != "model")


def default(name: str, cls: type | None = None) -> Any:
    f = next(f for f in declared(cls or Scenario)[0] if f.name == name)
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def field_problem(name: str, value: Any, cls: type | None = None) -> str | None:
    """What is wrong with one field's value ("name: ..."), or None."""
    fields, types = declared(cls or Scenario)
    f = next(f for f in fields if f.name == name)
    tp, meta = types[f.name], f.metadata
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)
                      or (meta.get("ge") is not None and value < meta["ge"])):
        low = f" >= {meta['ge']}" if meta.get("ge") is not None else ""
        return f"{f.name}: expected an integer{low}, got {value!r}"
    if tp is float and (isinstance(value, bool) or not isinstance(value, (int, float))
                        or not math.isfinite(value)):
        return f"{f.name}: expected a finite number, got {value!r}"
    if tp is bool and not isinstance(value, bool):
        return f"{f.name}: expected true or false, got {value!r}"
    if tp is str and not isinstance(value, str):
        return f"{f.name}: expected a name, got {value!r}"
    if tp not in (int, float, bool, str) and not isinstance(value, Mapping):
        return f"{f.name}: expected a mapping of preset field -> value, got {value!r}"
    if meta.get("choices") and value not in meta["choices"]:
        return f"{f.name}: expected one of {', '.join(meta['choices'])}, got {value!r}"
    if meta.get("ge") is not None and value < meta["ge"]:
        return f"{f.name}: expected a value >= {meta['ge']}, got {value!r}"
    if meta.get("gt") is not None and not value > meta["gt"]:
        return f"{f.name}: expected a value > {meta['gt']}, got {value!r}"
    if meta.get("le") is not None and value > meta["le"]:
        return f"{f.name}: expected a value <= {meta['le']}, got {value!r}"
    return None


def signature(first_positional: int = 2) -> inspect.Signature:
    """The scenario as a Python signature: the first fields positional-or-keyword, the rest
    keyword-only (what ``help(accsim.run)`` and Jupyter show)."""
    params = []
    for i, f in enumerate(FIELDS):
        kind = (inspect.Parameter.POSITIONAL_OR_KEYWORD if i < first_positional
                else inspect.Parameter.KEYWORD_ONLY)
        params.append(inspect.Parameter(f.name, kind, default=default(f.name), annotation=TYPES[f.name]))
    return inspect.Signature(params)


def field_docs() -> str:
    """One line per field: name, type, unit, default and help (for docstrings)."""
    lines = []
    for f in FIELDS:
        unit = f" [{f.metadata['unit']}]" if f.metadata.get("unit") else ""
        lines.append(f"    {f.name} ({TYPES[f.name].__name__ if isinstance(TYPES[f.name], type) else 'mapping'}"
                     f"{unit}, default {default(f.name)!r}): {f.metadata['help']}")
    return "\n".join(lines)


def click_options(command: Callable | None = None, *, only: tuple[str, ...] = (),
                  cls: type | None = None) -> Callable:
    """Decorate a click command with one option per field of the scenario (or of another
    declaration ``cls``; ``overrides`` as ``--set KEY=VALUE``, repeatable), or only the fields
    named in ``only``; the command receives them under the field names.
    ``@click_options`` or ``@click_options(only=(...), cls=...)``."""
    if command is None:
        return lambda cmd: click_options(cmd, only=only, cls=cls)
    import click

    from accsim.simulation.completion import BY_UNIT
    fields, types = declared(cls or Scenario)
    for f in reversed([f for f in fields if not only or f.name in only]):
        tp, meta, name = types[f.name], f.metadata, f.name
        flag = "--" + name.replace("_", "-")
        if name == "overrides":
            option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                                  help="override a preset field, e.g. --set memory.bandwidth_GBps=400 "
                                       "(repeatable)")
        elif tp is bool:
            option = click.option(flag, name, is_flag=True, help=meta["help"])
        else:
            kind: Any = tp
            if meta.get("choices"):
                kind = click.Choice(meta["choices"])
            elif tp is int:
                kind = click.IntRange(min=meta.get("ge"), max=meta.get("le"))
            elif tp is float:
                kind = click.FloatRange(min=meta.get("ge") if meta.get("gt") is None else meta["gt"],
                                        max=meta.get("le"), min_open=meta.get("gt") is not None)
            option = click.option(flag, name, default=default(name, cls), type=kind, help=meta["help"],
                                  show_default=default(name, cls) not in ("", 0, 0.0),
                                  shell_complete=BY_UNIT.get(meta["unit"]))
        command = option(command)
    return command
