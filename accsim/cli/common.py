"""What every command module shares: the ``accsim`` group, the console, number formats.

The group lists the core's commands and those the registered families add (``Family.commands``,
loaded only when named or listed), so a family's command lives next to its family.
"""
from __future__ import annotations

import functools
import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import click

import accsim


class LazyConsole:
    """The rich console, built on first use: importing rich.console costs ~30 ms of a start-up
    that 'accsim --help' keeps under 0.15 s. Attributes pass through to the real console."""

    def __init__(self) -> None:
        object.__setattr__(self, "_real", None)

    def rich(self) -> Any:
        if self._real is None:
            from rich.console import Console
            # tables keep their shape when stdout is a pipe or a file (rich would assume 80 columns)
            object.__setattr__(self, "_real", Console(highlight=False,
                                                      width=None if sys.stdout.isatty() else 120))
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.rich(), name, value)


console = LazyConsole()


def rich_console() -> Any:
    """The rich Console itself (for rich objects that take one)."""
    return console.rich() if isinstance(console, LazyConsole) else console


SHOW_AFTER_S = 1.0      # work shorter than this shows no progress display at all
PIPED_EVERY_S = 60.0    # piped (no terminal): one progress line on standard error this often


def progress_lines(label: str) -> Callable[[int, int], None]:
    """Progress for a log: a line on standard error at most every PIPED_EVERY_S, with the count
    done, the total and an ETA (standard output keeps only the command's data)."""
    begun = time.monotonic()
    last = [begun]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < PIPED_EVERY_S or not done:
            return
        last[0] = now
        elapsed = now - begun
        eta = f", eta {fmt_s(elapsed * (total - done) / done)}" if total else ""
        print(f"{label}: {done}/{total or '?'} after {fmt_s(elapsed)}{eta}", file=sys.stderr, flush=True)
    return report


@contextmanager
def progress_bar(label: str, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar with an ETA on a terminal, shown once the work has taken SHOW_AFTER_S; when
    piped, a line a minute on standard error; nothing when quiet. Yields ``report(done, total)``."""
    if quiet:
        yield lambda done, total: None
        return
    if not console.is_terminal:
        yield progress_lines(label)      # rich.progress (~0.1 s) stays unloaded
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
    progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("eta"), TimeRemainingColumn(), console=rich_console(), transient=True)
    task = progress.add_task(label, total=None)
    lock, closed = threading.Lock(), []

    def show() -> None:
        with lock:
            if not closed:
                progress.start()
    timer = threading.Timer(SHOW_AFTER_S, show)
    timer.daemon = True
    timer.start()
    try:
        yield lambda done, total: progress.update(task, completed=done, total=total)
    finally:
        with lock:
            closed.append(True)
            timer.cancel()
            progress.stop()


def _same_file(a: str, b: str) -> bool:
    """Two paths that name one file (the same inode, or the same resolved path before it exists)."""
    try:
        first, second = os.stat(a), os.stat(b)
        return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _refuse_colliding_files(kwargs: dict, output_params: tuple, input_params: tuple) -> None:
    """An output never replaces an input, nor another output of the same command: refused
    before anything runs, naming both options."""
    names = {p.name: (p.opts[0] if isinstance(p, click.Option) else p.human_readable_name)
             for p in click.get_current_context().command.params}
    files = [(name, kwargs.get(name), name in output_params) for name in output_params + input_params]
    files = [(name, str(path), is_output) for name, path, is_output in files if path and str(path) != "-"]
    for i, (a, path_a, out_a) in enumerate(files):
        for b, path_b, out_b in files[i + 1:]:
            if (out_a or out_b) and _same_file(path_a, path_b):
                if out_a and out_b:
                    raise click.UsageError(f"{names.get(a, a)} and {names.get(b, b)} both write {path_a}: "
                                           "give each output a file of its own")
                written, read = (a, b) if out_a else (b, a)
                raise click.UsageError(f"{names.get(written, written)} would overwrite {path_a}, the input "
                                       f"{names.get(read, read)}: write it elsewhere")


def output_files(*output_params: str, inputs: tuple[str, ...] = ()) -> Callable:
    """Decorate a command with outputs (named parameters): no two outputs and no output and
    input (``inputs``) may name one file; an output may be '-' (standard output), and while one
    is, the console's tables go to standard error, so standard output carries only the data."""
    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _refuse_colliding_files(kwargs, output_params, inputs)
            if "-" not in (kwargs.get(name) for name in output_params):
                return command(*args, **kwargs)
            saved = console._file            # rich's own default (None: follow sys.stdout)
            console.file = sys.stderr
            try:
                return command(*args, **kwargs)
            finally:
                console._file = saved
        return wrapper
    return decorate


def new_table(title: str, **options: Any) -> Any:
    """A rich table titled on the left (rich.table loads here, not at start-up)."""
    from rich.table import Table
    return Table(title=title, title_justify="left", **options)


def fmt_s(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale or unit == "ns":
            return f"{seconds / scale:.4g} {unit}"
    return f"{seconds} s"


class FamilyCommands(click.Group):
    """The core's commands plus every registered family's (``Family.commands``)."""

    def _family_commands(self) -> dict[str, Any]:
        from accsim.core.registry import families
        found: dict[str, Any] = {}
        for family in families().values():
            for name, ref in family.commands.items():
                if name in self.commands or name in found:
                    raise click.ClickException(f"family {family.name} adds command '{name}', "
                                               "which another command already has")
                found[name] = ref
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*self.commands, *self._family_commands()])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        ref = self._family_commands().get(name)
        return ref.load() if ref is not None else None


@click.group(cls=FamilyCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(accsim.__version__, prog_name="accsim")
def cli() -> None:
    """accsim: cycle-level simulator of LLM accelerators."""
