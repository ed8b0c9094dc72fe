"""Typed, unit-annotated configuration schemas and their validating loader.

A hardware spec is a tree of frozen dataclasses. Each field is declared with ``param(unit,
help, ...)`` so that it carries a type, a unit and a one-line description (as gem5 params
do). ``build(cls, data)`` turns plain YAML data into an instance, collecting *every* problem
(unknown key with a did-you-mean, missing field, wrong type, out of range) before raising a
``ConfigError`` whose lines name the field path.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import re
import typing
from dataclasses import MISSING, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping

from accsim.core.errors import ConfigError, ProblemList, did_you_mean


def param(unit: str, help: str, *, default: Any = MISSING, gt: float | None = None,
          ge: float | None = None, le: float | None = None,
          choices: tuple | None = None) -> Any:
    """Declare a spec field with its unit, help text and allowed range."""
    metadata = {"unit": unit, "help": help, "gt": gt, "ge": ge, "le": le, "choices": choices}
    if default is MISSING:
        return field(metadata=metadata)
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def section(cls: type, help: str, *, default: bool = False) -> Any:
    """Declare a nested spec section; ``default=True`` makes it optional with its defaults."""
    metadata = {"unit": "", "help": help, "gt": None, "ge": None, "le": None, "choices": None}
    if default:
        return field(default_factory=cls, metadata=metadata)
    return field(metadata=metadata)


@dataclass(frozen=True)
class FieldInfo:
    path: str
    type_name: str
    unit: str
    help: str
    default: Any


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is dict:
        key_tp, value_tp = typing.get_args(tp)
        return f"mapping of {_type_name(key_tp)} to {_type_name(value_tp)}"
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", str(tp))


def integral(value: Any) -> Any:
    """The integer an integral float stands for (1e3 is 1000 written in another notation);
    any other value unchanged."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


# a quantity declared positive (a bandwidth, a clock, a rate per cycle, an efficiency) below this
# is no machine: divided into byte or op counts it overflows the simulation's int64 cycles
SMALLEST_POSITIVE = 1e-6


def _check_range(value: float, meta: Mapping[str, Any], path: str, problems: ProblemList) -> None:
    if meta.get("gt") is not None and not value > meta["gt"]:
        problems.add(path, f"expected a value > {meta['gt']}, got {value!r}")
    elif meta.get("gt") == 0 and isinstance(value, float) and value < SMALLEST_POSITIVE:
        problems.add(path, f"expected a value > 0 a simulation can use (at least {SMALLEST_POSITIVE:g}"
                           f"{' ' + meta['unit'] if meta.get('unit') else ''}), got {value!r}")
    if meta.get("ge") is not None and not value >= meta["ge"]:
        problems.add(path, f"expected a value >= {meta['ge']}, got {value!r}")
    if meta.get("le") is not None and not value <= meta["le"]:
        problems.add(path, f"expected a value <= {meta['le']}, got {value!r}")


def _coerce(tp: Any, value: Any, meta: Mapping[str, Any], path: str, problems: ProblemList) -> Any:
    """Check one value against its declared type; return the coerced value (or None on error)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path, problems)
    if origin is dict:
        key_tp, value_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            problems.add(path, f"expected a mapping, got {type(value).__name__} {value!r}")
            return None
        return {str(k): _coerce(value_tp, v, meta, f"{path}.{k}", problems) for k, v in value.items()}
    if origin is tuple:
        item_tp = typing.get_args(tp)[0]
        if not isinstance(value, (list, tuple)):
            problems.add(path, f"expected a list, got {type(value).__name__} {value!r}")
            return None
        return tuple(_coerce(item_tp, v, meta, f"{path}[{i}]", problems) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            problems.add(path, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        value = integral(value)
        if isinstance(value, bool) or not isinstance(value, int):
            problems.add(path, f"expected an integer, got {value!r}")
            return value
        _check_range(value, meta, path, problems)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.add(path, f"expected a number, got {value!r}")
            return value
        if not math.isfinite(value):
            problems.add(path, f"expected a finite number, got {value!r}")
            return value
        _check_range(float(value), meta, path, problems)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            problems.add(path, f"expected a string, got {value!r}")
            return value
        if meta.get("choices") and value not in meta["choices"]:
            problems.add(path, f"expected one of {', '.join(meta['choices'])}, got {value!r}"
                         f"{did_you_mean(value, meta['choices'])}")
        return value
    raise TypeError(f"unsupported schema type {tp!r} at {path}")


def _build(cls: type, data: Any, path: str, problems: ProblemList) -> Any:
    if not isinstance(data, dict):
        problems.add(path, f"expected a mapping of fields, got {type(data).__name__} {data!r}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            problems.add(f"{path}.{key}" if path else str(key),
                         f"unknown key{did_you_mean(str(key), fields)}; "
                         f"known keys: {', '.join(fields)}")
    values = {}
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name in data:
            values[name] = _coerce(hints[name], data[name], f.metadata, sub, problems)
        elif f.default is MISSING and f.default_factory is MISSING:
            unit = f" [{f.metadata['unit']}]" if f.metadata.get("unit") else ""
            problems.add(sub, f"missing required field{unit}: {f.metadata.get('help', '')}")
    if problems.problems:
        return None
    return cls(**values)


def build(cls: type, data: Any, path: str = "", problems: ProblemList | None = None) -> Any:
    """Build a frozen spec instance from plain data or raise a ConfigError listing every problem
    (including any already collected in ``problems``)."""
    problems = problems or ProblemList()
    instance = _build(cls, data, path, problems)
    problems.raise_if_any()
    return instance


def describe(cls: type, prefix: str = "") -> Iterator[FieldInfo]:
    """Yield every leaf field of a schema with its path, type, unit and help."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from describe(tp, path)
            continue
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else None)
        yield FieldInfo(path, _type_name(tp), f.metadata.get("unit", ""),
                        f.metadata.get("help", ""), default)


def field_paths(cls: type) -> dict[str, FieldInfo]:
    return {info.path: info for info in describe(cls)}


def _resolve_schema_path(cls: type, path: str) -> str | None:
    """Return None if ``path`` names a field of ``cls`` (or an entry of a mapping field), else a problem."""
    tp: Any = cls
    parts = path.split(".")
    for i, part in enumerate(parts):
        if typing.get_origin(tp) is dict:
            return None if i == len(parts) - 1 else f"'{'.'.join(parts[:i + 1])}' is a mapping entry"
        if not dataclasses.is_dataclass(tp):
            return f"'{'.'.join(parts[:i])}' is a value, not a section"
        hints = typing.get_type_hints(tp)
        if part not in hints:
            here = ".".join(parts[:i]) or "the spec"
            return f"unknown key '{part}' in {here}{did_you_mean(part, hints)}"
        tp = hints[part]
    if dataclasses.is_dataclass(tp):
        return f"'{path}' is a section; set one of its fields instead"
    return None


def set_path(data: dict, path: str, value: Any) -> None:
    node = data
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError([f"{path}: cannot set below a non-mapping value"])
    node[parts[-1]] = value


def apply_overrides(cls: type, data: dict, overrides: Mapping[str, Any],
                    problems: ProblemList) -> dict:
    """A copy of ``data`` with the dotted-path overrides applied; paths that name no field of
    ``cls`` are added to ``problems`` (and skipped) so they are reported with the rest."""
    result = copy.deepcopy(data)
    for path, value in overrides.items():
        problem = _resolve_schema_path(cls, path)
        if problem:
            problems.add(path, problem)
        else:
            set_path(result, path, value)
    return result


def deep_merge(base: dict, override: dict) -> dict:
    """Merge ``override`` into a copy of ``base``; nested mappings merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# YAML 1.1 (PyYAML) reads 1e9 and 1.5E-3 as strings; YAML 1.2 and every user read them as numbers
_BOOL_1_2 = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_FLOAT_1_2 = re.compile(r"^[-+]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)[eE][-+]?\d+$")
MAX_YAML_NODES = 1_000_000          # after alias expansion: an "alias bomb" is refused, not expanded
MAX_CONFIG_BYTES = 16 * 2 ** 20       # a preset or sweep spec is kilobytes


@lru_cache(maxsize=1)
def _strict_loader() -> type:
    """A SafeLoader that refuses duplicate keys, reads every float notation and bounds aliases."""
    import yaml
    from yaml.constructor import ConstructorError

    # libyaml's parser when PyYAML has it (presets load ~10x faster), the same checks either way
    class StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict:
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":   # `<<: *base` may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in first_line:
                        raise ConstructorError(None, None, f"duplicate key {key!r} (first at line "
                                               f"{first_line[key]}); keep one", key_node.start_mark)
                except TypeError:
                    raise ConstructorError(None, None, f"a key must be a name, got {key!r}",
                                           key_node.start_mark) from None
                first_line[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep)

    StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_1_2, list("-+0123456789."))
    # YAML 1.2 booleans: only true/false; YAML 1.1's on/off/yes/no stay the strings a user typed
    # (mapper.fusion=off, dram.controller.refresh=off)
    StrictLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in StrictLoader.yaml_implicit_resolvers.items()}
    StrictLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL_1_2, list("tTfF"))
    return StrictLoader


def _expanded_nodes(node: Any, memo: dict[int, int]) -> int:
    """How many nodes ``node`` becomes once every alias is expanded (aliases share node objects)."""
    key = id(node)
    if key not in memo:
        memo[key] = 0                 # a recursive alias counts once, then stops the walk
        children = node.value if isinstance(node.value, list) else []
        flat = [c for child in children for c in (child if isinstance(child, tuple) else (child,))]
        memo[key] = 1 + sum(_expanded_nodes(c, memo) for c in flat)
    return memo[key]


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML text strictly (see ``_strict_loader``); problems name ``where`` and the line."""
    import yaml
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{where}: {len(text):,} bytes; a configuration file is at most "
                           f"{MAX_CONFIG_BYTES:,}"])
    loader = None
    try:
        loader = _strict_loader()(text)
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_nodes(node, {})
        if size > MAX_YAML_NODES:
            raise ConfigError([f"{where}: aliases expand to {size:,} nodes, more than {MAX_YAML_NODES:,}; "
                               "write the values out instead of nesting aliases"])
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        if "maximum nesting depth" in problem:      # libyaml's own depth limit
            raise ConfigError([f"{where}: nested too deeply to be a configuration"]) from None
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark else where
        raise ConfigError([f"{at}: invalid YAML: {problem}"]) from None
    except RecursionError:
        raise ConfigError([f"{where}: nested too deeply to be a configuration"]) from None
    finally:
        if loader is not None:
            loader.dispose()


def read_config_text(path: Path, what: str) -> str:
    """The text of a configuration file (``what``: how messages call it), refused unread when it
    is larger than MAX_CONFIG_BYTES; read errors become a ConfigError naming the file."""
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError([f"{path}: {size:,} bytes; a {what} is at most {MAX_CONFIG_BYTES:,}"])
        return path.read_text()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the {what}: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: cannot read the {what}: not a text file (not UTF-8)"]) from None


def read_yaml(path: Path) -> Any:
    """Parse a YAML file strictly; a read or syntax error becomes a ConfigError naming file and line."""
    return parse_yaml(read_config_text(path, "configuration file"), str(path))


def to_plain(spec: Any) -> Any:
    """A spec as plain JSON-ready data."""
    return dataclasses.asdict(spec) if dataclasses.is_dataclass(spec) else spec
