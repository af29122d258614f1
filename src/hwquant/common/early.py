"""The first thing the command line runs: until ``interrupts.handling()`` takes over, SIGINT and SIGTERM
exit 130 at once with one line, no traceback. Imports only ``os``, ``signal`` and ``sys`` so it is in
place within milliseconds of the interpreter starting, before numpy, click or the backends load.

A library caller (``import hwquant`` in a notebook or a script) keeps its own handlers: ``install()``
acts only in the ``hwquant`` console script and ``python -m hwquant.cli``.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys

EXIT_INTERRUPTED = 130  # as hwquant.common.errors (not imported here: this must stay light)


def exit_at_once(signum: int, frame: object) -> None:
    """Before handling() began: no build is under way; one line, exit 130. (Once handling() ends, the
    command's work is done and a late signal is ignored: see interrupts.handling.)"""
    try:
        os.write(2, b"interrupted: no artifact was written\n")
    finally:
        os._exit(EXIT_INTERRUPTED)


def is_command_line() -> bool:
    """True in the ``hwquant`` console script and ``python -m hwquant.cli``, never in a library caller."""
    argv0 = sys.argv[0].replace("\\", "/").rsplit("/", 1)[-1] if sys.argv else ""
    if argv0 in ("hwquant", "hwquant.exe"):
        return True
    orig = list(getattr(sys, "orig_argv", []))
    return any(a == "-m" and b in ("hwquant.cli", "hwquant") for a, b in itertools.pairwise(orig))


def install() -> None:
    """Signals still at Python's defaults exit 130 with one line (the command line's process only)."""
    if not is_command_line():
        return
    for s in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(s) in (signal.default_int_handler, signal.SIG_DFL):
            signal.signal(s, exit_at_once)


install()  # on import: hwquant/__init__.py imports this module before anything else
