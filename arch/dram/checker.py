"""An independent DRAM command-trace checker.

Given a command trace and a memory configuration, it replays the commands against the
standard's declarative rules (``standards.Rule``, latencies evaluated from the timing table)
and the bank state machine, and reports the first violation: which rule, which two commands,
at which cycles. It shares no code with the scheduler kernel: it is the referee of the
kernel's output, so it is written for clarity, not speed.

A command issued to a node counts as issued on every node below it (an all-bank refresh is
a refresh of each bank); a rule at a level is checked on the node of that level the later
command addresses.
"""
from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

import numpy as np

from accsim.arch.dram.spec import DramConfig
from accsim.arch.dram.standards import evaluate


@dataclass(frozen=True)
class Violation:
    cycle: int
    command: str
    where: str
    rule: str

    def __str__(self) -> str:
        return f"cycle {self.cycle}: {self.command} at {self.where}: {self.rule}"


COLUMN_COMMANDS = ("RD", "WR", "RDA", "WRA")


class _Replay:
    def __init__(self, config: DramConfig) -> None:
        self.config = config
        self.std = config.std
        self.sizes = [int(x) for x in config.level_sizes()]
        self.levels = self.std.levels
        options = {"act_pre_scope": config.controller.act_pre_scope}
        self.rules = []   # (level index, preceding, following, latency, window, text)
        for rule in self.std.rules:
            if rule.when and options.get(rule.when[0]) != rule.when[1]:
                continue
            latency = evaluate(rule.latency, config.timing)
            for prev in rule.preceding:
                for nxt in rule.following:
                    text = (f"{rule.level} {prev} -> {nxt} needs {rule.latency} = {latency} cycles"
                            + (f" (window {rule.window})" if rule.window > 1 else ""))
                    self.rules.append((self.levels.index(rule.level), prev, nxt, latency, rule.window, text))
        depth = max([r[4] for r in self.rules] + [1])
        self.history: dict[tuple[int, int, str], deque] = defaultdict(lambda: deque(maxlen=depth))
        self.open_row: dict[int, int] = {}
        # command buses: one per channel, or a row and a column bus with dual issue (HBM)
        self.last_cycle_on_bus: dict[tuple[int, bool], int] = {}
        self.dual_issue = config.controller.dual_issue

    def where(self, nodes: list[int]) -> str:
        parts = []
        for lvl, node in enumerate(nodes):
            if node < 0:
                break
            parts.append(f"{self.levels[lvl]} {node % self.sizes[lvl] if lvl else node}")
        return ", ".join(parts)

    def nodes_below(self, node: int, level: int, down_to: int) -> range:
        per = 1
        for j in range(level + 1, down_to + 1):
            per *= self.sizes[j]
        return range(node * per, node * per + per)

    def step(self, cycle: int, cmd: str, nodes: list[int], row: int) -> Violation | None:
        scope = self.levels.index(self.std.scopes[cmd])
        bank_level = len(self.levels) - 1
        where = self.where(nodes)
        channel = nodes[0]
        bus = (channel, self.dual_issue and cmd in COLUMN_COMMANDS)
        if self.last_cycle_on_bus.get(bus, -1) >= cycle or self.last_cycle_on_bus.get(
                (channel, not bus[1]), -1) > cycle:
            return Violation(cycle, cmd, where, "two commands in one cycle on a channel's "
                             f"{'column' if bus[1] else 'command'} bus (or commands out of order)")
        self.last_cycle_on_bus[bus] = cycle
        for level, prev, nxt, latency, window, text in self.rules:
            if nxt != cmd:
                continue
            # a command addressing a whole channel must obey the rules of every node below it
            targets = [nodes[level]] if level <= scope else self.nodes_below(nodes[scope], scope, level)
            for node in targets:
                times = self.history[(level, node, prev)]
                if len(times) >= window and cycle < times[window - 1] + latency:
                    return Violation(cycle, cmd, where, f"{text}; the {prev} was at cycle "
                                     f"{times[window - 1]} ({cycle - times[window - 1]} cycles before)")
        problem = self.check_state(cmd, nodes, row, scope, bank_level)
        if problem:
            return Violation(cycle, cmd, where, problem)
        for level in range(len(self.levels)):
            targets = [nodes[level]] if level <= scope else self.nodes_below(nodes[scope], scope, level)
            for node in targets:
                self.history[(level, node, cmd)].appendleft(cycle)
        self.apply_state(cmd, nodes, row, scope, bank_level)
        return None

    def banks_in_scope(self, nodes: list[int], scope: int, bank_level: int) -> range:
        return self.nodes_below(nodes[scope], scope, bank_level) if scope < bank_level else range(
            nodes[bank_level], nodes[bank_level] + 1)

    def check_state(self, cmd: str, nodes: list[int], row: int, scope: int, bank_level: int) -> str | None:
        if cmd in self.std.opening:
            for bank in self.banks_in_scope(nodes, scope, bank_level):
                open_row = self.open_row.get(bank, -1)
                if open_row >= 0:
                    return f"{cmd} to a bank whose row {open_row} is still open (needs PRE first)"
        elif cmd in self.std.all_bank_access:
            rows = {self.open_row.get(b, -1) for b in self.banks_in_scope(nodes, scope, bank_level)}
            if rows != {row}:
                return f"{cmd} on row {row} needs that row open in every bank of its scope (open: {sorted(rows)})"
        elif cmd in self.std.accessing:
            open_row = self.open_row.get(nodes[bank_level], -1)
            if open_row != row:
                state = "closed" if open_row < 0 else f"open on row {open_row}"
                return f"{cmd} to row {row} of a bank that is {state}"
        elif cmd.startswith("REF"):
            busy = [b for b in self.banks_in_scope(nodes, scope, bank_level) if self.open_row.get(b, -1) >= 0]
            if busy:
                return f"{cmd} while {len(busy)} bank(s) in its scope are open"
        return None

    def apply_state(self, cmd: str, nodes: list[int], row: int, scope: int, bank_level: int) -> None:
        if cmd in self.std.opening:
            for bank in self.banks_in_scope(nodes, scope, bank_level):
                self.open_row[bank] = row
        elif cmd in ("PRE", "RDA", "WRA"):
            self.open_row[nodes[bank_level]] = -1
        elif cmd == "PREA":
            for bank in self.banks_in_scope(nodes, scope, bank_level):
                self.open_row[bank] = -1


def check_commands(config: DramConfig, commands: np.ndarray) -> Violation | None:
    """First violation in a command trace (rows: cycle, command, node per level, row, column),
    in the kernel's log format, or None if every command obeys every rule."""
    replay = _Replay(config)
    n_levels = len(replay.levels)
    for entry in np.asarray(commands):
        cycle, cmd = int(entry[0]), replay.std.commands[int(entry[1])]
        nodes = [int(x) for x in entry[2:2 + n_levels]]
        violation = replay.step(cycle, cmd, nodes, int(entry[2 + n_levels]))
        if violation:
            return violation
    return None
