"""Named registries: machine families, mappers, presets and models.

A duplicate name is an error (two plugins must never silently shadow each other); an unknown
name lists the known ones with a did-you-mean.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

from accsim.errors import AccsimError, UnknownNameError, did_you_mean

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

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Family:
    """A machine family: its spec schema, its default mapper, and its model's simulate()."""

    name: str
    spec_cls: type
    default_mapper: str                  # "" for a family that runs no LLM graphs (memory standards)
    simulate: Callable[[Any, Any], Any] | None
    description: str
    parallelism: Callable[[Any, Any], Any] | None = None   # (spec, model) -> workloads.Parallelism
    schedule: Callable[[Any, Any], Any] | None = None  # (spec, program) -> stats.Schedule (timelines)
    prefill: str = "batched"   # "token_by_token": the prompt runs as one pass per token
    chips_field: str = ""      # preset field that 'accsim run --chips N' sets ("" = single device)
    chips_per_report: Callable[[Any], int] | None = None   # spec -> chips that per-chip figures divide by


@dataclass(frozen=True)
class Mapper:
    """A mapper lowers an OpGraph onto a family's spec: ``lower(graph, spec) -> Program``."""

    name: str
    family: str
    lower: Callable[[Any, Any], Any]
    description: str


FAMILIES: Registry[Family] = Registry("family")
MAPPERS: Registry[Mapper] = Registry("mapper")
_BUILTINS_LOADED = False


def load_builtin_plugins() -> None:
    """Register the families and mappers that ship with accsim (idempotent).

    Imports happen here, lazily, so that ``import accsim`` stays cheap and so that arch
    models never import mappers: only this wiring function sees both.
    """
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    # spec schemas are plain dataclasses; models and mappers (numba, networkx) load on first use
    from accsim.arch.gpu.spec import GpuSpec
    from accsim.arch.pim.dram import DramSpec
    from accsim.arch.npu.spec import NpuSpec
    from accsim.arch.pim.system import PimSpec

    FAMILIES.register("gpu", Family(
        "gpu", GpuSpec, "gpu-kernels", lazy("accsim.arch.gpu.model", "simulate"),
        "Roofline + per-kernel launch overhead baseline (GPUs and server CPUs)",
        _tensor_parallel, lazy("accsim.arch.gpu.model", "schedule"), chips_field="devices",
        chips_per_report=lambda spec: spec.devices))
    FAMILIES.register("dram", Family(
        "dram", DramSpec, "", None,
        "DRAM memory standards (GDDR6, HBM2, HBM3): trace-driven with 'accsim dram'; PIM presets extend them"))
    FAMILIES.register("pim", Family(
        "pim", PimSpec, "pim-gemv", lazy("accsim.arch.pim.system", "simulate"),
        "GDDR6-AiM processing-in-memory channels + ASIC (PIM-GPT), cycle-level command streams",
        _single_device, lazy("accsim.arch.pim.system", "schedule"), "token_by_token"))
    FAMILIES.register("npu", Family(
        "npu", NpuSpec, "npu-tiles", lazy("accsim.arch.npu.model", "simulate"),
        "NPU chips of Da Vinci-class or systolic cores (cube/vector, L0/L1/UB, DMA, shared HBM), "
        "multi-chip collectives; single GEMMs with 'accsim gemm'",
        lazy("accsim.mappers.npu", "parallelism"), lazy("accsim.arch.npu.model", "schedule"),
        chips_field="system.chips", chips_per_report=lambda spec: spec.system.chips))
    MAPPERS.register("pim-gemv", Mapper(
        "pim-gemv", "pim", lazy("accsim.mappers.pim", "lower"),
        "GEMVs as all-bank MAC streams over row tiles (input-stationary), other ops on the ASIC"))
    MAPPERS.register("npu-tiles", Mapper(
        "npu-tiles", "npu", lazy("accsim.mappers.npu", "lower"),
        "One kernel per op on all cores, tiled by the shared search; flash-attention and epilogue fusion"))
    MAPPERS.register("gpu-kernels", Mapper(
        "gpu-kernels", "gpu", lazy("accsim.mappers.gpu", "lower"),
        "One task per framework kernel group: host launch + device roofline"))


def lazy(module: str, name: str) -> Callable[..., Any]:
    """A callable that imports ``module.name`` on its first call (keeps start-up cheap)."""
    def call(*args: Any, **kwargs: Any) -> Any:
        import importlib
        return getattr(importlib.import_module(module), name)(*args, **kwargs)
    call.__name__ = name
    call.__qualname__ = f"{module}.{name}"
    return call


def _single_device(spec: Any, model: Any) -> Any:
    from accsim.workloads.graph import Parallelism
    return Parallelism()


def _tensor_parallel(spec: Any, model: Any) -> Any:
    from accsim.workloads.graph import Parallelism
    return Parallelism(tp=spec.devices)


def families() -> Registry[Family]:
    load_builtin_plugins()
    return FAMILIES


def mappers() -> Registry[Mapper]:
    load_builtin_plugins()
    return MAPPERS
