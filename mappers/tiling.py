"""The shared tiling search: enumerate, prune by capacity, cost analytically, keep the top k,
evaluate those cycle-level, keep the best.

A family's mapper supplies the loop dimensions with their candidate tile sizes, the loop
orders, a capacity predicate, a fast analytic cost and a cycle-level evaluator. The search
is deterministic (candidates in lexicographic order, ties broken by that order) and bounded:
at most ``max_candidates`` tilings are enumerated and ``top_k`` evaluated; the result says how
many were enumerated, pruned and evaluated, and whether the budget cut the enumeration.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from accsim.core.errors import ConfigError

Candidate = Mapping[str, Any]


@dataclass(frozen=True)
class SearchResult:
    best: dict
    best_cycles: int
    best_estimate: float
    enumerated: int
    fitting: int
    evaluated: tuple            # (candidate, estimate, cycles) of the evaluated tilings, best first
    budget_hit: bool


def tile_sizes(extent: int, granule: int, cap: int) -> list[int]:
    """Candidate tile sizes along one loop: powers of two times ``granule`` up to ``cap``, plus
    the whole (granule-rounded) extent when it fits, so small dimensions are never split."""
    whole = -(-extent // granule) * granule
    sizes = []
    size = granule
    while size < whole and size <= cap:
        sizes.append(size)
        size *= 2
    if whole <= cap:
        sizes.append(whole)
    return sizes or [granule]


def search(dims: Mapping[str, Sequence[int]], orders: Sequence[str],
           fits: Callable[[Candidate], bool], estimate: Callable[[Candidate], float],
           evaluate: Callable[[Candidate], int], max_candidates: int, top_k: int,
           what: str) -> SearchResult:
    """Run the search; raise a ConfigError naming ``what`` if no tiling fits the buffers."""
    names = list(dims)
    enumerated, fitting = 0, []
    budget_hit = False
    for values in itertools.product(*(dims[n] for n in names), orders):
        if enumerated == max_candidates:
            budget_hit = True
            break
        enumerated += 1
        cand = dict(zip(names, values[:-1]), order=values[-1])
        if fits(cand):
            fitting.append((estimate(cand), len(fitting), cand))
    if not fitting:
        raise ConfigError([f"{what}: no tiling fits the core's buffers (tried {enumerated}); "
                           f"enlarge buffers.* or use a smaller dtype"])
    fitting.sort(key=lambda e: (e[0], e[1]))
    scored = [(evaluate(c), est, i, c) for est, i, c in fitting[:top_k]]
    scored.sort(key=lambda e: (e[0], e[1], e[2]))
    cycles, est, _, best = scored[0]
    return SearchResult(best, cycles, est, enumerated, len(fitting),
                        tuple((c, e, cy) for cy, e, _, c in scored), budget_hit)
