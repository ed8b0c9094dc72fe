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
    serve: {policy: continuous, rate: 5, requests: 500}   # optional: every point is a serving run
    mode: grid            # or random: `samples` points drawn from the axes
    samples: 100
    seed: 0

With a ``serve`` section (the options of ``accsim serve``, ``accsim.serving.options``) or a
``serve.*`` axis (``serve.rate: [1, 2, 4]``), every point serves request traffic on its machine
and stores the serving figures (``ttft_s.p99``, ``goodput_requests_per_s``, ...).

A point's id hashes everything its result depends on: its resolved scenario (base, set, axis
values) and the content of the presets and model configs it names. Re-running a spec skips the
points already stored (resume after SIGINT, SIGTERM or SIGKILL) and never duplicates a row; an
edited spec, preset or model config gives new ids, so stale results are never reused. A spec
larger than ``max_points`` is refused before anything is expanded.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import signal
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from accsim.core.config import integral
from accsim.core.errors import AccsimError, ConfigError, ProblemList, did_you_mean
from accsim.core.limits import DEFAULT_MAX_POINTS
from accsim.simulation.scenario import AXIS_TYPES as SCENARIO_FIELDS, default as _default, field_problem
from accsim.study.constraints import Constraint

TOP_KEYS = ("base", "axes", "constraints", "serve", "mode", "samples", "seed")
SERVE_PREFIX = "serve."
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
    serve: Mapping[str, Any] | None = None     # serving options of every point (None: runs)

    def fixed_values(self) -> dict[str, Any]:
        """Every name a constraint may use that no axis sets: base, preset and serve fields."""
        serve = {f"{SERVE_PREFIX}{k}": v for k, v in (self.serve or {}).items()}
        return {**self.base, **self.overrides, **serve}


# ---- value forms ---------------------------------------------------------------------------
def _is_int(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _numbers(value: Any, count: int) -> bool:
    return (isinstance(value, list) and len(value) == count
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in value))


def _too_many(count: float, limit: int, path: str, problems: ProblemList) -> bool:
    if count > limit:
        problems.add(path, f"{count:,.0f} values, more than the {limit:,} points a sweep may have "
                     "(--max-points)")
        return True
    return False


def expand_values(form: Any, rng: np.random.Generator, path: str, problems: ProblemList,
                  limit: int = DEFAULT_MAX_POINTS) -> tuple:
    """An axis's values from a list or one of the value forms (see module docstring); at most
    ``limit`` of them."""
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
        n = integral(form.get("n"))
        if not _numbers(args, 2) or not isinstance(n, int) or n < 1:
            problems.add(path, f"{kind}: expected [low, high] and n: count >= 1, got {form!r}")
            return ()
        if _too_many(n, limit, path, problems):
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
    start, stop, third = args[0], args[1], integral(args[2]) if kind != "range" else args[2]
    if kind == "range":
        if third <= 0 or stop < start:
            problems.add(path, f"range: expected start <= stop and step > 0, got {args!r}")
            return ()
        count = int(math.floor((stop - start) / third + 1e-9)) + 1
        if _too_many(count, limit, path, problems):
            return ()
        values = [start + i * third for i in range(count)]
        return tuple(int(v) for v in values) if _is_int(start, stop, third) else tuple(float(v) for v in values)
    if not isinstance(third, int) or third < 1 or (kind == "log" and (start <= 0 or stop <= 0)):
        problems.add(path, f"{kind}: expected a count >= 1{' and bounds > 0' if kind == 'log' else ''}, got {args!r}")
        return ()
    if _too_many(third, limit, path, problems):
        return ()
    values = np.linspace(start, stop, third) if kind == "lin" else np.geomspace(start, stop, third)
    if _is_int(start, stop):
        return tuple(dict.fromkeys(int(round(v)) for v in values))
    return tuple(float(v) for v in values)


# ---- spec loading --------------------------------------------------------------------------
def _check_scenario_value(name: str, value: Any, path: str, problems: ProblemList) -> None:
    from accsim.core.presets import preset_names
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
    from accsim.core.presets import resolve_preset

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
    from accsim.core import config
    from accsim.core.presets import load_merged
    from accsim.core.registry import families

    paths: list[str] = []
    for arch in archs:
        try:
            family = families().get(str(load_merged(str(arch)).get("family")))
        except AccsimError:
            continue
        paths += [p for p in config.field_paths(family.spec) if p not in paths]
    return paths


def load_spec(path: str | Path, max_points: int = DEFAULT_MAX_POINTS) -> SweepSpec:
    from accsim.core.config import read_yaml
    path = Path(path)
    return parse_spec(read_yaml(path), str(path), max_points)


def parse_spec(raw: Any, source: str = "<spec>", max_points: int = DEFAULT_MAX_POINTS) -> SweepSpec:
    """Validate a sweep spec completely (names, values, constraints, size) before anything runs."""
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
    overrides = base_raw.get("set") or {}
    if not isinstance(overrides, dict):
        problems.add("base.set", f"expected a mapping of preset field -> value, got {overrides!r}")
        overrides = {}
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
    seed = integral(raw.get("seed", 0))
    samples = integral(raw.get("samples", 0))
    if not _is_int(seed):
        problems.add("seed", f"expected an integer, got {seed!r}")
        seed = 0
    if mode == "random" and (not _is_int(samples) or samples < 1):
        problems.add("samples", f"mode random needs samples: N >= 1, got {samples!r}")
    elif mode == "random":
        _too_many(samples, max_points, "samples", problems)
    rng = np.random.default_rng(seed)
    axes_raw = raw.get("axes") or {}
    if not isinstance(axes_raw, dict) or not axes_raw:
        problems.add("axes", "expected a mapping of at least one axis name -> values")
        axes_raw = {}
    axes = {str(name): expand_values(form, rng, f"axes.{name}", problems, max_points)
            for name, form in axes_raw.items()}
    grid = math.prod(len(v) for v in axes.values())
    if mode == "grid" and not problems.problems and grid > max_points:
        problems.add("axes", f"the grid has {grid:,} points, more than {max_points:,} (--max-points); "
                     "use mode: random with samples, fewer values, or raise --max-points")
    archs = axes.get("arch", (base["arch"],))
    preset_fields = _preset_field_paths(archs)
    for name, values in axes.items():
        if name.startswith(SERVE_PREFIX):
            continue                       # checked with the serve section
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
            from accsim.core.presets import resolve_preset
            resolve_preset(base["arch"], overrides)
        except AccsimError as exc:
            for line in str(exc).splitlines():
                problems.add("base.set", line)
    serve = _parse_serve(raw, axes, problems)
    constraints = raw.get("constraints") or []
    if not isinstance(constraints, list) or not all(isinstance(c, str) for c in constraints):
        problems.add("constraints", "expected a list of expressions such as 'batch * prompt <= 16384'")
        constraints = []
    problems.raise_if_any()
    spec = SweepSpec(base, dict(overrides), axes, tuple(constraints), mode, int(samples or 0), int(seed),
                     source, raw, serve)
    names = set(axes) | set(spec.fixed_values())
    for i, text in enumerate(constraints):
        Constraint(text, names, f"constraints[{i}]")
    return spec


def _parse_serve(raw: Mapping[str, Any], axes: Mapping[str, tuple], problems: ProblemList) -> dict | None:
    """The serve section's options and the serve.* axes' values, each checked; None when the
    spec has neither (its points are runs)."""
    serve_axes = [name for name in axes if name.startswith(SERVE_PREFIX)]
    if "serve" not in raw and not serve_axes:
        return None
    from accsim.serving.options import FIELD_NAMES, ServeOptions
    from accsim.simulation.scenario import field_problem
    section = raw.get("serve") or {}
    if not isinstance(section, dict):
        problems.add("serve", f"expected a mapping of serve options ({', '.join(FIELD_NAMES)})")
        return {}
    for key, value in section.items():
        if key not in FIELD_NAMES:
            problems.add(f"serve.{key}", f"unknown serve option{did_you_mean(str(key), FIELD_NAMES)}")
        elif (problem := field_problem(key, value, ServeOptions)):
            problems.add("serve", problem)
    for name in serve_axes:
        key = name[len(SERVE_PREFIX):]
        if key not in FIELD_NAMES:
            problems.add(f"axes.{name}", f"unknown serve option{did_you_mean(key, FIELD_NAMES)}")
            continue
        for i, value in enumerate(axes[name]):
            if (problem := field_problem(key, value, ServeOptions)):
                problems.add(f"axes.{name}[{i}]", problem)
    return dict(section)


# ---- points --------------------------------------------------------------------------------
def expand_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """Axis assignments of every point (grid product or seeded random draws), after constraints;
    a constraint that cannot be evaluated at a point is a ConstraintError naming the point."""
    names = list(spec.axes)
    if spec.mode == "grid":
        combos: Iterable[tuple] = itertools.product(*(spec.axes[n] for n in names))
    else:
        rng = np.random.default_rng(spec.seed + 1)
        combos = [tuple(spec.axes[n][rng.integers(len(spec.axes[n]))] for n in names)
                  for _ in range(spec.samples)]
    fixed = spec.fixed_values()
    known = set(spec.axes) | set(fixed)
    checks = [Constraint(c, known, f"constraints[{i}]") for i, c in enumerate(spec.constraints)]
    points, seen = [], set()
    for combo in combos:
        point = dict(zip(names, combo))
        env = {**fixed, **point}
        key = json.dumps(point, sort_keys=True)
        if key not in seen and all(c.holds(env, point) for c in checks):
            seen.add(key)
            points.append(point)
    return points


def point_scenario(spec: SweepSpec, point: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of accsim.simulation.runner.Scenario for one point, and under ``serve`` its
    serving options when the spec serves."""
    scenario = {k: v for k, v in spec.base.items()}
    overrides = dict(spec.overrides)
    serve = dict(spec.serve) if spec.serve is not None else None
    for name, value in point.items():
        if name.startswith(SERVE_PREFIX) and serve is not None:
            serve[name[len(SERVE_PREFIX):]] = value
        elif name in SCENARIO_FIELDS:
            scenario[name] = value
        else:
            overrides[name] = value
    scenario["overrides"] = overrides
    if serve is not None:
        scenario["serve"] = serve
    return scenario


def _digest(data: Any) -> str:
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=repr).encode()).hexdigest()


def _strings(data: Any) -> Iterable[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)


@lru_cache(maxsize=None)
def preset_content_digest(arch: str) -> str:
    """Digest of what preset ``arch`` says: its merged data (extends chain) and that of every
    preset it names (a DRAM tier, a server's GPU), so that editing any of them changes it."""
    from accsim.core.presets import load_merged, preset_names

    names, contents = set(preset_names(include_bases=True)), {}

    def visit(name: str) -> None:
        if name not in contents:
            contents[name] = load_merged(name)
            for text in _strings(contents[name]):
                if text in names and text != name:
                    visit(text)
    try:
        visit(arch)
    except AccsimError as exc:          # the point will fail with this error; its id still says why
        return _digest(f"unreadable: {exc}")
    return _digest(contents)


@lru_cache(maxsize=None)
def model_content_digest(name: str) -> str:
    """Digest of the model config ``name`` resolves to (shipped name, config.json or folder)."""
    from accsim.workloads import load_model
    try:
        return _digest(dataclasses.asdict(load_model(name)))
    except AccsimError as exc:
        return _digest(f"unreadable: {exc}")


def scenario_identity(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """Everything a point's result depends on: the scenario and the content it names."""
    from accsim.simulation.scenario import parse_coe

    models = [scenario["model"], scenario.get("draft_model") or ""]
    if scenario.get("coe"):
        try:
            models.append(parse_coe(scenario["coe"])[1])
        except AccsimError:
            pass                        # the point fails on its coe; the scenario says which
    identity = {"scenario": dict(scenario), "preset": preset_content_digest(str(scenario["arch"])),
                "models": {m: model_content_digest(m) for m in models if m}}
    serve = scenario.get("serve") or {}
    if serve.get("prefill_arch"):
        identity["prefill_preset"] = preset_content_digest(str(serve["prefill_arch"]))
    if serve.get("request_trace"):
        identity["request_trace"] = _file_digest(str(serve["request_trace"]))
    return identity


def _file_digest(path: str) -> str:
    """A file's content digest ('' when unreadable: the point then fails, naming the file)."""
    try:
        return hashlib.sha1(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def point_id(scenario: Mapping[str, Any]) -> str:
    return _digest(scenario_identity(scenario))[:16]


def run_point(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """Worker: simulate one point; failures are results (status + message), not crashes."""
    from accsim.simulation.api import Scenario, run_scenario

    t0 = time.perf_counter()
    try:
        if "serve" in scenario:
            flat = _serve_point(scenario)
            return {"status": "ok", "stats": flat, "error": None, "elapsed_s": time.perf_counter() - t0}
        stats = run_scenario(Scenario(**scenario)).stats
        flat = {k: v for k, v in stats.flat().items() if not k.startswith("scenario.")}
        return {"status": "ok", "stats": flat, "error": None, "elapsed_s": time.perf_counter() - t0}
    except AccsimError as exc:
        return {"status": "failed", "stats": {}, "error": str(exc), "elapsed_s": time.perf_counter() - t0}
    except Exception:  # a bug in one point must not stop a long sweep; keep the traceback
        return {"status": "error", "stats": {}, "error": traceback.format_exc(),
                "elapsed_s": time.perf_counter() - t0}


def _serve_point(scenario: Mapping[str, Any]) -> dict[str, Any]:
    from accsim.serving.options import serve_options
    from accsim.serving.run import flat_figures, run_serve
    from accsim.simulation.runner import Scenario
    machine = {k: v for k, v in scenario.items() if k != "serve"}
    return flat_figures(run_serve(Scenario(**machine), serve_options(scenario["serve"], "serve")))


# ---- execution -----------------------------------------------------------------------------
class Stopped(KeyboardInterrupt):
    """SIGTERM (or SIGINT) during a sweep: stop the workers, keep what is stored."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum: int, frame: Any) -> None:
    raise Stopped(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise Stopped in the main thread while a sweep runs."""
    saved = {s: signal.signal(s, _raise_stopped) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def _worker_init(parent_pid: int) -> None:
    """Workers leave SIGINT to the parent (a terminal's Ctrl-C reaches the whole group), which
    stops them itself; no half-finished traceback from every worker. A worker whose parent dies
    (SIGKILL leaves no chance to stop it) exits too: the kernel signals it (Linux), or a watcher
    thread notices the new parent within a second."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent_pid)


def _die_with_parent(parent_pid: int) -> None:
    import ctypes
    import threading
    try:
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass                                  # not Linux: the watcher alone
    if os.getppid() != parent_pid:            # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)
    threading.Thread(target=watch, name="accsim-parent-watch", daemon=True).start()


IN_FLIGHT_PER_WORKER = 2        # points submitted ahead per worker (keeps every worker busy)
STORED_ELSEWHERE = "stored elsewhere"   # a point another sweep sharing the database finished


@dataclass
class SweepSummary:
    total: int
    skipped: int
    ok: int = 0
    failed: int = 0
    spec_id: str = ""
    stored_failed: int = 0          # failed points already stored and not retried
    db: str = ""                    # the database the results went to


def make_executor(jobs: int, scheduler: str | None) -> tuple[Any, Callable[[bool], None], int]:
    """A concurrent.futures executor (local processes, or a Dask cluster), its closer
    (``close(stop)``: wait for the workers, or stop them at once) and how many points it runs
    at once (``jobs``, or the cluster's worker threads)."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError(["--scheduler: needs the 'distributed' package (pip install distributed)"]) from None
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError([f"--scheduler: cannot reach {scheduler}: {exc}"]) from None
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        return client.get_executor(), lambda stop: client.close(), max(threads, 1)
    from concurrent.futures import ProcessPoolExecutor
    executor = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init, initargs=(os.getpid(),))

    def close(stop: bool) -> None:
        if not stop:
            executor.shutdown(wait=True)
            return
        workers = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(timeout=10)
    return executor, close, jobs


def plan_sweep(spec: SweepSpec) -> tuple[list[tuple[dict, dict, str]], str]:
    """Every point as (axis values, scenario, point id), and the spec's id (its text and the
    ids of its points: an edited preset or model gives a new spec id too)."""
    # content is read afresh per plan: a notebook that edits a preset between two sweeps must
    # not get the first sweep's digests (and results) back
    preset_content_digest.cache_clear()
    model_content_digest.cache_clear()
    planned = []
    for point in expand_points(spec):
        scenario = point_scenario(spec, point)
        planned.append((point, scenario, point_id(scenario)))
    spec_id = _digest({"spec": spec.raw, "points": [pid for _, _, pid in planned]})[:12]
    return planned, spec_id


def run_sweep(spec: SweepSpec, db_path: str | Path, jobs: int = 1, scheduler: str | None = None,
              on_result: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
              retry_failed: bool = False, on_plan: Callable[[int], None] | None = None) -> SweepSummary:
    """Run every point not yet stored in ``db_path`` (and, with ``retry_failed``, every point
    stored as failed); store each result as soon as it arrives. ``on_plan(n)`` learns how many
    points are to run; ``on_result(point, result)`` follows each (a point another sweep sharing
    the database stored meanwhile is not run again: its result has status STORED_ELSEWHERE)."""
    from accsim.study.results import ResultStore

    planned, spec_id = plan_sweep(spec)
    store = ResultStore(db_path)
    try:
        store.record_spec(spec_id, spec.source, spec.raw, list(spec.axes),
                          [(pid, i) for i, (_, _, pid) in enumerate(planned)])
        stored = store.stored_status()
        redo = {pid for pid, status in stored.items() if status != "ok"} if retry_failed else set()
        todo = [(i, p, s, pid) for i, (p, s, pid) in enumerate(planned) if pid not in stored or pid in redo]
        summary = SweepSummary(total=len(planned), skipped=len(planned) - len(todo), spec_id=spec_id,
                               stored_failed=sum(1 for _, _, pid in planned
                                                 if stored.get(pid, "ok") != "ok" and pid not in redo))
        if on_plan:
            on_plan(len(todo))

        def record(index: int, point: dict[str, Any], pid: str, result: dict[str, Any]) -> None:
            store.record(pid, index, point, result)
            if result["status"] == "ok":
                summary.ok += 1
            else:
                summary.failed += 1
            if on_result:
                on_result(point, result)

        def still_to_run() -> Iterator[tuple[int, dict, dict, str]]:
            """The points to run, each checked just before it starts: one that another sweep
            stored since this one began is skipped."""
            for index, point, scenario, pid in todo:
                if store.status(pid) != stored.get(pid):
                    summary.skipped += 1
                    if on_result:
                        on_result(point, {"status": STORED_ELSEWHERE})
                    continue
                yield index, point, scenario, pid

        if jobs == 1 and not scheduler:
            for index, point, scenario, pid in still_to_run():
                record(index, point, pid, run_point(scenario))
            return summary
        _run_parallel(still_to_run(), record, jobs, scheduler)
        return summary
    finally:
        store.close()


def _run_parallel(points: Iterator[tuple[int, dict, dict, str]], record: Callable, jobs: int,
                  scheduler: str | None) -> None:
    """Run points on an executor, a few per worker in flight at a time (a new one is submitted
    as one finishes), so that a long sweep holds no backlog and a stop loses little."""
    from concurrent.futures import FIRST_COMPLETED, wait
    executor, close, slots = make_executor(jobs, scheduler)
    in_flight: dict[Any, tuple[int, dict, str]] = {}

    def submit_next() -> None:
        for index, point, scenario, pid in points:
            in_flight[executor.submit(run_point, scenario)] = (index, point, pid)
            return

    stop = True
    try:
        for _ in range(IN_FLIGHT_PER_WORKER * slots):
            submit_next()
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                index, point, pid = in_flight.pop(future)
                record(index, point, pid, future.result())
                submit_next()
        stop = False
    finally:
        close(stop)


def sweep(spec: str | Path | Mapping[str, Any], db: str | Path | None = None, jobs: int = 1,
          scheduler: str | None = None, retry_failed: bool = False,
          max_points: int = DEFAULT_MAX_POINTS) -> SweepSummary:
    """Run a sweep from Python, as ``accsim sweep`` does: ``spec`` is a spec file or the same
    mapping; results go to ``db`` (default: SPEC.db beside a spec file). Read them back with
    ``accsim.study.results.load(db)`` (a pandas DataFrame)."""
    if isinstance(spec, Mapping):
        if db is None:
            raise ConfigError(["db: a spec given as a mapping needs db='results.db' (where to store)"])
        parsed = parse_spec(dict(spec), "<mapping>", max_points)
    else:
        parsed = load_spec(spec, max_points)
        db = db if db is not None else Path(spec).with_suffix(".db")
    summary = run_sweep(parsed, db, jobs=jobs, scheduler=scheduler, retry_failed=retry_failed)
    summary.db = str(db)
    return summary
