"""Run the converter's native steps in one forked worker process, so a crash cannot take hwquant down.

TensorFlow's converter, calibrator and quantizer are C++ that a user's model can crash (a
segmentation fault in the calibrator on a Keras 3 LSTM was the first seen). Each public step of
converter.py (load, convert, calibrate, quantize, layer sensitivity) therefore runs through
``call``: the request goes to a worker process that was forked from this one after TensorFlow was
imported but before it ran anything, the result comes back pickled. A crash (the worker dies on a
signal or exits) becomes a ``ToolchainError`` (exit 4) naming the step, the signal and what is
known about the model; the worker is started again for the next request.

One worker serves every step of a build (a fork costs milliseconds; a fresh interpreter would pay
TensorFlow's import again), and ``stop`` ends it when the loaded model is cleaned up.

The worker runs only where fork is safe: Linux, and a parent process whose TensorFlow runtime has
not started (a fork after TensorFlow ran ops inherits thread pools without their threads). A
process that already ran TensorFlow itself (a test or notebook that built the model in-process)
runs the steps in-process, as does ``HWQUANT_ISOLATE=0``. ``-v`` leaves the worker's fd 1/2 alone,
so the native output of a crash reaches the terminal.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import gc
import os
import pickle
import re
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from hwquant.common import interrupts
from hwquant.common.errors import HwquantError, ToolchainError

T = TypeVar("T")


class RemoteTraceback(Exception):
    """The worker's traceback, chained to an exception raised there (as concurrent.futures does)."""

    def __init__(self, tb: str):
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


class Crashed(ToolchainError):
    """A native step ended its worker process (a signal or an exit) instead of returning."""

    def __init__(self, message: str, hint: str | None, stage: str, signal_name: str | None, exitcode: int | None):
        super().__init__(message, hint)
        self.stage = stage
        self.signal_name = signal_name
        self.exitcode = exitcode


def _tf_started() -> bool:
    """Whether this process already ran TensorFlow (its eager context exists): forking is unsafe then."""
    mod = sys.modules.get("tensorflow.python.eager.context")
    ctx = getattr(mod, "_context", None) if mod is not None else None
    return ctx is not None and getattr(ctx, "_context_handle", None) is not None


_IN_WORKER = False
FAULTS = "faulthandler.txt"


def isolated() -> bool:
    """Whether ``call`` runs steps in a worker process here (never inside the worker itself)."""
    if _IN_WORKER:
        return False
    if os.environ.get("HWQUANT_ISOLATE", "1").strip().lower() in ("0", "no", "false", "off"):
        return False
    return sys.platform.startswith("linux") and not _tf_started()


# --------------------------------------------------------------------------------------- the worker
def _die_with_parent() -> None:
    """Linux: the worker gets SIGKILL when the process that forked it dies (no orphaned converters)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _portable(exc: BaseException) -> tuple[Any, ...]:
    """An exception raised in the worker, in a form that survives pickling with its fields intact."""
    tb = "".join(traceback.format_exception(exc))
    if isinstance(exc, HwquantError):
        fields = {k: v for k, v in vars(exc).items() if k not in ("message", "hint", "result")}
        with contextlib.suppress(Exception):
            pickle.dumps(fields)
            return ("hwquant", type(exc), exc.message, exc.hint, fields, tb)
        return ("hwquant", type(exc), exc.message, exc.hint, {"exit_code": exc.exit_code}, tb)
    with contextlib.suppress(Exception):
        pickle.loads(pickle.dumps(exc))
        return ("other", exc, tb)
    return ("other", RuntimeError(f"{type(exc).__name__}: {exc}"), tb)


def _rebuild(payload: tuple[Any, ...]) -> BaseException:
    if payload[0] == "hwquant":
        _, cls, message, hint, fields, tb = payload
        exc = cls.__new__(cls)
        HwquantError.__init__(exc, message, hint)
        vars(exc).update(fields)
    else:
        _, exc, tb = payload
    exc.__cause__ = RemoteTraceback(tb)
    return cast(BaseException, exc)


def _serve(conn, parent_conn, tmp: str) -> None:
    global _IN_WORKER
    _IN_WORKER = True
    parent_conn.close()
    # TensorFlow's temporary files (autograph's generated modules, ...) go to a folder the parent
    # removes, so a worker that is killed or crashes leaves nothing behind
    os.environ["TMPDIR"] = tempfile.tempdir = tmp
    # a native crash writes the Python stack it happened under here; the parent reads it (crash_site)
    faulthandler.enable(file=open(Path(tmp) / FAULTS, "w"), all_threads=False)  # noqa: SIM115
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides about interrupts and ends this worker
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        try:
            fn, args, kwargs = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        Path(tmp).mkdir(parents=True, exist_ok=True)  # removed under it when an outer interrupt block ended
        try:
            reply = ("ok", fn(*args, **kwargs))
        except BaseException as exc:  # every failure goes back to the parent, which decides
            reply = ("err", _portable(exc))
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result is a bug here: say so rather than hang
            conn.send(("err", _portable(RuntimeError(f"the worker's result could not be sent back: {exc}"))))


class _Worker:
    def __init__(self) -> None:
        from multiprocessing import get_context

        ctx = get_context("fork")
        gc.freeze()  # the worker's collector then leaves the inherited objects (and their pages) alone
        with interrupts.shielded():
            self.tmp = interrupts.temporary(Path(tempfile.mkdtemp(prefix="hwquant-worker-")))
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_serve, args=(child, self.conn, str(self.tmp)), daemon=True, name="hwquant-convert"
        )
        self.proc.start()
        child.close()
        self.owner = os.getpid()

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.proc.is_alive()

    def stop(self, kill: bool = False) -> None:
        if self.owner != os.getpid():
            return  # inherited through a fork (a --jobs worker): not ours to end
        with contextlib.suppress(Exception):
            self.conn.close()
        if kill and self.proc.is_alive():
            with contextlib.suppress(Exception):
                self.proc.kill()
        self.proc.join(timeout=None if kill else 10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        with interrupts.shielded():
            shutil.rmtree(self.tmp, ignore_errors=True)
            interrupts.release(self.tmp)


_worker: _Worker | None = None


def _get() -> _Worker:
    global _worker
    if _worker is None or not _worker.alive():
        if _worker is not None and _worker.owner == os.getpid():
            _worker.stop(kill=True)
        _worker = _Worker()
    return _worker


def stop() -> None:
    """End the worker (the next ``call`` starts a new one)."""
    global _worker
    if _worker is not None:
        _worker.stop()
        _worker = None


atexit.register(stop)


# --------------------------------------------------------------------------------------- the parent
def signal_name(code: int | None) -> str | None:
    if code is None or code >= 0:
        return None
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def call(
    fn: Callable[..., T],
    *args: Any,
    stage: str,
    tool: str,
    about: str | Callable[[], str] = "",
    verbose: bool = False,
    **kwargs: Any,
) -> T:
    """``fn(*args, **kwargs)`` in the worker (in-process where isolation is off); a crash there is
    a ``Crashed`` error: "{tool} crashed (SIGSEGV) while {stage}; {about}" (``about`` may be a
    callable, asked only after a crash). ``fn`` must be a module-level function; its arguments and
    result are pickled."""
    if not isolated():
        return fn(*args, **kwargs)
    global _worker
    w = _get()
    try:
        w.conn.send((fn, args, kwargs))
        status, payload = w.conn.recv()
    except (EOFError, OSError):
        w.proc.join()
        faults = _read(Path(w.tmp) / FAULTS)
        w.stop(kill=True)
        code = w.proc.exitcode
        _worker = None
        if verbose and faults:
            print(faults, file=sys.stderr, flush=True)
        err = crashed(stage, tool, code, about() if callable(about) else about, verbose, crash_site(faults))
        raise err from None
    except BaseException:  # an interrupt while the worker runs: its state is unknown, end it
        w.stop(kill=True)
        _worker = None
        raise
    if status == "err":
        raise _rebuild(payload)
    return cast(T, payload)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+) in (\S+)', re.MULTILINE)


def crash_site(faults: str) -> str:
    """The innermost Python frame of a faulthandler dump: "calibrator.py:123 _feed_tensors"."""
    m = _FRAME.search(faults)
    return f"{Path(m.group(1)).name}:{m.group(2)} {m.group(3)}" if m else ""


def crashed(stage: str, tool: str, code: int | None, about: str = "", verbose: bool = False, site: str = "") -> Crashed:
    sig = signal_name(code)
    how = f"crashed ({sig})" if sig else f"ended the worker process (exit code {code})"
    where = f" (in {site})" if site else ""
    message = f"{tool} {how} while {stage}{where}" + (f"; {about}" if about else "")
    hints = []
    if sig == "SIGKILL":
        hints.append("the process was killed, often for lack of memory: free memory or build a smaller model")
    hints.append("hwquant itself is unaffected and left no partial artifact")
    if not verbose:
        hints.append("rerun with -v to see the native output")
    return Crashed(message, "; ".join(hints), stage, sig, code)
