"""Rich consoles for every command: terminal width on a TTY, a wide fixed width in pipes and CI logs."""

from __future__ import annotations

import sys

from rich.console import Console

PIPE_WIDTH = 140  # rich's default of 80 columns squeezes the op and fidelity tables


def make_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else PIPE_WIDTH)
