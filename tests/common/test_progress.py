"""The progress display: drawn only by the process that shows it, only on a terminal; a no-op elsewhere."""

from __future__ import annotations

import os
import sys

import pytest
from rich.console import Console

from hwquant.common import progress


def test_stages_are_no_ops_when_nothing_is_shown():
    assert not progress.active()
    with progress.stage("calibrating", total=3) as p:
        p.advance()
        p.note("sample 2")
        p.grow()
        p.total(None)
    assert list(progress.track([1, 2, 3], "items")) == [1, 2, 3]


def test_not_shown_when_stderr_is_not_a_terminal(capsys):
    console = Console(stderr=True)
    with progress.shown(console):
        assert not progress.active()
        with progress.stage("calibrating"):
            pass
    assert capsys.readouterr().err == ""


@pytest.fixture
def terminal(monkeypatch):
    """A pseudo-terminal; yields a function that puts sys.stderr on it (inside the test: pytest's
    capture sets sys.stderr again between setup and call) and returns what the terminal received."""
    master, slave = os.openpty()
    os.set_blocking(master, False)
    stream = os.fdopen(slave, "w", encoding="utf-8")
    monkeypatch.setenv("TERM", "xterm-256color")
    seen = bytearray()

    def received() -> str:
        if sys.stderr is not stream:
            monkeypatch.setattr(sys, "stderr", stream)
        stream.flush()
        while True:
            try:
                chunk = os.read(master, 65536)
            except BlockingIOError:
                return seen.decode("utf-8", "replace")
            seen.extend(chunk)

    yield received
    stream.close()
    os.close(master)


def test_shown_on_a_terminal_draws_nested_stages_and_prints_logs_above(terminal):
    terminal()
    console = Console(stderr=True)
    with progress.shown(console):
        assert progress.active()
        with progress.stage("searching recipes", total=2) as p, progress.stage("candidate int16x8"):
            console.print("a note while the display runs")
            p.advance()
            received = terminal()
    received += terminal()
    assert "searching recipes" in received and "  candidate int16x8" in received  # nested: indented
    assert "a note while the display runs" in received
    assert not progress.active() and console._file is None  # the console follows sys.stderr again


def test_shown_draws_nothing_with_quiet_or_disabled(terminal):
    terminal()
    with progress.shown(Console(stderr=True), enabled=False):
        assert not progress.active()
        with progress.stage("calibrating"):
            pass
    assert terminal() == ""


def test_a_forked_child_never_draws_its_parents_display(terminal):
    """--jobs workers and the converter's worker fork while the display runs: they draw nothing, and
    what they write to stderr (Python or native, fd 2) reaches the terminal through the parent."""
    terminal()
    read, write = os.pipe()
    with progress.shown(Console(stderr=True)), progress.stage("in the parent"):
        pid = os.fork()
        if pid == 0:  # the child: report whether it would draw, then leave without cleanup
            with progress.stage("in the child"):
                os.write(write, b"active" if progress.active() else b"silent")
            print("a note from the child", file=sys.stderr, flush=True)
            os.write(2, b"native bytes from the child\n")
            os._exit(0)
        os.waitpid(pid, 0)
    os.close(write)
    assert os.read(read, 16) == b"silent"
    os.close(read)
    received = terminal()
    assert "in the parent" in received and "in the child" not in received
    assert "a note from the child" in received and "native bytes from the child" in received
