"""Composition of experts (CoE): a router and N expert models on one system, experts swapped in.

A CoE scenario (``coe: "150xllama2-7b"``) keeps N expert models on the system: as many as
fit in its fast memory (beside the router, which stays resident, and the working KV cache)
are resident, the rest wait in its capacity tier (the family's ``model_tiers``: DDR of an
RDU, host memory of a GPU server); one that holds neither is a capacity error. A batch of
requests is routed by the router (a prefill of the batch's prompts on a model of the
experts' shape, as Samba-CoE's router is), each request to its own expert (the worst case:
``min(batch, N)`` distinct experts); an expert that is not resident is copied in first (a
model switch: bytes over the family's copy path), then each expert generates for its
requests. Experts run one after another: the system runs one model at a time.

End-to-end time = router + switches x switch time + the experts' generations; every part
comes from simulation (router and experts through the family's step simulator, the switch
through the family's copy path). Expected switches count a routed expert as resident with
probability resident / N (uniform routing).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable

from accsim.core.capacity import GIB, CapacityError, resident_bytes
from accsim.core.errors import ConfigError
from accsim.core.presets import resolve_preset
from accsim.core.registry import families
from accsim.core.stats import Stats
from accsim.simulation.runner import RunResult, _with_chips, load_named, step_graph
from accsim.simulation.scenario import default, parse_coe
from accsim.workloads.graph import Phase


def run_coe(scenario: Any, run_scenario: Callable[[Any], Any]) -> Any:
    """The CoE scenario's RunResult (``run_scenario(scenario)`` simulates the router and the
    experts)."""
    n, expert_name = parse_coe(scenario.coe)
    problems = []
    if scenario.model != default("model"):
        problems.append("model: with coe the router is a model of the experts' shape; drop --model")
    if scenario.draft_tokens or scenario.decode_only:
        problems.append("coe: speculative decoding and decode_only are not modelled with a composition of experts")
    if problems:
        raise ConfigError(problems)
    preset = resolve_preset(scenario.arch, _with_chips(scenario))
    family = families().get(preset.family)
    if family.model_tiers is None:
        raise ConfigError([f"coe: family '{family.name}' declares no model tiers (where inactive "
                           f"experts wait); use a family that does (rdu, gpu)"])
    tiers = family.model_tiers(preset.spec)
    expert = load_named(expert_name, "coe").with_dtype(scenario.dtype)
    distinct = min(scenario.batch, n)
    per_expert = math.ceil(scenario.batch / distinct)
    graph = step_graph(preset, expert, Phase.decode(per_expert, scenario.prompt + scenario.gen))
    devices = family.chips_per_report(preset.spec) if family.chips_per_report else 1
    model_bytes = float(expert.num_params * expert.role_bytes("weight"))
    working = resident_bytes(graph).kv_bytes * devices
    room = tiers.fast_bytes - model_bytes - working          # the router stays resident
    resident = max(0, min(n, int(room // model_bytes)))
    holdable = resident + int(tiers.slow_bytes // model_bytes)
    if holdable < n:
        raise CapacityError([
            f"{tiers.slow_field}: {n} experts of {expert.name} ({model_bytes / GIB:.1f} GiB each) need "
            f"{n * model_bytes / GIB:.0f} GiB but the system holds {resident} in fast memory and "
            f"{tiers.slow_bytes / GIB:.0f} GiB of {tiers.slow_name} ({holdable} experts); use fewer "
            f"experts or a larger {tiers.slow_name}"])
    switch_s = tiers.switch_s(model_bytes)
    switches = distinct * (1.0 - resident / n)
    base = replace(scenario, coe="", model=expert_name)
    router = run_scenario(replace(base, gen=1)).stats
    each = run_scenario(replace(base, batch=per_expert)).stats
    router_s, experts_s = router["ttft_s"], distinct * each["latency_s"]
    switching_s = switches * switch_s
    overall_s = router_s + switching_s + experts_s
    by_kind: dict[str, dict] = {"router": {"exposed_s": router_s}, "model_switch": {"exposed_s": switching_s}}
    for kind, v in each["by_op_kind"].items():
        by_kind.setdefault(kind, {"exposed_s": 0.0})["exposed_s"] += distinct * v["exposed_s"]
    by_unit = {u: {"busy_s": router["by_unit"][u]["busy_s"] + distinct * v["busy_s"]}
               for u, v in each["by_unit"].items() if u in router["by_unit"]}
    for u in by_unit.values():
        u["util_pct"] = 100.0 * u["busy_s"] / overall_s
    tokens = scenario.batch * scenario.gen
    energy_J = router["energy_J"] + distinct * each["energy_J"]
    stats = Stats({
        "scenario": {**each["scenario"].to_dict(), "coe": scenario.coe, "batch": scenario.batch,
                     "model": expert_name},
        "model": each["model"].to_dict(),
        "latency_s": overall_s, "ttft_s": router_s + switching_s / distinct + each["ttft_s"],
        "tpot_s": each["tpot_s"], "tokens_per_s": tokens / overall_s,
        "decode_tokens_per_s": each["decode_tokens_per_s"],
        "energy_J": energy_J, "energy_per_token_J": energy_J / tokens,
        "decode_energy_per_token_J": each["decode_energy_per_token_J"],
        "by_op_kind": by_kind, "by_unit": by_unit, "per_chip": each["per_chip"].to_dict(),
        "prefill": each["prefill"].to_dict(), "decode": each["decode"].to_dict(),
        "coe": {"experts": n, "expert_model": expert_name, "expert_bytes": model_bytes,
                "experts_resident": resident, "experts_held": holdable,
                "systems_to_hold_resident": math.ceil(n / resident) if resident else None,
                "distinct_experts": distinct, "requests_per_expert": per_expert,
                "expected_switches": switches, "switch_s": switch_s, "switching_s": switching_s,
                "router_s": router_s, "experts_s": experts_s, "overall_s": overall_s,
                "copy_GBps": model_bytes / switch_s / 1e9, "copy_path": tiers.copy_path,
                "slow_tier": tiers.slow_name}})
    return RunResult(stats, preset, expert, {"router": router["scenario"]["model"], "experts": expert_name})
