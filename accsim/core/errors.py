"""User-facing errors.

Every error a user can trigger (bad YAML, unknown names, bad CLI options, malformed traces,
impossible configurations) is an ``AccsimError``: the CLI prints its message on one line per
problem and exits non-zero, never with a traceback.
"""
from __future__ import annotations

import difflib
from typing import Iterable, Sequence


class AccsimError(Exception):
    """Base class of every error that is the user's input, not a bug in accsim."""


class ConfigError(AccsimError):
    """One or more problems in a configuration, all collected before raising."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class UnknownNameError(AccsimError):
    """A name (preset, model, family, mapper) that is not registered."""


class ProgramError(AccsimError):
    """A Program that breaks its invariants (dtypes, ranges, dependency order)."""


class TraceFormatError(AccsimError):
    """A malformed line in a memory-trace file."""


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return " (did you mean 'x'?)" for the closest candidate, or "" if none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class ProblemList:
    """Collects problems so that all of them are reported at once."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}" if path else message)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


MAX_MESSAGE_CHARS = 1000


def printable(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """One message line safe for a terminal: control characters (escape sequences, NULs) shown
    escaped, and at most ``limit`` characters (an echoed 100 KB trace line is cut)."""
    safe = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return safe if len(safe) <= limit else f"{safe[:limit]}... ({len(safe) - limit} more characters)"
