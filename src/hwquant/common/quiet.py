"""Silence TensorFlow's log noise (Python logging, absl, and C++ writes to fd 1/2)."""

from __future__ import annotations

import contextlib
import gc
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator

_verbose = False

# LiteRT's native INFO lines: "INFO: [accelerator_registry.cc:43] DestroyAccelerator: ...",
# and absl-style "I0000 00:00:... 123 file.cc:45] ..." lines
NATIVE_INFO = re.compile(r"^(INFO: \[[\w./-]+\.cc:\d+\]|I\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w./-]+\.cc:\d+\])")


def set_verbose(verbose: bool) -> None:
    """The CLI's -v: native log lines are shown instead of filtered."""
    global _verbose
    _verbose = bool(verbose)


def is_verbose() -> bool:
    return _verbose


def quiet_env(verbose: bool) -> None:
    """Set before TensorFlow is imported: C++ logging level and oneDNN notice."""
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def captured_fds(fds: tuple[int, ...] = (1, 2)) -> Iterator[Callable[[], str]]:
    """Redirect file descriptors ``fds`` to a temp file; yields a callable returning the text.

    Native code (TensorFlow's converter, LiteRT, TFLM) writes straight to fd 1/2, which
    Python-level redirection cannot catch, so the descriptors themselves are swapped. The
    callable keeps working after the block ends.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in fds]
    kept: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        for fd in fds:
            os.dup2(sink.fileno(), fd)

        def text() -> str:
            if kept:
                return kept[0]
            sink.seek(0)
            return sink.read().decode("utf-8", "replace")

        try:
            yield text
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip(fds, saved):
                os.dup2(copy, fd)
                os.close(copy)
            kept.append(text())


@contextlib.contextmanager
def captured_output(verbose: bool) -> Iterator[Callable[[], str]]:
    """fd 1 and 2 captured unless verbose (TensorFlow's C++ logging, e.g. "fully_quantize: 0, ...")."""
    if verbose:
        yield lambda: ""
        return
    with captured_fds((1, 2)) as text:
        yield text


@contextlib.contextmanager
def native_info_filtered() -> Iterator[None]:
    """Drop LiteRT's native INFO lines written to fd 2 inside the block (unless -v); pass the rest on.

    LiteRT logs at INFO when it creates and destroys accelerators ("DestroyAccelerator: ...") and
    honours no environment variable for its log level, so fd 2 is captured while accelerator
    objects are made and torn down: ``gc.collect()`` runs before the block ends, so objects that
    died inside it are destroyed, and logged, inside it.
    """
    if _verbose:
        yield
        return
    with captured_fds((2,)) as text:
        try:
            yield
        finally:
            gc.collect()
    kept = [ln for ln in text().splitlines(keepends=True) if not NATIVE_INFO.match(ln)]
    if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()
