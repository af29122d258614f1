"""Silence TensorFlow's log noise (Python logging, absl, and C++ writes to fd 1/2)."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile


def quiet_env(verbose: bool) -> None:
    """Set before TensorFlow is imported: C++ logging level and oneDNN notice."""
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def captured_fds(fds: tuple[int, ...] = (1, 2)):
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
def captured_output(verbose: bool):
    """fd 1 and 2 captured unless verbose (TensorFlow's C++ logging, e.g. "fully_quantize: 0, ...")."""
    if verbose:
        yield lambda: ""
        return
    with captured_fds((1, 2)) as text:
        yield text
