"""Hardware presets: YAML files in ``arch/presets`` resolved into frozen specs.

A preset file names its ``family``, may ``extends`` another preset (deep merge, the child
wins), and carries a ``sources`` map from field path to where the number comes from (a
datasheet, a paper table, a measurement, or "assumed: <reason>"). A preset whose name starts
with ``_`` is a base that others extend; it is not runnable on its own. Loading applies
``--set`` overrides (checked against the schema), validates every field and collects all
problems before raising.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from accsim.core import config
from accsim.core.errors import AccsimError, ConfigError, ProblemList, UnknownNameError, did_you_mean
from accsim.core.registry import families

META_KEYS = ("family", "extends", "description", "sources")


def preset_files() -> dict[str, Path]:
    """Preset name -> file: the shipped ``arch/presets`` plus any folder a registered family
    declares (``Family.presets``, how an installed plugin ships its presets); a name is
    defined once."""
    # the arch package's folder, found without importing it (installed: accsim/arch/presets;
    # source: <root>/arch/presets): the core reaches the families through the registry only
    arch = importlib.util.find_spec("accsim.arch")
    folders = [Path(arch.submodule_search_locations[0]) / "presets"]
    folders += [Path(f.presets) for f in families().values() if f.presets]
    files: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            if path.stem in files and files[path.stem] != path:
                raise ConfigError([f"preset '{path.stem}' is defined twice: {files[path.stem]} and {path}"])
            files[path.stem] = path
    return files


@dataclass(frozen=True)
class Preset:
    """A resolved preset: its family, the frozen spec, and the merged data with sources."""

    name: str
    family: str
    description: str
    spec: Any
    data: Mapping[str, Any]
    sources: Mapping[str, str]
    overrides: Mapping[str, Any]

    def resolved_config(self) -> dict[str, Any]:
        """What stats.json records: family, spec values, their sources and the overrides."""
        return {"preset": self.name, "family": self.family, "description": self.description,
                "spec": config.to_plain(self.spec), "sources": dict(self.sources),
                "overrides": dict(self.overrides)}


def preset_names(include_bases: bool = False) -> list[str]:
    names = sorted(preset_files())
    return names if include_bases else [n for n in names if not n.startswith("_")]


def _read_yaml(path: Path) -> dict[str, Any]:
    data = config.read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping of preset keys, got {type(data).__name__}"])
    return data


def _locate(name_or_path: str) -> tuple[str, Path]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.exists():
            raise ConfigError([f"{path}: no such preset file"])
        return path.stem, path
    candidate = preset_files().get(name_or_path)
    if candidate is None:
        names = preset_names()
        raise UnknownNameError(f"unknown preset '{name_or_path}'{did_you_mean(name_or_path, names)}. "
                               f"Known: {', '.join(names)} (or pass a path to a .yaml preset)")
    return name_or_path, candidate


def load_merged(name_or_path: str, _chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """The preset's data with its ``extends`` chain merged in (child wins)."""
    name, path = _locate(name_or_path)
    if name in _chain:
        raise ConfigError([f"{path}: extends cycle {' -> '.join(_chain + (name,))}"])
    data = _read_yaml(path)
    parent = data.get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError([f"{path}: extends: expected a preset name, got {parent!r}"])
    base = load_merged(parent, _chain + (name,))
    merged = config.deep_merge({k: v for k, v in base.items() if k != "description"}, data)
    merged.pop("extends", None)
    return merged


def parse_set_options(items: Sequence[str]) -> dict[str, Any]:
    """``["memory.bandwidth_GBps=400", ...]`` -> {path: value}; values parse as YAML scalars."""
    problems = ProblemList()
    result: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            problems.add("--set", f"expected KEY=VALUE (e.g. memory.bandwidth_GBps=400), got {item!r}")
            continue
        try:
            result[key.strip()] = config.parse_yaml(text, f"--set {key.strip()}")
        except ConfigError as exc:
            problems.problems += exc.problems
    problems.raise_if_any()
    return result


def _check_sources(spec_cls: type, sources: Any, problems: ProblemList) -> dict[str, str]:
    if sources is None:
        return {}
    if not isinstance(sources, dict):
        problems.add("sources", "expected a mapping of field path -> source text")
        return {}
    known = config.field_paths(spec_cls)
    sections = {p.rsplit(".", i)[0] for p in known for i in range(1, p.count(".") + 1)}
    for path, text in sources.items():
        base = str(path)
        if base not in known and base not in sections and base.rsplit(".", 1)[0] not in known:
            problems.add(f"sources.{path}", f"names no field{did_you_mean(base, known)}")
        if not isinstance(text, str) or not text.strip():
            problems.add(f"sources.{path}", "expected a non-empty source text")
    return {str(k): str(v) for k, v in sources.items()}


def resolve_preset(name_or_path: str, overrides: Mapping[str, Any] | None = None) -> Preset:
    """Load, merge, override and validate a preset; every problem is reported at once."""
    overrides = dict(overrides or {})
    name, _ = _locate(name_or_path)
    if name.startswith("_"):
        raise ConfigError([f"preset '{name}' is a base for other presets, not a machine; "
                           f"known presets: {', '.join(preset_names())}"])
    data = load_merged(name_or_path)
    family_name = data.get("family")
    family = families().get(str(family_name)) if family_name is not None else None
    if family is None:
        raise ConfigError([f"{name}: family: missing; expected one of {', '.join(families().names())}"])
    problems = ProblemList()
    body = {k: v for k, v in data.items() if k not in META_KEYS}
    body = config.apply_overrides(family.spec, body, overrides, problems)
    sources = _check_sources(family.spec, data.get("sources"), problems)
    spec = config.build(family.spec, body, path="", problems=problems)
    problems.raise_if_any()
    if hasattr(spec, "check"):
        spec.check()         # the family's own consistency rules (ConfigError naming the field)
    for path in overrides:
        sources[path] = "override (--set)"
    return Preset(name, family.name, str(data.get("description", "")), spec, body, sources, overrides)


@lru_cache(maxsize=256)
def preset_spec(name: str) -> Any:
    """The spec of preset ``name`` without overrides, resolved once per process: how a family
    composes another family's or a component's preset by name (a DRAM tier, a server's GPU)."""
    return resolve_preset(name).spec


@lru_cache(maxsize=256)
def preset_family(name: str) -> str:
    """The family preset ``name`` belongs to (read once per process)."""
    return str(load_merged(name).get("family"))


def preset_reference_problems(refs: Sequence[tuple[str, str, str, str]]) -> list[str]:
    """Problems with spec fields that name another preset: each ref is (field, preset name,
    the family it must belong to, an example for the message)."""
    problems = []
    for field, name, family, example in refs:
        try:
            found = preset_family(name)
        except AccsimError as exc:
            problems.append(f"{field}: {exc}")
            continue
        if found != family:
            problems.append(f"{field}: '{name}' is a {found} preset; name a {family} preset (e.g. {example})")
    return problems


def source_of(path: str, sources: Mapping[str, str]) -> str:
    """The source of a spec field: the entry for the field or for the closest section above it
    ('' when none covers it)."""
    parts = path.split(".")
    return next((sources[key] for key in (".".join(parts[:n]) for n in range(len(parts), 0, -1))
                 if key in sources), "")
