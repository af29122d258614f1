"""Progress on long work (loading, calibration, each search candidate, Vela, the TFLM verification, the
Edge TPU compile), drawn on stderr while a command runs.

Code that does long work (the pipeline, built-in and third-party backends through ``hwquant.progress``)
reports it with ``stage()``::

    with progress.stage("vela: compiling for ethos-u55-128"):
        run_vela()
    with progress.stage("calibrating", total=len(samples)) as p:
        for s in samples:
            ...
            p.advance()

Only the command line draws (``shown()``), and only when stderr is a terminal: in pipes, CI logs,
tests, library use (``hwquant.build()``) and worker processes (forked --jobs workers, the
converter's crash-containing worker) every call is a no-op that draws nothing and costs nothing.
There is one live display per command: stages nest (a target, its search, a candidate) as indented
lines under each other, and each line goes away when its stage ends, so nothing of the display is
left on the terminal when the command prints its verdict on stdout.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

INDENT = "  "  # per nesting level of the stage lines


class Stage:
    """A handle on one stage's line: ``advance()`` counts a step of ``total``, ``note()`` says what
    the stage is doing now (after its name). A handle of a display that is not shown does nothing."""

    def __init__(self, display: _Display | None = None, task: Any = None, label: str = "") -> None:
        self._display = display
        self._task = task
        self._label = label

    def advance(self, steps: int = 1) -> None:
        if self._display is not None:
            self._display.bar.advance(self._task, steps)

    def note(self, text: str) -> None:
        if self._display is not None:
            self._display.bar.update(self._task, description=f"{self._label}: {text}" if text else self._label)

    def total(self, total: int | None) -> None:
        """Set (or clear) the number of steps once it is known."""
        if self._display is not None:
            self._display.bar.update(self._task, total=total)

    def grow(self, steps: int = 1) -> None:
        """``steps`` more to do than the total said (work found on the way)."""
        if self._display is not None:
            task = next(t for t in self._display.bar.tasks if t.id == self._task)
            self._display.bar.update(self._task, total=(task.total or 0) + steps)


_NULL = Stage()


class _Display:
    """rich's Progress on stderr, owned by the process that started it."""

    def __init__(self, console: Any, restore: Any) -> None:
        from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        class WhenCounted(ProgressColumn):
            """A column drawn only for stages that count steps (spinner and time are enough otherwise)."""

            def __init__(self, inner: ProgressColumn) -> None:
                super().__init__()
                self.inner = inner

            def render(self, task: Any) -> Any:
                return self.inner.render(task) if task.total is not None else Text("")

        self.pid = os.getpid()
        self.depth = 0
        self.lock = threading.Lock()
        self.console, self.restore = console, restore
        self.children_read = self.children_write = -1  # the pipe forked children write fd 2 into
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            WhenCounted(BarColumn(bar_width=24)),
            WhenCounted(TextColumn("{task.completed}/{task.total}")),
            TimeElapsedColumn(),
            console=console,
            transient=True,  # the lines go when the command ends: the terminal keeps the verdict only
            redirect_stdout=False,  # stdout carries the verdict or --json: never routed through stderr
            redirect_stderr=True,  # a write to sys.stderr is printed above the display, not through it
            refresh_per_second=8,
        )


_display: _Display | None = None


def _current() -> _Display | None:
    """The display this process draws on, if any (a forked child never draws its parent's)."""
    d = _display
    return d if d is not None and d.pid == os.getpid() else None


def active() -> bool:
    """Whether stages are drawn right now (in this process)."""
    return _current() is not None


@contextlib.contextmanager
def stage(name: str, total: int | None = None) -> Iterator[Stage]:
    """A line on the display while the block runs: ``name``, a spinner, the time it has taken, and a
    bar with ``completed/total`` when ``total`` is given. Nested stages are indented under it."""
    d = _current()
    if d is None:
        yield _NULL
        return
    with d.lock:
        label = INDENT * d.depth + name
        d.depth += 1
    task = d.bar.add_task(label, total=total)
    try:
        yield Stage(d, task, label)
    finally:
        with d.lock:
            d.depth -= 1
        with contextlib.suppress(KeyError):  # the display was stopped inside the block
            d.bar.remove_task(task)


def track(items: Iterable[T], name: str, total: int | None = None) -> Iterator[T]:
    """Each item of ``items`` in turn, counted on a stage line (``total`` defaults to ``len(items)``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with stage(name, total) as p:
        for item in items:
            yield item
            p.advance()


def wanted(console: Any) -> bool:
    """Whether a display would be drawn on ``console``'s stream: a terminal that can move the cursor."""
    stream = sys.stderr if getattr(console, "stderr", False) else sys.stdout
    try:
        tty = os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


@contextlib.contextmanager
def shown(console: Any, enabled: bool = True) -> Iterator[None]:
    """Draw every stage of the block on ``console`` (the command's stderr console) when ``enabled``
    and its stream is a terminal; otherwise (pipes, CI logs, --quiet) draw nothing.

    While shown, ``console`` writes to its own copy of the terminal's file descriptor: native code
    that has fd 2 captured (TensorFlow's and LiteRT's log lines) captures none of the display, and
    what the command logs on ``console`` is printed above the display. Processes forked meanwhile
    (--jobs workers) write their fd 2 into a pipe whose lines this process prints above the display
    too. The display is gone when the block ends, before the command prints anything on stdout."""
    global _display
    if not enabled or _current() is not None or not wanted(console):
        yield
        return
    fd = os.dup(sys.stderr.fileno())
    own = os.fdopen(fd, "w", encoding=getattr(sys.stderr, "encoding", None) or "utf-8", errors="replace")
    before = console._file  # None: the console follows sys.stderr
    console.file = own
    _display = d = _Display(console, before)
    d.children_read, d.children_write = os.pipe()
    forwarder = threading.Thread(target=_forward, args=(d, os.dup(fd)), name="hwquant-progress-children", daemon=True)
    forwarder.start()
    try:
        with d.bar:
            yield
    finally:
        with d.lock:
            _display = None
        os.close(d.children_write)  # EOF for the forwarder once no child holds the pipe either
        forwarder.join(timeout=0.5)  # its lines before the console goes back to sys.stderr
        console.file = before
        own.close()


def _forward(d: _Display, terminal: int) -> None:
    """Each line forked children write to their fd 2: above ``d``'s display while it is shown, then
    straight to the terminal (a child that outlives the display, e.g. the converter's worker)."""
    from rich.text import Text

    rest = b""
    with os.fdopen(d.children_read, "rb", buffering=0) as pipe, contextlib.closing(_Fd(terminal)):
        while chunk := pipe.read(65536):
            *lines, rest = (rest + chunk).split(b"\n")
            for line in lines:
                with d.lock:  # the display is not taken down while a line is printed on it
                    if _display is d:
                        d.console.print(Text.from_ansi(line.decode("utf-8", "replace")), soft_wrap=True)
                    else:
                        os.write(terminal, line + b"\n")
        if rest:
            os.write(terminal, rest)


class _Fd:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


def _forget_in_child() -> None:
    """A forked child (a --jobs worker, the converter's worker) draws nothing: it drops the parent's
    display, and what it writes to stderr (Python or native) goes through the pipe the parent
    prints above its display, never over it."""
    global _display
    d = _display
    if d is not None:
        _display = None
        proxied = getattr(sys.stderr, "rich_proxied_file", None)
        if proxied is not None:
            sys.stderr = proxied
        d.console.file = d.restore
        with contextlib.suppress(OSError):
            sys.stderr.flush()
            os.dup2(d.children_write, 2)
            os.close(d.children_read)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
