"""Rich consoles for every command: terminal width on a TTY, a wide fixed width in pipes and CI logs;
and whether the command runs quiet (`hwquant build -q`: errors and the verdict, nothing else)."""

from __future__ import annotations

import sys

from rich.console import Console

PIPE_WIDTH = 140  # rich's default of 80 columns squeezes the op and fidelity tables

_quiet = False


def make_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else PIPE_WIDTH)


def set_quiet(quiet: bool) -> None:
    """-q: notes, warnings and progress are not printed (errors still are). Forked --jobs workers
    inherit it."""
    global _quiet
    _quiet = bool(quiet)


def is_quiet() -> bool:
    return _quiet
