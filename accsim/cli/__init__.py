"""The ``accsim`` command line.

Every user error (bad option, unknown name, bad YAML, impossible configuration) ends in
``error: ...`` lines on stderr and a non-zero exit code, never a traceback. Commands live in
one module per group (``info``, ``run``, ``serve``, ``sweeps``, ``validate``); families add their own
(``Family.commands``: ``accsim dram``, ``accsim gemm``).
"""
from __future__ import annotations

import signal
import sys
from typing import Sequence

import click

from accsim.cli import info, run, serve, sweeps, validate  # noqa: F401  (each adds its commands)
from accsim.cli.common import cli
from accsim.core.errors import AccsimError, printable

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the CLI and turn user errors into one-line messages and exit codes."""
    def err_line(text: str) -> None:
        click.echo(printable(text), err=True)
    if hasattr(signal, "SIGXFSZ"):       # a file-size limit: a write fails with EFBIG, not a core dump
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        # without standalone mode click returns (not raises) the code of a command's Exit
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="accsim",
                        standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 2
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "accsim"
        err_line(f"error: {exc.format_message()} (see '{command} --help')")
        return 2
    except click.ClickException as exc:
        err_line(f"error: {exc.format_message()}")
        return exc.exit_code or 1
    except AccsimError as exc:
        for line in str(exc).splitlines():
            err_line(f"error: {line}")
        return 1
    except click.exceptions.Abort:
        err_line("error: aborted")
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
