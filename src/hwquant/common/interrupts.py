"""Interrupts that are never lost: SIGINT and SIGTERM are recorded, and the build checks the record.

Python turns SIGINT into a KeyboardInterrupt at whatever bytecode runs next. When that is a
finalizer (``__del__``, a weakref callback: TensorFlow runs many), Python prints "Exception ignored"
and drops the exception, and the build would go on to replace the earlier artifact. So
``handling()`` installs a handler for SIGINT and SIGTERM (a CI cancel sends SIGTERM) that records
the signal before raising; the pipeline calls ``checkpoint()`` at every stage boundary and before
each folder is moved into place, which raises again if an interrupt was swallowed. Code that
must not be cut half-way (moving a finished folder into place, removing a temporary one) runs
``shielded()``: a signal there is recorded and honoured at the next checkpoint.

``note_written`` records each folder moved into place, so the CLI can say exactly what an
interrupted build wrote; ``temporary`` registers a temporary folder that is removed when the
handling block ends, however it ends.

Before ``handling()`` begins (the first ~0.3 s of a command: Python imports numpy, click, the
backends), ``hwquant.common.early`` (imported first thing by ``hwquant/__init__.py``) makes SIGINT
and SIGTERM exit 130 at once with one line, on the command line only: nothing was written yet. Worker processes of
``--jobs`` ignore SIGINT (Ctrl-C reaches the whole process group; the parent decides, and stops them
with SIGTERM), stop at their next stage boundary on SIGTERM while building (``working()``), and exit
quietly on SIGTERM while idle (``in_worker()``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from hwquant.common import early

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Raised for a recorded SIGINT/SIGTERM (a KeyboardInterrupt, so generic handlers treat it alike)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.depth = 0
        self.pending: int | None = None
        self.shield = 0
        self.written: list[Path] = []
        self.temporary: list[Path] = []


_state = _State()


def _handler(signum: int, frame: FrameType | None) -> None:
    _state.pending = _state.pending or signum
    if _state.shield == 0:
        raise Interrupted(signum)


def _unraisable(previous: Callable[[Any], object]) -> Callable[[Any], None]:
    def hook(info: Any) -> None:
        if isinstance(info.exc_value, KeyboardInterrupt) and _state.pending:
            return  # swallowed by a finalizer: recorded, and raised again at the next checkpoint
        previous(info)

    return hook


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Record SIGINT/SIGTERM for the duration (main thread only; nested blocks share the outer one)."""
    if _state.depth or threading.current_thread() is not threading.main_thread():
        _state.depth += 1
        try:
            yield
        finally:
            _state.depth -= 1
        return
    _state.reset()
    _state.depth = 1
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    old_hook = sys.unraisablehook
    sys.unraisablehook = _unraisable(old_hook)
    try:
        yield
    finally:
        with shielded():
            _end_block()
            sys.unraisablehook = old_hook
            for s, h in previous.items():
                # the command line's early handler would now say exit 130 for a command whose work is done:
                # a signal that late is ignored, and the command ends with its own exit code
                signal.signal(s, signal.SIG_IGN if h is early.exit_at_once else h)
            # acted on inside the block (exit 130), or arrived too late to act on: either way it must not
            # leak into code that runs later in this process (a library caller's build, the next test)
            _state.pending = None


def _end_block() -> None:
    """The end of a handling (or working) block: its temporary folders removed, the depth back to 0."""
    for path in _state.temporary:
        shutil.rmtree(path, ignore_errors=True)
    _state.temporary.clear()
    _state.depth = 0


def _idle_worker(signum: int, frame: FrameType | None) -> None:
    os._exit(early.EXIT_INTERRUPTED)  # nothing under way in this worker: its parent reports the interrupt


def in_worker() -> None:
    """The signal set-up of a --jobs worker process (its pool's initializer): SIGINT ignored (the parent
    got it too, and stops the workers with SIGTERM), SIGTERM ends an idle worker quietly."""
    _state.reset()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _idle_worker)


@contextlib.contextmanager
def working() -> Iterator[None]:
    """In a --jobs worker, while it builds: SIGTERM is recorded and stops the build at its next stage
    boundary (its temporary folders are removed); idle again afterwards."""
    _state.reset()
    _state.depth = 1
    signal.signal(signal.SIGTERM, _handler)
    try:
        yield
    finally:
        with shielded():
            _end_block()
            signal.signal(signal.SIGTERM, _idle_worker)


def pending() -> int | None:
    """The signal received and not yet acted on (None when there was none)."""
    return _state.pending


def checkpoint() -> None:
    """Raise Interrupted if a SIGINT/SIGTERM arrived (even one a finalizer swallowed)."""
    if _state.pending:
        raise Interrupted(_state.pending)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Signals are recorded but not raised inside the block; the next checkpoint raises them."""
    _state.shield += 1
    try:
        yield
    finally:
        _state.shield -= 1


def note_written(path: Path) -> None:
    _state.written.append(Path(path))


def written() -> list[Path]:
    """Folders moved into place since ``handling()`` began."""
    return list(_state.written)


def temporary(path: Path) -> Path:
    """Remove ``path`` when the handling block ends, unless ``release``d first."""
    if _state.depth:
        _state.temporary.append(Path(path))
    return Path(path)


def release(path: Path) -> None:
    with contextlib.suppress(ValueError):
        _state.temporary.remove(Path(path))


def describe_written() -> str:
    """What an interrupted command leaves: true whether or not something was moved into place."""
    done = written()
    if not done:
        return "no artifact was written"
    return (
        "wrote only "
        + ", ".join(str(p) for p in done)
        + " (each complete); no other target folder was written or changed"
    )
