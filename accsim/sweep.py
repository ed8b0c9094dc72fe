"""Design-space sweeps: a YAML spec of axes -> points -> parallel runs -> SQLite, resumable.

Spec (every key checked; a bad spec fails before any point runs)::

    base: {arch: t4, model: gpt2-small, batch: 1, prompt: 64, gen: 4,
           set: {memory.bandwidth_GBps: 400}}        # optional preset overrides
    axes:                                           # workload fields or preset field paths
      batch: [1, 2, 4, 8]                           # a list
      prompt: {range: [64, 512, 64]}                # start, stop (inclusive), step
      memory.bandwidth_GBps: {log: [100, 3200, 6]}  # geometric, n values
      compute.efficiency: {uniform: [0.5, 0.9], n: 4}   # random draws (seeded)
    constraints: ["batch * prompt <= 16384"]
    mode: grid            # or random: `samples` points drawn from the axes
    samples: 100
    seed: 0

Each point's id is a hash of its parameters, so re-running a spec skips the points already
stored (resume after SIGINT or SIGKILL) and never duplicates a row.
"""
from __future__ import annotations

import ast
import hashlib
import itertools
import json
import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from accsim.errors import AccsimError, ConfigError, ProblemList, did_you_mean
from accsim.scenario import AXIS_TYPES as SCENARIO_FIELDS, default as _default, field_problem
TOP_KEYS = ("base", "axes", "constraints", "mode", "samples", "seed")
VALUE_FORMS = ("range", "lin", "log", "uniform", "loguniform")


@dataclass(frozen=True)
class SweepSpec:
    base: Mapping[str, Any]
    overrides: Mapping[str, Any]
    axes: Mapping[str, tuple]
    constraints: tuple[str, ...] = ()
    mode: str = "grid"
    samples: int = 0
    seed: int = 0
    source: str = "<spec>"
    raw: Mapping[str, Any] = field(default_factory=dict)


# ---- value forms ---------------------------------------------------------------------------
def _is_int(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _numbers(value: Any, count: int) -> bool:
    return (isinstance(value, list) and len(value) == count
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def expand_values(form: Any, rng: np.random.Generator, path: str, problems: ProblemList) -> tuple:
    """An axis's values from a list or one of the value forms (see module docstring)."""
    if isinstance(form, list):
        if not form:
            problems.add(path, "an axis needs at least one value")
        return tuple(form)
    if not isinstance(form, dict) or len(set(form) & set(VALUE_FORMS)) != 1:
        problems.add(path, f"expected a list or a mapping with one of {', '.join(VALUE_FORMS)}, got {form!r}")
        return ()
    (kind,) = set(form) & set(VALUE_FORMS)
    extra = set(form) - {kind, "n"}
    if extra:
        problems.add(path, f"unknown key(s) {sorted(extra)} in {kind} form")
    args = form[kind]
    if kind in ("uniform", "loguniform"):
        n = form.get("n")
        if not _numbers(args, 2) or not isinstance(n, int) or n < 1:
            problems.add(path, f"{kind}: expected [low, high] and n: count >= 1, got {form!r}")
            return ()
        low, high = args
        if kind == "loguniform" and (low <= 0 or high <= 0):
            problems.add(path, "loguniform: bounds must be > 0")
            return ()
        draws = (rng.uniform(low, high, n) if kind == "uniform"
                 else np.exp(rng.uniform(math.log(low), math.log(high), n)))
        return tuple(int(round(v)) for v in draws) if _is_int(low, high) else tuple(float(v) for v in draws)
    if not _numbers(args, 3):
        problems.add(path, f"{kind}: expected [start, stop, {'step' if kind == 'range' else 'count'}], got {args!r}")
        return ()
    start, stop, third = args
    if kind == "range":
        if third <= 0 or stop < start:
            problems.add(path, f"range: expected start <= stop and step > 0, got {args!r}")
            return ()
        count = int(math.floor((stop - start) / third + 1e-9)) + 1
        values = [start + i * third for i in range(count)]
        return tuple(int(v) for v in values) if _is_int(start, stop, third) else tuple(float(v) for v in values)
    if not isinstance(third, int) or third < 1 or (kind == "log" and (start <= 0 or stop <= 0)):
        problems.add(path, f"{kind}: expected a count >= 1{' and bounds > 0' if kind == 'log' else ''}, got {args!r}")
        return ()
    values = np.linspace(start, stop, third) if kind == "lin" else np.geomspace(start, stop, third)
    if _is_int(start, stop):
        return tuple(dict.fromkeys(int(round(v)) for v in values))
    return tuple(float(v) for v in values)


# ---- constraints ---------------------------------------------------------------------------
_ALLOWED_NODES = (ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Name,
                  ast.Constant, ast.Load, ast.And, ast.Or, ast.Not, ast.Add, ast.Sub, ast.Mult,
                  ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd, ast.Eq, ast.NotEq,
                  ast.Lt, ast.LtE, ast.Gt, ast.GtE)


class Constraint:
    """A safe boolean expression over axis and base names (dotted preset paths allowed)."""

    def __init__(self, text: str, names: Iterable[str], path: str) -> None:
        self.text = text
        # dotted names are not Python identifiers: each gets a placeholder (longest first, so a
        # name that contains another is replaced whole)
        self._alias: dict[str, str] = {}
        expr = text
        for i, name in enumerate(sorted(names, key=len, reverse=True)):
            alias = f"_v{i}" if "." in name else name
            expr = expr.replace(name, alias) if "." in name else expr
            self._alias[alias] = name
        try:
            tree = ast.parse(expr, mode="eval")
        except SyntaxError as exc:
            raise ConfigError([f"{path}: cannot parse {text!r}: {exc.msg}"]) from None
        bad = [type(n).__name__ for n in ast.walk(tree) if not isinstance(n, _ALLOWED_NODES)]
        if bad:
            raise ConfigError([f"{path}: {text!r} uses {bad[0]}; only arithmetic, comparisons "
                               "and and/or/not over axis names are allowed"])
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id not in self._alias:
                known = sorted(self._alias.values())
                raise ConfigError([f"{path}: unknown name '{node.id}'{did_you_mean(node.id, known)}; "
                                   f"known: {', '.join(known)}"])
        self._code = compile(tree, path, "eval")

    def holds(self, values: Mapping[str, Any]) -> bool:
        env = {alias: values[name] for alias, name in self._alias.items() if name in values}
        return bool(eval(self._code, {"__builtins__": {}}, env))  # noqa: S307 (AST checked above)


# ---- spec loading --------------------------------------------------------------------------
def _check_scenario_value(name: str, value: Any, path: str, problems: ProblemList) -> None:
    from accsim.presets import preset_names
    from accsim.workloads import model_names

    problem = field_problem(name, value)
    if problem:
        problems.add(path, problem.split(": ", 1)[1])
    elif name == "arch" and value not in preset_names() and not str(value).endswith((".yaml", ".yml")):
        problems.add(path, f"unknown preset '{value}'{did_you_mean(str(value), preset_names())}")
    elif name == "model" and value not in model_names() and not str(value).endswith(".json") \
            and not Path(str(value)).is_dir():
        problems.add(path, f"unknown model '{value}'{did_you_mean(str(value), model_names())}")


def _check_preset_axis(name: str, values: tuple, archs: Iterable[str], overrides: Mapping[str, Any],
                       problems: ProblemList) -> None:
    """Resolve each arch with each value of a preset-field axis; report what fails, by value."""
    from accsim.presets import resolve_preset

    for arch in archs:
        for i, value in enumerate(values):
            try:
                resolve_preset(arch, {**overrides, name: value})
            except AccsimError as exc:
                for line in str(exc).splitlines():
                    problems.add(f"axes.{name}[{i}]", f"{line} (with arch {arch})")
                if "unknown key" in str(exc):
                    return


def _preset_field_paths(archs: Iterable[str]) -> list[str]:
    """Field paths of the families of the given presets (for axis names and suggestions)."""
    from accsim import config
    from accsim.presets import load_merged
    from accsim.registry import families

    paths: list[str] = []
    for arch in archs:
        try:
            family = families().get(str(load_merged(str(arch)).get("family")))
        except AccsimError:
            continue
        paths += [p for p in config.field_paths(family.spec) if p not in paths]
    return paths


def load_spec(path: str | Path) -> SweepSpec:
    from accsim.config import read_yaml
    path = Path(path)
    return parse_spec(read_yaml(path), str(path))


def parse_spec(raw: Any, source: str = "<spec>") -> SweepSpec:
    """Validate a sweep spec completely (names, values, constraints) before anything runs."""
    problems = ProblemList()
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: expected a mapping with keys {', '.join(TOP_KEYS)}"])
    for key in raw:
        if key not in TOP_KEYS:
            problems.add(str(key), f"unknown key{did_you_mean(str(key), TOP_KEYS)}; known: {', '.join(TOP_KEYS)}")
    base_raw = raw.get("base") or {}
    if not isinstance(base_raw, dict):
        problems.add("base", "expected a mapping of scenario fields")
        base_raw = {}
    base = {name: _default(name) for name in ("arch", "model", "batch", "prompt", "gen", "dtype",
                                               "decode_samples")}
    overrides = dict(base_raw.get("set") or {})
    for key, value in base_raw.items():
        if key == "set":
            continue
        if key not in SCENARIO_FIELDS:
            problems.add(f"base.{key}", f"unknown key{did_you_mean(str(key), SCENARIO_FIELDS)}; put preset "
                         "fields under base.set")
            continue
        _check_scenario_value(key, value, f"base.{key}", problems)
        base[key] = value
    mode = raw.get("mode", "grid")
    if mode not in ("grid", "random"):
        problems.add("mode", f"expected grid or random, got {mode!r}")
    seed = raw.get("seed", 0)
    samples = raw.get("samples", 0)
    if not _is_int(seed):
        problems.add("seed", f"expected an integer, got {seed!r}")
        seed = 0
    if mode == "random" and (not _is_int(samples) or samples < 1):
        problems.add("samples", f"mode random needs samples: N >= 1, got {samples!r}")
    rng = np.random.default_rng(seed)
    axes_raw = raw.get("axes") or {}
    if not isinstance(axes_raw, dict) or not axes_raw:
        problems.add("axes", "expected a mapping of at least one axis name -> values")
        axes_raw = {}
    axes = {str(name): expand_values(form, rng, f"axes.{name}", problems) for name, form in axes_raw.items()}
    archs = axes.get("arch", (base["arch"],))
    preset_fields = _preset_field_paths(archs)
    for name, values in axes.items():
        if name in SCENARIO_FIELDS:
            for i, v in enumerate(values):
                _check_scenario_value(name, v, f"axes.{name}[{i}]", problems)
        elif name.split(".")[0] not in {p.split(".")[0] for p in preset_fields}:
            problems.add(f"axes.{name}", f"unknown axis{did_you_mean(name, [*SCENARIO_FIELDS, *preset_fields])}; "
                         f"an axis is a workload field ({', '.join(SCENARIO_FIELDS)}) or a preset field "
                         "(see 'accsim show-preset')")
        elif not problems.problems:
            _check_preset_axis(name, values, archs, overrides, problems)
    if not axes.get("arch") and overrides and not problems.problems:
        try:
            from accsim.presets import resolve_preset
            resolve_preset(base["arch"], overrides)
        except AccsimError as exc:
            for line in str(exc).splitlines():
                problems.add("base.set", line)
    constraints = raw.get("constraints") or []
    if not isinstance(constraints, list) or not all(isinstance(c, str) for c in constraints):
        problems.add("constraints", "expected a list of expressions such as 'batch * prompt <= 16384'")
        constraints = []
    problems.raise_if_any()
    names = set(axes) | set(base) | set(overrides)
    for i, text in enumerate(constraints):
        Constraint(text, names, f"constraints[{i}]")
    return SweepSpec(base, overrides, axes, tuple(constraints), mode, int(samples or 0), int(seed),
                     source, raw)


# ---- points --------------------------------------------------------------------------------
def expand_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """Axis assignments of every point (grid product or seeded random draws), after constraints."""
    names = list(spec.axes)
    if spec.mode == "grid":
        combos: Iterable[tuple] = itertools.product(*(spec.axes[n] for n in names))
    else:
        rng = np.random.default_rng(spec.seed + 1)
        combos = [tuple(spec.axes[n][rng.integers(len(spec.axes[n]))] for n in names)
                  for _ in range(spec.samples)]
    known = set(spec.axes) | set(spec.base) | set(spec.overrides)
    checks = [Constraint(c, known, f"constraints[{i}]") for i, c in enumerate(spec.constraints)]
    points, seen = [], set()
    for combo in combos:
        point = dict(zip(names, combo))
        env = {**spec.base, **spec.overrides, **point}
        if all(c.holds(env) for c in checks):
            pid = point_id(point)
            if pid not in seen:
                seen.add(pid)
                points.append(point)
    return points


def point_id(point: Mapping[str, Any]) -> str:
    return hashlib.sha1(json.dumps(point, sort_keys=True).encode()).hexdigest()[:16]


def point_scenario(spec: SweepSpec, point: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of accsim.runner.Scenario for one point."""
    scenario = {k: v for k, v in spec.base.items()}
    overrides = dict(spec.overrides)
    for name, value in point.items():
        if name in SCENARIO_FIELDS:
            scenario[name] = value
        else:
            overrides[name] = value
    scenario["overrides"] = overrides
    return scenario


def run_point(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """Worker: simulate one point; failures are results (status + message), not crashes."""
    from accsim.runner import Scenario, run_scenario

    t0 = time.perf_counter()
    try:
        stats = run_scenario(Scenario(**scenario)).stats
        flat = {k: v for k, v in stats.flat().items() if not k.startswith("scenario.")}
        return {"status": "ok", "stats": flat, "error": None, "elapsed_s": time.perf_counter() - t0}
    except AccsimError as exc:
        return {"status": "failed", "stats": {}, "error": str(exc), "elapsed_s": time.perf_counter() - t0}
    except Exception:  # a bug in one point must not stop a long sweep; keep the traceback
        return {"status": "error", "stats": {}, "error": traceback.format_exc(),
                "elapsed_s": time.perf_counter() - t0}


# ---- execution -----------------------------------------------------------------------------
@dataclass
class SweepSummary:
    total: int
    skipped: int
    ok: int = 0
    failed: int = 0


def make_executor(jobs: int, scheduler: str | None) -> tuple[Any, Callable[[], None]]:
    """A concurrent.futures executor (local processes, or a Dask cluster) and its closer."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError(["--scheduler: needs the 'distributed' package (pip install distributed)"]) from None
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError([f"--scheduler: cannot reach {scheduler}: {exc}"]) from None
        return client.get_executor(), client.close
    from concurrent.futures import ProcessPoolExecutor
    executor = ProcessPoolExecutor(max_workers=jobs)
    return executor, lambda: executor.shutdown(wait=False, cancel_futures=True)


def run_sweep(spec: SweepSpec, db_path: str | Path, jobs: int = 1, scheduler: str | None = None,
              on_result: Callable[[dict[str, Any], dict[str, Any]], None] | None = None) -> SweepSummary:
    """Run every point not yet stored in ``db_path``; store each result as soon as it arrives."""
    from accsim.results import ResultStore

    points = expand_points(spec)
    store = ResultStore(db_path)
    store.record_spec(spec.raw, list(spec.axes))
    done = store.finished_ids()
    todo = [(i, p) for i, p in enumerate(points) if point_id(p) not in done]
    summary = SweepSummary(total=len(points), skipped=len(points) - len(todo))

    def record(index: int, point: dict[str, Any], result: dict[str, Any]) -> None:
        store.record(point_id(point), index, point, result)
        if result["status"] == "ok":
            summary.ok += 1
        else:
            summary.failed += 1
        if on_result:
            on_result(point, result)

    try:
        if jobs == 1 and not scheduler:
            for index, point in todo:
                record(index, point, run_point(point_scenario(spec, point)))
            return summary
        from concurrent.futures import as_completed
        executor, close = make_executor(jobs, scheduler)
        try:
            futures = {executor.submit(run_point, point_scenario(spec, p)): (i, p) for i, p in todo}
            for future in as_completed(futures):
                index, point = futures[future]
                record(index, point, future.result())
        finally:
            close()
        return summary
    finally:
        store.close()

