"""The serving engine: requests arrive, a scheduling policy forms each iteration's batch,
the family's step simulator says how long the iteration takes.

One iteration is one step of the serving loop (a pass, or a decode pass and prompt chunks
back to back), so Python runs per iteration, never per cycle. Policies (``POLICIES``):

- ``static``: a batch is formed when the machine is idle (up to ``max_batch`` waiting requests,
  first come first served, KV reserved for prompt + output); its prompts are prefilled padded to
  the longest, and it decodes until its last sequence ends, finished ones riding along as
  padding (FasterTransformer-style).
- ``continuous``: vLLM-style iteration-level scheduling. Waiting requests are admitted first
  come first served while the batch has room (``max_batch``), their prompts fit the token
  budget (``max_batched_tokens``) and the paged KV cache has their blocks; an iteration with
  admissions prefills them (prefill first), otherwise every running sequence decodes one step.
- ``chunked``: Sarathi-style. Every iteration decodes every running sequence and fills the
  rest of the token budget with prompt chunks (running prompts first, then admissions), all
  in one fused pass.

Paged KV: ``block_tokens`` per block, the machine's capacity in blocks. A decode that needs a
block when none is free preempts the most recently admitted sequence (vLLM's order): by
``recompute`` (its blocks are freed; it waits again and re-prefills prompt + generated
tokens) or by ``swap`` (its blocks are copied to host memory at ``swap_GBps`` and back before
it resumes; the copies take iteration time). ``decode_only`` requests arrive with their
prompt's KV in place (a disaggregated decode instance): no prefill, their first token came
from the prefill instance.

Prefix caching (``prefix_cache``, continuous and chunked policies): requests whose prompts
start with a shared prefix (``Requests.prefix_id``) reuse its KV blocks. Only whole blocks are
cached. ``device``: when a request's prefill ends, the whole blocks of its prefix pass to the
cache (kept after it ends, least recently used first out, evicted only when nothing running
uses them and before any sequence is preempted); a later request with that prefix is admitted
with those blocks in place, shares them (they are counted once) and prefills only the rest.
``pool``: the cache lives in a pooled memory tier of ``pool_tokens`` (LRU); a hit copies the
prefix into the request's own device blocks over ``pool_GBps`` (iteration time, like a swap)
and skips its prefill; storing into the pool is asynchronous (not on the critical path).
"""
from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from accsim.core.errors import ConfigError
from accsim.serving.options import POLICIES, PREEMPTION, PREFIX_CACHES
from accsim.serving.requests import Requests
from accsim.serving.steps import StepModel, max_context_tokens



@dataclass(frozen=True)
class Policy:
    name: str = "continuous"
    max_batch: int = 256             # sequences running at once
    max_batched_tokens: int = 8192   # prompt tokens per prefill iteration (chunked: all tokens)
    block_tokens: int = 16           # tokens per KV-cache block
    preempt: str = "recompute"
    swap_GBps: float = 0.0           # host link for swapped KV blocks (preempt swap)
    decode_only: bool = False
    prefix_cache: str = "none"       # none | device | pool
    pool_GBps: float = 0.0           # prefix_cache pool: link from the pool to one device
    pool_tokens: int = 0             # prefix_cache pool: capacity

    def check(self) -> None:
        problems = []
        if self.name not in POLICIES:
            problems.append(f"--policy: expected one of {', '.join(POLICIES)}, got {self.name!r}")
        for name in ("max_batch", "max_batched_tokens", "block_tokens"):
            if getattr(self, name) < 1:
                problems.append(f"--{name.replace('_', '-')}: expected an integer >= 1, got {getattr(self, name)}")
        if self.preempt not in PREEMPTION:
            problems.append(f"--preempt: expected one of {', '.join(PREEMPTION)}, got {self.preempt!r}")
        if self.preempt == "swap" and not (self.swap_GBps > 0 and math.isfinite(self.swap_GBps)):
            problems.append("--swap-GBps: preempting by swap copies KV blocks to host memory; give the "
                            "host link's bandwidth (e.g. --swap-GBps 50 for PCIe 5.0 x16)")
        if self.name == "chunked" and self.max_batched_tokens < 2:
            problems.append("--max-batched-tokens: chunked prefill needs a token budget >= 2")
        if self.prefix_cache not in PREFIX_CACHES:
            problems.append(f"--prefix-cache: expected one of {', '.join(PREFIX_CACHES)}, got {self.prefix_cache!r}")
        elif self.prefix_cache != "none" and (self.name == "static" or self.decode_only):
            problems.append("--prefix-cache: needs policy continuous or chunked (not static, not decode-only)")
        if self.prefix_cache == "pool" and not (self.pool_GBps > 0 and math.isfinite(self.pool_GBps)
                                               and self.pool_tokens > 0):
            problems.append("--prefix-pool-GBps/--prefix-pool-tokens: a pooled prefix cache needs its link "
                            "bandwidth and capacity (both > 0)")
        if problems:
            raise ConfigError(problems)


@dataclass
class Series:
    """Per iteration: start and end time, kind, the sequences in its batch, the requests left
    waiting, the prompt tokens it processed, and at its start the requests in the system
    (waiting, running or swapped out) and the KV blocks in use."""

    start_s: list = field(default_factory=list)
    end_s: list = field(default_factory=list)
    kind: list = field(default_factory=list)          # 'prefill', 'decode', 'mixed'
    batch: list = field(default_factory=list)
    waiting: list = field(default_factory=list)
    prompt_tokens: list = field(default_factory=list)
    in_system: list = field(default_factory=list)
    kv_blocks: list = field(default_factory=list)

    def arrays(self) -> dict:
        return {k: np.asarray(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Outcome:
    """What a serving simulation produced: per-request times and the per-iteration series."""

    requests: Requests
    policy: Policy
    first_token_s: np.ndarray      # absolute time of each request's first token (nan: decode_only)
    finish_s: np.ndarray
    start_s: np.ndarray            # start of the first iteration that worked on the request
    preemptions: np.ndarray
    tokens_out: np.ndarray         # tokens each request received (its output)
    prompt_tokens_processed: int   # prefill work, re-prefills after recompute included
    capacity_blocks: int
    swap_s: float                  # iteration time spent copying swapped KV blocks
    series: dict
    prefix: dict = field(default_factory=dict)   # prefix-cache counts (empty: no cache)


class _Engine:
    def __init__(self, requests: Requests, steps: StepModel, policy: Policy, capacity_blocks: int,
                 kv_bytes_per_token: float) -> None:
        self.r, self.steps, self.p = requests, steps, policy
        n = len(requests)
        self.tps = steps.machine.tokens_per_step
        self.new_tokens = steps.machine.new_tokens
        self.capacity = capacity_blocks
        self.free = capacity_blocks
        self.kv_bytes_per_token = kv_bytes_per_token
        self.target = requests.prompt.astype(float)          # tokens a (re-)prefill puts in the cache
        self.cached = np.zeros(n)                             # tokens in the KV cache
        self.generated = np.zeros(n)                          # tokens emitted
        self.held = np.zeros(n, dtype=np.int64)               # KV blocks held
        self.first_token = np.full(n, np.nan)
        self.finish = np.full(n, np.nan)
        self.start = np.full(n, np.nan)
        self.preemptions = np.zeros(n, dtype=np.int64)
        self.waiting: deque[int] = deque()
        self.swapped: deque[int] = deque()
        self.running: list[int] = []
        self.static_batch: list[int] = []
        self.next_arrival = 0
        self.done = 0
        self.prompt_work = 0
        self.swap_s = 0.0
        self.series = Series()
        self.cache = _PrefixCache(policy, requests)

    # ---- bookkeeping ---------------------------------------------------------------------

    def blocks_for(self, tokens: float) -> int:
        return math.ceil(tokens / self.p.block_tokens - 1e-9)

    def own_blocks(self, i: int, tokens: float) -> int:
        """Blocks request i needs of its own for ``tokens`` cached tokens (a shared prefix's are
        the cache's)."""
        return self.blocks_for(tokens - self.cache.shared[i])

    def grow(self, i: int, tokens: float) -> bool:
        """Hold enough blocks for ``tokens`` cached tokens of request i, if free (evicting
        unused cached prefixes first)."""
        need = self.own_blocks(i, tokens) - self.held[i]
        if need > self.free:
            self.free += self.cache.evict(need - self.free)
        if need > self.free:
            return False
        if need > 0:
            self.free -= need
            self.held[i] += need
        return True

    def release(self, i: int) -> None:
        self.free += int(self.held[i])
        self.held[i] = 0
        self.cache.detach(i)

    def attach_prefix(self, i: int) -> float:
        """At admission: a cached prefix is in place (device) or copied in (pool); returns the
        copy time. ``cached`` starts past it, so the prefill skips it."""
        skip, copy_s = self.cache.attach(i, self.kv_bytes_per_token)
        self.cached[i] = max(self.cached[i], skip)
        return copy_s

    def detach_prefix(self, i: int) -> None:
        """Undo ``attach_prefix`` when the admission does not go ahead."""
        self.cache.undo_attach(i)
        self.cached[i] = 0

    def store_prefix(self, i: int) -> None:
        """A prefill ended: its prefix's whole blocks pass to the cache (device) or the pool."""
        self.held[i] -= self.cache.store(i)

    def arrive(self, t: float) -> None:
        arrival = self.r.arrival_s
        while self.next_arrival < arrival.size and arrival[self.next_arrival] <= t:
            self.waiting.append(self.next_arrival)
            self.next_arrival += 1

    def prefill_done(self, i: int) -> bool:
        return self.cached[i] >= self.target[i]

    def emit_first(self, i: int, t: float) -> None:
        """A (re-)prefill ends: it samples the request's next token."""
        if self.generated[i] == 0:
            self.first_token[i] = t
        self.generated[i] += 1
        if self.generated[i] >= self.r.output[i] - 1e-9:
            self.end(i, t)

    def prefilled(self, ids: list[int]) -> Callable[[float], None]:
        """What ends an iteration that prefills these requests whole."""
        def apply(t_end: float) -> None:
            for i in ids:
                self.cached[i] = self.target[i]
                self.store_prefix(i)
                self.emit_first(i, t_end)
        return apply

    def end(self, i: int, t: float) -> None:
        self.finish[i] = t
        self.release(i)
        self.done += 1

    def admit_decode_only(self, i: int) -> None:
        """A request whose prompt KV arrived from a prefill instance; its first token too."""
        self.cached[i] = self.target[i]
        if self.generated[i] == 0:
            self.generated[i] = 1

    def preempt_newest(self, pool: list[int]) -> float:
        """Preempt the most recently admitted sequence of ``pool``; returns copy time (swap)."""
        i = pool.pop()
        self.running.remove(i)
        self.preemptions[i] += 1
        copy_s = 0.0
        if self.p.preempt == "swap":
            copy_s = self.cached[i] * self.kv_bytes_per_token / (self.p.swap_GBps * 1e9)
            self.swapped.appendleft(i)
        else:          # recompute: re-prefill the prompt and every token generated so far
            self.target[i] = self.r.prompt[i] + self.generated[i]
            self.cached[i] = 0
            self.waiting.appendleft(i)
        self.release(i)
        return copy_s

    def make_room_to_decode(self, pool: list[int]) -> float:
        """Grow every sequence of ``pool`` by one step's tokens, preempting the newest while
        blocks run out; returns the swap-out copy time."""
        copy_s = 0.0
        while pool:
            idx = np.asarray(pool)
            need = np.maximum(np.ceil((self.cached[idx] + self.new_tokens - self.cache.shared[idx])
                                      / self.p.block_tokens - 1e-9).astype(np.int64) - self.held[idx], 0)
            if need.sum() > self.free:
                self.free += self.cache.evict(int(need.sum()) - self.free)
            if need.sum() <= self.free:
                self.held[idx] += need
                self.free -= int(need.sum())
                break
            copy_s += self.preempt_newest(pool)
        return copy_s

    def swap_in(self, limit: int) -> float:
        """Bring swapped sequences back while their blocks fit; returns the copy time."""
        copy_s = 0.0
        while self.swapped and len(self.running) < limit:
            i = self.swapped[0]
            if not self.grow(i, self.cached[i] + self.new_tokens):
                break
            self.swapped.popleft()
            self.running.append(i)
            copy_s += self.cached[i] * self.kv_bytes_per_token / (self.p.swap_GBps * 1e9)
        return copy_s

    # ---- one iteration per policy --------------------------------------------------------

    def decode_step(self, pool: list[int], t_end: float) -> None:
        idx = np.asarray(pool, dtype=np.int64)
        live = idx[np.isnan(self.finish[idx])]
        self.cached[live] += self.tps
        self.generated[live] += self.tps
        for i in live[self.generated[live] >= self.r.output[live] - 1e-9]:
            self.end(int(i), t_end)

    def decode_cost(self, pool: list[int]) -> float:
        return self.steps.decode_s(self.cached[pool]) if pool else 0.0

    def form_static_batch(self) -> list[int]:
        """Waiting requests, first come first served, while the batch padded to its longest prompt
        and output fits the KV cache whole (a static batch reserves it up front)."""
        batch: list[int] = []
        longest_prompt = longest_output = 0
        while self.waiting and len(batch) < self.p.max_batch:
            i = self.waiting[0]
            p, o = max(longest_prompt, self.r.prompt[i]), max(longest_output, self.r.output[i])
            if batch and (len(batch) + 1) * self.blocks_for(p + o + self.new_tokens) > self.capacity:
                break
            longest_prompt, longest_output = p, o
            batch.append(self.waiting.popleft())
        each = self.blocks_for(longest_prompt + longest_output + self.new_tokens)
        self.held[batch] = each
        self.free = self.capacity - each * len(batch)
        return batch

    def iterate_static(self, t: float) -> tuple[str, float, Callable[[float], None]]:
        if not self.running:          # the last batch has ended
            batch = self.form_static_batch()
            self.static_batch, self.running = batch, list(batch)
            if not self.p.decode_only:
                prompts = np.full(len(batch), self.r.prompt[batch].max())      # padded to the longest
                self.prompt_work += int(prompts.sum())
                return "prefill", self.steps.prefill_s(prompts), self.prefilled(batch)
            for i in batch:
                self.admit_decode_only(i)
        batch = self.static_batch
        contexts = self.cached[batch]
        return "decode", self.steps.decode_s(contexts), lambda t_end: self.decode_step(batch, t_end)

    def admit(self, i: int) -> None:
        self.running.append(self.waiting.popleft())

    def iterate_continuous(self, t: float) -> tuple[str, float, Callable[[float], None]]:
        copy_s = self.swap_in(self.p.max_batch) if self.p.preempt == "swap" else 0.0
        admitted, tokens, pulled_s = [], 0.0, 0.0
        while self.waiting and not self.swapped and len(self.running) < self.p.max_batch:
            i = self.waiting[0]
            pull_s = 0.0 if self.p.decode_only else self.attach_prefix(i)
            need = 0.0 if self.p.decode_only else self.target[i] - self.cached[i]
            if (admitted and tokens + need > self.p.max_batched_tokens) or \
                    not self.grow(i, self.target[i] + (self.new_tokens if self.p.decode_only else 0)):
                if not self.p.decode_only:
                    self.detach_prefix(i)
                break
            self.admit(i)
            admitted.append(i)
            tokens += need
            pulled_s += pull_s
        if admitted and not self.p.decode_only:
            cached = self.cached[admitted]
            prompts = self.target[admitted] - cached
            self.prompt_work += int(prompts.sum())
            self.swap_s += copy_s
            return "prefill", copy_s + pulled_s + self.steps.prefill_s(prompts, cached), self.prefilled(admitted)
        for i in admitted:
            self.admit_decode_only(i)
        pool = list(self.running)
        copy_s += self.make_room_to_decode(pool)
        self.swap_s += copy_s
        return "decode", copy_s + self.decode_cost(pool), lambda t_end: self.decode_step(pool, t_end)

    def iterate_chunked(self, t: float) -> tuple[str, float, Callable[[float], None]]:
        copy_s = self.swap_in(self.p.max_batch) if self.p.preempt == "swap" else 0.0
        running = np.asarray(self.running, dtype=np.int64)
        prompt_done = self.cached[running] >= self.target[running]
        decoding = running[prompt_done].tolist()
        copy_s += self.make_room_to_decode(decoding)
        budget = self.p.max_batched_tokens - len(decoding) * self.new_tokens
        chunks: list[tuple[int, int]] = []
        pulled_s = 0.0
        for i in running[~prompt_done].tolist():      # (preemption only takes decoding sequences)
            budget = self.add_chunk(i, budget, chunks)
        while budget > 0 and self.waiting and not self.swapped and len(self.running) < self.p.max_batch:
            i = self.waiting[0]
            if self.p.decode_only:
                if not self.grow(i, self.target[i] + self.new_tokens):
                    break
                self.admit(i)
                self.admit_decode_only(i)
                continue
            before = len(chunks)
            pull_s = self.attach_prefix(i)
            budget = self.add_chunk(i, budget, chunks)
            if len(chunks) == before:
                self.detach_prefix(i)
                break
            pulled_s += pull_s
            self.admit(i)
        self.swap_s += copy_s
        ids, tokens = (np.asarray(v, dtype=np.int64) for v in zip(*chunks)) if chunks else (np.zeros(0, np.int64),) * 2
        cost = copy_s + pulled_s + self.steps.pass_s(tokens, self.cached[ids], self.cached[decoding]) \
            if chunks or decoding else copy_s + pulled_s
        self.prompt_work += sum(k for _, k in chunks)

        def apply(t_end: float) -> None:
            self.decode_step(decoding, t_end)
            for i, k in chunks:
                self.cached[i] += k
                if self.prefill_done(i):
                    self.store_prefix(i)
                    self.emit_first(i, t_end)
        kind = "mixed" if decoding and chunks else "decode" if decoding else "prefill"
        return kind, cost, apply

    def add_chunk(self, i: int, budget: int, chunks: list) -> int:
        k = int(min(budget, self.target[i] - self.cached[i]))
        if k <= 0 or not self.grow(i, self.cached[i] + k):
            return budget
        chunks.append((i, k))
        return budget - k

    # ---- the loop ------------------------------------------------------------------------

    def run(self, on_progress: Callable[[int, int], None]) -> None:
        iterate = {"static": self.iterate_static, "continuous": self.iterate_continuous,
                   "chunked": self.iterate_chunked}[self.p.name]
        n, t = len(self.r), 0.0
        reported = 0
        while self.done < n:
            self.arrive(t)
            if not self.running and not self.waiting and not self.swapped:
                t = float(self.r.arrival_s[self.next_arrival])
                continue
            in_system = len(self.waiting) + len(self.running) + len(self.swapped)
            used, work = self.capacity - self.free, self.prompt_work
            kind, cost_s, apply = iterate(t)
            running = np.asarray(self.running, dtype=np.int64)
            self.start[running[np.isnan(self.start[running])]] = t
            if not cost_s > 0:
                raise AssertionError(f"serving: a {kind} iteration made no progress at t={t} s")
            batch = len(self.static_batch) if self.p.name == "static" else len(self.running)
            apply(t + cost_s)
            running = np.asarray(self.running, dtype=np.int64)
            self.running = running[np.isnan(self.finish[running])].tolist()
            s = self.series
            s.start_s.append(t)
            t += cost_s
            s.end_s.append(t)
            s.kind.append(kind)
            s.batch.append(batch)
            s.waiting.append(len(self.waiting))
            s.prompt_tokens.append(self.prompt_work - work)
            s.in_system.append(in_system)
            s.kv_blocks.append(used)
            if self.done != reported:          # not per iteration: a display update costs more
                reported = self.done
                on_progress(self.done, n)


# serving time is one float64 clock from the first arrival: past this span its resolution is
# coarser than 0.1 us and short steps would vanish (t + step == t)
MAX_SPAN_S = 1e-7 / np.finfo(np.float64).eps      # ~4.5e8 s, about 14 years


def check_fits(requests: Requests, policy: Policy, capacity_blocks: int, new_tokens: int,
               max_context: int | None) -> None:
    """Refuse requests that could never run, whatever the schedule (before simulating)."""
    block = policy.block_tokens
    span = float(requests.arrival_s[-1] - requests.arrival_s[0]) if len(requests) else 0.0
    if not span <= MAX_SPAN_S:
        raise ConfigError([f"requests: arrivals span {span:.3g} s; beyond {MAX_SPAN_S:.3g} s (about 14 years) "
                           "the simulation clock cannot resolve 0.1 us and step times would be lost; use a "
                           "higher --rate or fewer requests, or split the trace"])
    # a sequence alone must fit to its end (plus one step's draft tokens)
    need = np.ceil((requests.prompt + requests.output + new_tokens) / block).astype(np.int64)
    problems = []
    worst = int(np.argmax(need))
    if need[worst] > capacity_blocks:
        problems.append(f"kv: request {worst} needs {need[worst]} KV blocks of {block} tokens (prompt "
                        f"{requests.prompt[worst]} + output {requests.output[worst]}) but the machine holds "
                        f"{capacity_blocks}; use a machine with more memory (--chips) or shorter requests")
    longest = int(np.argmax(requests.prompt + requests.output))
    if max_context and requests.prompt[longest] + requests.output[longest] > max_context:
        problems.append(f"requests: request {longest} has {requests.prompt[longest]} + {requests.output[longest]} "
                        f"tokens, beyond the model's {max_context} positions; shorten prompts/outputs")
    if policy.decode_only and requests.output.min() < 2:
        problems.append(f"decode_only: request {int(np.argmin(requests.output))} has 1 output token, which "
                        "its prefill instance produced; decode-only requests need output >= 2")
    if policy.name == "continuous" and not policy.decode_only:
        longest = int(np.argmax(requests.prompt))
        if requests.prompt[longest] > policy.max_batched_tokens:
            problems.append(f"--max-batched-tokens: request {longest}'s prompt has {requests.prompt[longest]} "
                            f"tokens, more than the {policy.max_batched_tokens} an iteration may prefill; raise "
                            "it or use --policy chunked")
    if problems:
        raise ConfigError(problems)


# memory a run holds: per request, the engine's and the outcome's arrays (about 30 numbers);
# per iteration, one entry in each of the series' 8 lists (Python objects)
BYTES_PER_REQUEST = 30 * 8
BYTES_PER_ITERATION = 8 * 40


def estimated_bytes(requests: Requests, policy: Policy) -> float:
    """What a serving run will hold, before it runs: its per-request arrays, and its iteration
    series at the most iterations it can take (a decode step per output token of a batch that
    holds one request at a time, or of batches of max_batch: the larger of the request count
    and the output tokens over the batch, plus a prefill per request)."""
    outputs = float(requests.output.sum())
    iterations = len(requests) + max(float(len(requests)), outputs / policy.max_batch)
    return len(requests) * BYTES_PER_REQUEST + iterations * BYTES_PER_ITERATION


def simulate(requests: Requests, steps: StepModel, policy: Policy, capacity_blocks: int,
             kv_bytes_per_token: float = 0.0,
             on_progress: Callable[[int, int], None] = lambda done, total: None) -> Outcome:
    """Serve ``requests`` on the step model's machine under ``policy``."""
    from accsim.core.limits import require_memory
    policy.check()
    check_fits(requests, policy, capacity_blocks, steps.machine.new_tokens,
               max_context_tokens(steps.machine.model))
    require_memory(f"serving {len(requests):,} requests", estimated_bytes(requests, policy),
                   "serve fewer requests (--requests), or split the trace")
    engine = _Engine(requests, steps, policy, capacity_blocks, kv_bytes_per_token)
    engine.run(on_progress)
    tokens_out = np.minimum(np.floor(engine.generated + 1e-9), requests.output).astype(np.int64)
    if policy.decode_only:
        engine.first_token[:] = np.nan
    return Outcome(requests, policy, engine.first_token, engine.finish, engine.start, engine.preemptions,
                   tokens_out, engine.prompt_work, capacity_blocks, engine.swap_s, engine.series.arrays(),
                   engine.cache.counts())


class _PrefixCache:
    """The prefix cache of one machine (see the module doc): which prefixes are kept, in LRU
    order, how many running requests use each (device tier), and what each request shares."""

    def __init__(self, policy: Policy, requests: Requests) -> None:
        self.tier, self.block = policy.prefix_cache, policy.block_tokens
        self.pool_Bps, self.pool_tokens = policy.pool_GBps * 1e9, policy.pool_tokens
        self.ids = requests.prefix_id
        # whole blocks of each request's prefix, short of its prompt's last token (which is
        # always computed: it samples the first output token): what a cache can hold of it
        self.cacheable = (np.minimum(requests.prefix_tokens, requests.prompt - 1) // self.block) * self.block
        n = len(requests)
        self.shared = np.zeros(n)               # tokens of request i in the cache's blocks (device)
        self.pulled = np.zeros(n)               # tokens of request i taken from the cache at admission
        self.pull_s = np.zeros(n)               # pool: the copy time of that
        self.kept: OrderedDict[int, int] = OrderedDict()     # prefix id -> tokens, LRU first
        self.kept_tokens = 0                    # their sum
        self.users: dict[int, int] = {}         # device: running requests sharing each prefix
        self.lookups = self.hits = self.tokens_hit = self.evictions = 0
        self.copy_s = 0.0

    def usable(self, i: int) -> bool:
        return self.tier != "none" and self.ids[i] >= 0 and self.cacheable[i] > 0

    def attach(self, i: int, kv_bytes_per_token: float) -> tuple[float, float]:
        """(tokens request i finds cached, copy time) at its admission; counted as a lookup."""
        self.pulled[i] = 0
        if not self.usable(i):
            return 0.0, 0.0
        self.lookups += 1
        pid = int(self.ids[i])
        if pid not in self.kept:
            return 0.0, 0.0
        tokens = self.kept[pid]
        self.kept.move_to_end(pid)
        self.hits += 1
        self.tokens_hit += tokens
        self.pulled[i] = tokens
        if self.tier == "device":
            self.shared[i] = tokens
            self.users[pid] = self.users.get(pid, 0) + 1
            return float(tokens), 0.0
        self.pull_s[i] = tokens * kv_bytes_per_token / self.pool_Bps
        self.copy_s += float(self.pull_s[i])
        return float(tokens), float(self.pull_s[i])

    def undo_attach(self, i: int) -> None:
        if not self.usable(i):
            return
        self.lookups -= 1
        if self.pulled[i]:
            self.hits -= 1
            self.tokens_hit -= int(self.pulled[i])
            self.copy_s -= float(self.pull_s[i])
            self.pull_s[i] = 0.0
        self.detach(i)
        self.pulled[i] = 0

    def detach(self, i: int) -> None:
        """Request i no longer uses the cache's blocks (it ended or was preempted)."""
        if self.shared[i]:
            pid = int(self.ids[i])
            self.users[pid] -= 1
            self.shared[i] = 0

    def store(self, i: int) -> int:
        """Request i's prefill ended: keep its prefix. Returns the blocks that pass from the
        request to the cache (device tier; the pool holds its own copy)."""
        if not self.usable(i) or self.shared[i] or self.pulled[i]:
            return 0
        pid, tokens = int(self.ids[i]), int(self.cacheable[i])
        if pid in self.kept:
            return 0                 # another request stored it first: this one keeps its own copy
        if self.tier == "pool":
            if tokens > self.pool_tokens:
                return 0
            while self.kept_tokens + tokens > self.pool_tokens:
                self.kept_tokens -= self.kept.popitem(last=False)[1]
                self.evictions += 1
            self.kept[pid] = tokens
            self.kept_tokens += tokens
            return 0
        self.kept[pid] = tokens
        self.kept_tokens += tokens
        self.shared[i] = tokens
        self.users[pid] = self.users.get(pid, 0) + 1
        return tokens // self.block

    def evict(self, blocks_wanted: int) -> int:
        """Device tier: drop unused prefixes, least recently used first, until ``blocks_wanted``
        blocks are free or none is left to drop; returns the blocks freed."""
        if self.tier != "device":
            return 0
        freed = 0
        for pid in [p for p in self.kept if not self.users.get(p, 0)]:
            if freed >= blocks_wanted:
                break
            tokens = self.kept.pop(pid)
            self.kept_tokens -= tokens
            freed += tokens // self.block
            self.evictions += 1
        return freed

    def counts(self) -> dict:
        if self.tier == "none":
            return {}
        return {"tier": self.tier, "lookups": self.lookups, "hits": self.hits,
                "hit_rate": self.hits / self.lookups if self.lookups else 0.0,
                "prompt_tokens_saved": self.tokens_hit, "evictions": self.evictions,
                "pool_copy_s": self.copy_s, "kept_at_end": len(self.kept)}
