"""Named registries of machine families and mappers, filled by discovery.

A family declares itself where it lives: ``arch/<fam>/__init__.py`` sets ``FAMILY =
Family(...)``; a mapper module ``mappers/<name>.py`` sets ``MAPPER = Mapper(...)``. Discovery
imports every subpackage of ``accsim.arch`` and every module of ``accsim.mappers`` and reads
those records; an installed plugin adds its own through the entry-point groups
``accsim.families`` and ``accsim.mappers`` (each entry point names a ``Family`` / ``Mapper``
object). The core names no family: everything family-specific reaches it through these
records.

The family contract (tested over every registered family in tests/test_family_contract.py):
- ``spec`` is a frozen dataclass schema (``accsim.core.config.param`` fields); its optional
  ``check()`` refuses impossible configurations with a ConfigError naming the field.
- ``simulate(spec, program) -> Stats`` is pure and deterministic and returns the step-stats
  contract of ``accsim.core.stats.step_stats``: ``by_op_kind`` exposed times sum to ``latency_s``.
- a family whose presets run no LLM graphs (memory standards) has no mapper and says in
  ``usage`` which command uses its presets.
- capacity problems raise ``accsim.core.capacity.CapacityError`` naming the field and the fix.
- reruns are bit-identical, the kernels give the same stats without JIT, and a Program saved
  and loaded simulates to the same stats (run on the family's ``examples``).

A duplicate name is an error (two plugins must never silently shadow each other); an unknown
name lists the known ones with a did-you-mean.
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, Mapping, TypeVar

from accsim.core.errors import AccsimError, UnknownNameError, did_you_mean

T = TypeVar("T")


class DuplicateNameError(AccsimError):
    """Two registrations under one name."""


class Registry(Generic[T]):
    """A name -> item map that refuses duplicates and explains unknown names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise DuplicateNameError(f"duplicate {self.kind} name '{name}': already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self._items)}. "
                f"Known: {', '.join(sorted(self._items)) or '(none)'}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def values(self) -> list[T]:
        return [self._items[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


class Lazy:
    """A reference to ``module.name`` imported on first use (keeps start-up cheap).

    A relative module (``".model"``) resolves against the package of the module that wrote
    the reference, so a family's declaration names its own modules without spelling its path.
    Calling it calls the target; ``load()`` returns the target itself (a click command).
    """

    def __init__(self, module: str, name: str, package: str | None) -> None:
        self.module = importlib.util.resolve_name(module, package) if module.startswith(".") else module
        self.name = name
        self.__name__ = name
        self.__qualname__ = f"{self.module}.{name}"

    def load(self) -> Any:
        return getattr(importlib.import_module(self.module), self.name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"lazy({self.__qualname__})"


def lazy(module: str, name: str) -> Lazy:
    """``lazy(".model", "simulate")``: the caller's ``.model.simulate``, imported on first use."""
    package = sys._getframe(1).f_globals.get("__package__")
    return Lazy(module, name, package)


@dataclass(frozen=True)
class ModelTiers:
    """Where a family's system keeps models (the family's ``model_tiers(spec)``)."""

    fast_bytes: float        # memory models run from (all devices)
    slow_bytes: float        # capacity tier where inactive models wait
    switch_s: Callable[[float], float]   # seconds to copy a model of n bytes slow -> fast
    fast_field: str          # spec fields to name in capacity errors
    slow_field: str
    slow_name: str           # "DDR", "host memory"
    copy_path: str           # what the copy goes through (for reports)


@dataclass(frozen=True)
class Roof:
    """One engine/memory pair of a device: its peak compute and the memory bandwidth feeding it."""

    name: str
    peak_flops_per_s: float
    bandwidth_Bps: float

    @property
    def ridge_flops_per_byte(self) -> float:
        return self.peak_flops_per_s / self.bandwidth_Bps

    def attainable_flops_per_s(self, intensity_flops_per_byte: float) -> float:
        return min(self.peak_flops_per_s, self.bandwidth_Bps * intensity_flops_per_byte)


@dataclass(frozen=True, kw_only=True)
class Family:
    """A machine family: its spec schema, its default mapper, its model, and what it adds."""

    name: str
    spec: type                 # frozen dataclass schema of its presets; may be lazy(".spec", "X")
    description: str
    mapper: str = ""                             # default mapper; "" = runs no LLM graphs
    simulate: Callable[[Any, Any], Any] | None = None   # (spec, program) -> step Stats
    schedule: Callable[[Any, Any], Any] | None = None   # (spec, program) -> stats.Schedule (timelines)
    usage: str = ""            # without a mapper: the command that uses its presets ({preset} filled in)
    prefill: str = "batched"   # "token_by_token": the prompt runs as one pass per token
    chips_field: str = ""      # preset field that 'accsim run --chips N' sets ("" = single device)
    chips_per_report: Callable[[Any], int] | None = None   # spec -> chips that per-chip figures divide by
    commands: Mapping[str, Lazy] = field(default_factory=dict)   # CLI subcommands it adds
    metrics: Mapping[str, Callable[..., float]] = field(default_factory=dict)   # validation metrics
    presets: str = ""          # a folder of preset YAML beyond arch/presets (a plugin's own)
    component: bool = False    # other families may compose its modules (a shared component: DRAM)
    # program -> [(title, column names, rows)]: the family's own view of a Program for
    # 'accsim show-program' (an rdu Program's sections, stages and tiers)
    describe_program: Callable[[Any], list] | None = None
    # spec -> ModelTiers: where the system keeps models (fast memory, capacity
    # tier, the copy path between them), for compositions of experts
    model_tiers: Callable[[Any], Any] | None = None
    # (spec, model) -> [Roof]: the peak compute and memory bandwidth of the
    # device one step's graph runs on (a roofline per engine/memory pair), for roofline views
    roofs: Callable[[Any, Any], list] | None = None
    # graph op kind -> the stats kind its time is charged to, for families that name their own
    # kinds (pim: every GEMV is 'pim_mac'); used only where the stats lack the graph's kind
    work_kind: Callable[[str], str] | None = None
    # scenarios the contract tests run on every family with a mapper: "small" (seconds, also
    # without JIT) and "too_big" (must raise a CapacityError); ``model`` may be an inline
    # Hugging Face config
    examples: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __getattribute__(self, name: str) -> Any:
        # a lazy spec loads on first use: discovering the families for 'accsim --help' then
        # costs no dataclass schemas (~10 ms a family)
        value = object.__getattribute__(self, name)
        if name == "spec" and isinstance(value, Lazy):
            value = value.load()
            object.__setattr__(self, "spec", value)
        return value

    def __post_init__(self) -> None:
        if self.prefill not in ("batched", "token_by_token"):
            raise ValueError(f"family {self.name}: prefill must be batched or token_by_token")
        if bool(self.mapper) != (self.simulate is not None):
            raise ValueError(f"family {self.name}: a family with a mapper needs simulate, and one "
                             "without a mapper runs no Programs")
        if self.mapper and not {"small", "too_big"} <= set(self.examples):
            raise ValueError(f"family {self.name}: declare examples 'small' and 'too_big' for the "
                             "contract tests")
        if not self.mapper and not self.usage:
            raise ValueError(f"family {self.name}: without a mapper, say in usage which command "
                             "uses its presets")


@dataclass(frozen=True, kw_only=True)
class Mapper:
    """A mapper lowers an OpGraph onto a family's spec: ``lower(graph, spec) -> Program``."""

    name: str
    family: str
    lower: Callable[[Any, Any], Any]
    description: str
    # (spec, model) -> workloads.Parallelism: how a step splits over the spec's devices
    # (None: one device runs the whole step)
    parallelism: Callable[[Any, Any], Any] | None = None


FAMILIES: Registry[Family] = Registry("family")
MAPPERS: Registry[Mapper] = Registry("mapper")
_DISCOVERED: set[str] = set()


def _entry_points(group: str) -> list[Any]:
    from importlib.metadata import entry_points
    return sorted(entry_points(group=group), key=lambda ep: ep.name)


def _discover(kind: str) -> None:
    """Register the records of one kind: built-in packages first, then installed plugins."""
    if kind in _DISCOVERED:
        return
    _DISCOVERED.add(kind)
    namespace = importlib.import_module(f"accsim.{'arch' if kind == 'families' else 'mappers'}")
    attr, registry, expected = (("FAMILY", FAMILIES, Family) if kind == "families"
                                else ("MAPPER", MAPPERS, Mapper))
    for info in sorted(pkgutil.iter_modules(namespace.__path__), key=lambda i: i.name):
        if kind == "families" and not info.ispkg:
            continue
        record = getattr(importlib.import_module(f"{namespace.__name__}.{info.name}"), attr, None)
        if record is not None and not _registered(registry, record):
            registry.register(record.name, record)
    for ep in _entry_points(f"accsim.{kind}"):
        # a broken plugin must not break every command (--help included): said once, skipped
        try:
            record = ep.load()
        except Exception as exc:           # whatever its import raises
            _skip_plugin(ep, kind, f"it does not load ({type(exc).__name__}: {exc})")
            continue
        if not isinstance(record, expected):
            _skip_plugin(ep, kind, f"it is a {type(record).__name__}, not an accsim {expected.__name__}")
            continue
        registry.register(record.name, record)


SKIPPED_PLUGINS: list[str] = []


def _skip_plugin(ep: Any, kind: str, why: str) -> None:
    message = f"plugin entry point '{ep.name}' ({ep.value}) in group accsim.{kind} skipped: {why}"
    SKIPPED_PLUGINS.append(message)
    sys.stderr.write(f"warning: {message}\n")


def families() -> Registry[Family]:
    _discover("families")
    return FAMILIES


def mappers() -> Registry[Mapper]:
    _discover("mappers")
    return MAPPERS


def mapper(name: str, family: str) -> Mapper:
    """The mapper ``name`` of ``family``. The family's own built-in module (mappers/<family>.py)
    is tried alone first, so a run imports no other family's mapper (tens of ms of start-up);
    any other name discovers every mapper and plugin."""
    if name not in MAPPERS and "mappers" not in _DISCOVERED:
        module = f"accsim.mappers.{family}"
        if importlib.util.find_spec(module) is not None:
            record = getattr(importlib.import_module(module), "MAPPER", None)
            if isinstance(record, Mapper) and record.name == name:
                MAPPERS.register(name, record)
    return MAPPERS.get(name) if name in MAPPERS else mappers().get(name)


def _registered(registry: Registry[Any], record: Any) -> bool:
    """Already registered as itself (found on its own before the whole discovery)."""
    return record.name in registry and registry.get(record.name) is record

