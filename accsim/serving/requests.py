"""The requests a serving simulation answers: arrival time, prompt tokens, output tokens.

They come from a trace file or from a seeded generator.

Trace files (CSV with a header row, or JSON Lines with one object per line) in one of three
column layouts, recognised by their column names:

- accsim: ``arrival_s`` (seconds from the start), ``prompt_tokens``, ``output_tokens``, and
  optionally ``prefix_id`` / ``prefix_tokens`` (the shared prefix a prompt starts with: equal ids
  share those first tokens; -1 or empty: none);
- the Azure LLM inference traces (AzurePublicDataset, 2023 and 2024): ``TIMESTAMP`` (a date
  and time such as ``2023-11-16 18:15:46.6805900``), ``ContextTokens``, ``GeneratedTokens``;
- BurstGPT: ``Timestamp`` (seconds), ``Request tokens``, ``Response tokens``; its failed
  requests (``Response tokens`` 0) are left out and counted (``skipped_failed``).

Arrivals are taken relative to the earliest one. Generators draw inter-arrival times
(``poisson``: exponential; ``gamma``: a coefficient of variation ``cv`` > 1 makes bursts;
``fixed``: a constant rate) and lengths from a distribution spec: ``fixed:N``,
``uniform:LO,HI``, ``lognormal:MEDIAN,SIGMA`` (clipped to [1, 32768]) or an empirical
histogram ``hist:TOKENS=WEIGHT,...``.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from accsim.core.errors import ConfigError
from accsim.serving.options import ARRIVALS

MAX_LENGTH_TOKENS = 32768        # lognormal draws are clipped here (a longer tail is a typo)
MAX_TOKENS = 1 << 20             # no request is longer than this (beyond any model's context)
LAYOUTS = {   # name -> (arrival column, prompt column, output column)
    "accsim": ("arrival_s", "prompt_tokens", "output_tokens"),
    "azure": ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
    "burstgpt": ("Timestamp", "Request tokens", "Response tokens"),
}


@dataclass(frozen=True)
class Requests:
    """Requests sorted by arrival (ties keep their order): arrival_s, prompt and output tokens;
    optionally a shared prompt prefix each starts with (``prefix_id``, -1: none, and its
    ``prefix_tokens``: requests with one id share those first tokens)."""

    arrival_s: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    source: str = ""
    skipped_failed: int = 0
    notes: tuple = field(default=())
    prefix_id: np.ndarray | None = None
    prefix_tokens: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = np.asarray(self.arrival_s).size
        if self.prefix_id is None:
            object.__setattr__(self, "prefix_id", np.full(n, -1, np.int64))
        if self.prefix_tokens is None:
            object.__setattr__(self, "prefix_tokens", np.zeros(n, np.int64))
        order = np.argsort(self.arrival_s, kind="stable")
        for name in ("arrival_s", "prompt", "output", "prefix_id", "prefix_tokens"):
            values = np.asarray(getattr(self, name))[order]
            values.setflags(write=False)
            object.__setattr__(self, name, values)
        check_prefixes(self.prefix_id, self.prefix_tokens, self.prompt, self.source or "requests")

    def __len__(self) -> int:
        return int(self.arrival_s.size)

    def describe(self) -> dict:
        n = len(self)
        span = float(self.arrival_s[-1] - self.arrival_s[0]) if n > 1 else 0.0
        return {"source": self.source, "requests": n, "skipped_failed": self.skipped_failed,
                "span_s": span, "rate_per_s": (n - 1) / span if span > 0 else 0.0,
                "prompt_tokens_mean": float(self.prompt.mean()), "output_tokens_mean": float(self.output.mean()),
                "prompt_tokens_total": int(self.prompt.sum()), "output_tokens_total": int(self.output.sum())}


def check_prefixes(prefix_id: np.ndarray, prefix_tokens: np.ndarray, prompt: np.ndarray, where: str) -> None:
    """A prefix is part of its prompt, and one id names one length."""
    problems = []
    bad = np.flatnonzero((prefix_id >= 0) & ((prefix_tokens < 1) | (prefix_tokens > prompt)))
    if bad.size:
        i = int(bad[0])
        problems.append(f"{where}: request {i}'s prefix of {int(prefix_tokens[i])} tokens must be 1 to its "
                        f"prompt's {int(prompt[i])} tokens")
    ids = prefix_id >= 0
    if ids.any():
        # one length per id: sorted by id, a length that differs from the id's first one
        order = np.lexsort((np.arange(int(ids.sum())), prefix_id[ids]))
        pid, tokens = prefix_id[ids][order], prefix_tokens[ids][order]
        starts = np.r_[True, pid[1:] != pid[:-1]]
        first = np.maximum.accumulate(np.where(starts, np.arange(pid.size), 0))
        bad = np.flatnonzero(tokens != tokens[first])
        if bad.size:
            k = int(bad[0])
            problems.append(f"{where}: prefix {int(pid[k])} has {int(tokens[first[k]])} tokens in one request and "
                            f"{int(tokens[k])} in another; one id names one shared prefix")
    if problems:
        raise ConfigError(problems)


def check_lengths(prompt: np.ndarray, output: np.ndarray, where: str) -> None:
    bad = [f"{where}: {name} tokens must be integers >= 1 (request {int(np.argmax(v < 1))} has {int(v.min())})"
           for name, v in (("prompt", prompt), ("output", output)) if v.size and v.min() < 1]
    if bad:
        raise ConfigError(bad)


# ---- generators -------------------------------------------------------------------------------

def parse_length_dist(spec: str, option: str) -> tuple[str, tuple]:
    """``fixed:N`` | ``uniform:LO,HI`` | ``lognormal:MEDIAN,SIGMA`` | ``hist:T=W,...`` -> (kind, args)."""
    kind, _, args = spec.partition(":")
    usage = (f"{option}: expected fixed:N, uniform:LO,HI, lognormal:MEDIAN,SIGMA or hist:TOKENS=WEIGHT,..., "
             f"got {spec!r}")
    try:
        if kind == "fixed":
            n = int(args)
            if 1 <= n <= MAX_TOKENS:
                return kind, (n,)
        elif kind == "uniform":
            lo, hi = (int(a) for a in args.split(","))
            if 1 <= lo <= hi <= MAX_TOKENS:
                return kind, (lo, hi)
        elif kind == "lognormal":
            median, sigma = (float(a) for a in args.split(","))
            if MAX_LENGTH_TOKENS < median <= MAX_TOKENS:
                raise ConfigError([f"{option}: lognormal draws are clipped to {MAX_LENGTH_TOKENS:,} tokens, so a "
                                   f"median of {median:g} would clip most of them; use a median up to "
                                   f"{MAX_LENGTH_TOKENS:,} or fixed:/uniform:/hist: lengths"])
            if 1 <= median <= MAX_TOKENS and 0 <= sigma <= 10:
                return kind, (median, sigma)
        elif kind == "hist":
            pairs = [p.split("=") for p in args.split(",")]
            tokens = [int(t) for t, _ in pairs]
            weights = [float(w) for _, w in pairs]
            if 1 <= min(tokens) and max(tokens) <= MAX_TOKENS and min(weights) >= 0 \
                    and 0 < sum(weights) < math.inf:
                return kind, (tuple(tokens), tuple(weights))
    except ValueError:
        pass
    raise ConfigError([f"{usage} (tokens 1 to {MAX_TOKENS:,}, sigma 0 to 10, weights >= 0 with a finite sum)"])


def draw_lengths(rng: np.random.Generator, dist: tuple[str, tuple], n: int) -> np.ndarray:
    kind, args = dist
    if kind == "fixed":
        return np.full(n, args[0], dtype=np.int64)
    if kind == "uniform":
        return rng.integers(args[0], args[1] + 1, size=n, dtype=np.int64)
    if kind == "lognormal":
        draws = rng.lognormal(math.log(args[0]), args[1], size=n)
        return np.clip(np.rint(draws), 1, MAX_LENGTH_TOKENS).astype(np.int64)
    tokens, weights = np.asarray(args[0], dtype=np.int64), np.asarray(args[1], dtype=float)
    return tokens[rng.choice(tokens.size, size=n, p=weights / weights.sum())]


def generate(n: int, rate_per_s: float, arrivals: str, prompt: str, output: str, seed: int,
             cv: float = 1.0, prefix_groups: int = 0, prefix_tokens: int = 0) -> Requests:
    """``n`` requests at ``rate_per_s`` on average (the first at t=0); seeded, so equal
    arguments give equal requests. With ``prefix_groups``, each prompt starts with one of that
    many shared prefixes of ``prefix_tokens`` tokens (drawn uniformly, from a stream of its own:
    the arrivals and lengths stay those drawn without prefixes), then its own drawn tokens."""
    problems = []
    if n < 1:
        problems.append(f"--requests: expected at least 1, got {n}")
    if not (rate_per_s > 0 and math.isfinite(rate_per_s)):
        problems.append(f"--rate: expected requests per second > 0, got {rate_per_s}")
    if arrivals not in ARRIVALS:
        problems.append(f"--arrivals: expected one of {', '.join(ARRIVALS)}, got {arrivals!r}")
    if arrivals == "gamma" and not (cv > 0 and math.isfinite(cv)):
        problems.append(f"--cv: the gamma arrivals' coefficient of variation must be > 0, got {cv}")
    if (prefix_groups > 0) != (prefix_tokens > 0) or prefix_groups < 0 or not 0 <= prefix_tokens <= MAX_TOKENS:
        problems.append(f"--prefix-groups/--prefix-tokens: give both (groups >= 1, tokens 1 to {MAX_TOKENS:,}) "
                        f"or neither; got {prefix_groups} and {prefix_tokens}")
    if problems:
        raise ConfigError(problems)
    prompt_dist = parse_length_dist(prompt, "--prompt-tokens")
    output_dist = parse_length_dist(output, "--output-tokens")
    rng = np.random.default_rng(seed)
    mean_gap_s = 1.0 / rate_per_s
    if arrivals == "poisson":
        gaps = rng.exponential(mean_gap_s, size=n - 1)
    elif arrivals == "gamma":
        shape = 1.0 / cv ** 2          # a gamma of shape k has CV 1/sqrt(k)
        gaps = rng.gamma(shape, mean_gap_s / shape, size=n - 1)
    else:
        gaps = np.full(n - 1, mean_gap_s)
    arrival = np.concatenate([[0.0], np.cumsum(gaps)])
    source = (f"{arrivals} arrivals at {rate_per_s:g}/s" + (f" (cv {cv:g})" if arrivals == "gamma" else "")
              + f", prompt {prompt}, output {output}, seed {seed}")
    prompts, outputs = draw_lengths(rng, prompt_dist, n), draw_lengths(rng, output_dist, n)
    if not prefix_groups:
        return Requests(arrival, prompts, outputs, source)
    ids = np.random.default_rng([seed, 1]).integers(0, prefix_groups, size=n, dtype=np.int64)
    return Requests(arrival, prompts + prefix_tokens, outputs,
                    source + f", {prefix_groups} shared prefixes of {prefix_tokens} tokens",
                    prefix_id=ids, prefix_tokens=np.full(n, prefix_tokens, np.int64))


def at_once(n: int, prompt: int, output: int) -> Requests:
    """``n`` equal requests, all at t=0 (the offline batch ``accsim run`` simulates)."""
    return Requests(np.zeros(n), np.full(n, prompt, dtype=np.int64), np.full(n, output, dtype=np.int64),
                    f"{n} requests at t=0, prompt {prompt}, output {output}")


# ---- trace files -----------------------------------------------------------------------------

def _json_object(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"duplicate key {duplicates[0]!r}")
    return dict(pairs)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a trace may hold")


def _rows(text: str, path: str) -> tuple[list[str], list[dict]]:
    """(column names, rows) of a CSV or JSON Lines text: JSON objects without duplicate keys,
    NaN or Infinity; CSV fields of the csv module's size limit."""
    first = text.lstrip()[:1]
    if first == "{":
        rows = []
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line, object_pairs_hook=_json_object, parse_constant=_no_constant)
            except json.JSONDecodeError as exc:
                raise ConfigError([f"{path}:{i}: not a JSON object ({exc.msg})"]) from None
            except (ValueError, RecursionError) as exc:
                reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                raise ConfigError([f"{path}:{i}: not a trace row ({reason})"]) from None
            if not isinstance(row, dict):
                raise ConfigError([f"{path}:{i}: expected a JSON object per line"])
            rows.append(row)
        columns = list(rows[0]) if rows else []
        return columns, rows
    reader = csv.DictReader(io.StringIO(text))
    try:
        return list(reader.fieldnames or []), list(reader)
    except csv.Error as exc:
        raise ConfigError([f"{path}: line {reader.line_num}: not a CSV row the reader takes ({exc}); a "
                           f"field over {csv.field_size_limit():,} characters is not a trace value"]) from None


def _layout(columns: list[str], path: str) -> str:
    for name, needed in LAYOUTS.items():
        if set(needed) <= set(columns):
            return name
    known = "; ".join(f"{name}: {', '.join(cols)}" for name, cols in LAYOUTS.items())
    raise ConfigError([f"{path}: columns {', '.join(columns) or '(none)'} match no known layout "
                       f"({known})"])


def _seconds(value: object, layout: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if layout == "azure":
        text = str(value).strip()
        # Azure writes 7 fractional digits; Python parses up to 6
        head, dot, frac = text.partition(".")
        moment = datetime.fromisoformat(head + (dot + frac[:6] if dot else ""))
        # the Azure traces' timestamps are UTC: never the reading machine's zone
        return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
    return float(value)


def read_trace(path: str | Path) -> Requests:
    """Requests from a CSV or JSON Lines trace (see the module doc for the layouts)."""
    if Path(path).exists() and not Path(path).is_file():     # a FIFO or /dev/zero would be read forever
        raise ConfigError([f"--request-trace: {path} is not a regular file; a trace is a CSV or JSON Lines file"])
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"--trace: cannot read {path} ({exc.__class__.__name__}: {exc})"]) from None
    columns, rows = _rows(text, str(path))
    layout = _layout(columns, str(path))
    arrival_col, prompt_col, output_col = LAYOUTS[layout]
    arrival, prompt, output, prefix_ids, prefix_lengths = [], [], [], [], []
    prefixed = layout == "accsim" and ("prefix_id" in columns or "prefix_tokens" in columns)
    if prefixed and not {"prefix_id", "prefix_tokens"} <= set(columns):
        raise ConfigError([f"{path}: a trace with shared prefixes needs both prefix_id and prefix_tokens "
                           "columns (prefix_id -1 or empty: none)"])
    skipped = 0
    for i, row in enumerate(rows, start=2 if text.lstrip()[:1] != "{" else 1):
        try:
            t, p, o = _seconds(row[arrival_col], layout), _count(row[prompt_col]), _count(row[output_col])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ConfigError([f"{path}: row {i}: expected {arrival_col} as a time and {prompt_col}, "
                               f"{output_col} as integers ({exc.__class__.__name__}: {exc})"]) from None
        if layout == "burstgpt" and o == 0:
            skipped += 1         # BurstGPT's failed requests
            continue
        if not math.isfinite(t) or not (1 <= p <= MAX_TOKENS and 1 <= o <= MAX_TOKENS):
            raise ConfigError([f"{path}: row {i}: arrival must be finite and tokens 1 to {MAX_TOKENS:,} "
                               f"(got {row[arrival_col]!r}, {p}, {o})"])
        arrival.append(t)
        prompt.append(p)
        output.append(o)
        if prefixed:
            prefix_ids.append(_prefix_field(row, "prefix_id", path, i, default=-1))
            prefix_lengths.append(_prefix_field(row, "prefix_tokens", path, i, default=0))
    if not arrival:
        raise ConfigError([f"{path}: no requests (a header and at least one row are needed)"])
    times = np.asarray(arrival, dtype=float)
    ids = np.asarray(prefix_ids, dtype=np.int64) if prefixed else None
    lengths = np.where(ids >= 0, np.asarray(prefix_lengths, dtype=np.int64), 0) if prefixed else None
    return Requests(times - times.min(), np.asarray(prompt, dtype=np.int64), np.asarray(output, dtype=np.int64),
                    f"{Path(path).name} ({layout} layout)", skipped, prefix_id=ids, prefix_tokens=lengths)


def _count(value: object) -> int:
    """A token count as written: an integer (a JSON integer, or a CSV field of digits); never a
    boolean or a fraction silently truncated."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"{value!r} is not a whole number of tokens")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.lstrip("+-").isdigit() or len(text) > 20:
        raise ValueError(f"{value!r} is not a whole number of tokens")
    return int(text)


def _prefix_field(row: dict, name: str, path: str | Path, line: int, default: int) -> int:
    value = row.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit())):
        raise ConfigError([f"{path}: row {line}: {name} must be an integer, got {value!r}"])
    number = int(value)
    if name == "prefix_id" and number < -1:
        raise ConfigError([f"{path}: row {line}: prefix_id must be >= 0 (or -1: none), got {number}"])
    return number
