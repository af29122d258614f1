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
def captured_output(verbose: bool):
    """Redirect fd 1 and 2 to a temp file unless verbose; yields a callable returning the text.

    TensorFlow's converter prints from C++ (e.g. "fully_quantize: 0, ..."); Python-level
    redirection cannot catch that, so the file descriptors themselves are swapped.
    """
    if verbose:
        yield lambda: ""
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)

        def text() -> str:
            sink.seek(0)
            return sink.read().decode("utf-8", "replace")

        try:
            yield text
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
