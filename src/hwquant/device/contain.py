"""Run native code on user models in one worker process, so a crash cannot take hwquant down.

TensorFlow's converter and calibrator, the LiteRT interpreter and the TFLM interpreter are C++ that
a user's model can crash: a segmentation fault in the calibrator on a Keras 3 LSTM, an abort in
TFLM's (and LiteRT's reference) softmax when its int8 input scale is below 2**-26. Every such step
runs through ``call``: the request (a module-level function and its arguments, pickled) goes to a
worker process, the result comes back by pipe. A worker that dies on a signal or exits becomes a
``Crashed`` error (a ``ToolchainError``, exit 4) naming the tool, the stage, the signal, the
innermost Python frame and what the caller knows about the model; the next request starts a new
worker. hwquant itself never dies of it, and never exits with a negative code.

One worker serves every step of a build, the converter's and the interpreters' alike: the request
costs a pickle and a pipe round trip, never a new process (``Shared`` arguments, such as the
evaluation data, cross the pipe once per worker).

How the worker starts:

- **fork** (Linux, the usual case): forked from this process, which imported TensorFlow (the CLI
  does, before its first request) but never ran it. A fork costs milliseconds and inherits every
  imported module. ``LoadedModel.cleanup`` ends it with the build.
- **a fresh interpreter** (Linux, when this process already ran TensorFlow: a notebook or a script
  that built its model in-process, then ``hwquant.build(model)``): forking then is unsafe (the
  child inherits TensorFlow's thread pools and locks without their threads), so the worker is a
  fresh Python interpreter talking over a socket pair. It costs one interpreter start
  and, for a build that converts, one TensorFlow import (2-5 s), so it is kept for the life of the
  process rather than per build.
- **in-process**: other platforms, inside the worker itself, and with ``HWQUANT_ISOLATE=0`` (a crash
  then ends hwquant, as native code does anywhere).

This module imports no TensorFlow (it only reads ``sys.modules`` to learn whether TensorFlow ran),
so the runtime-only install uses it too; backends reach it as ``hwquant.contain``.

``-v`` leaves the worker's fd 1/2 alone, so native output (and a crash's last words) reach the
terminal. Without ``-v``, a request made with ``capture=True`` has fd 1/2 redirected to a file the
parent reads after a crash: the message then quotes the tool's last line.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import gc
import itertools
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

from hwquant.common import interrupts, quiet
from hwquant.common.errors import HwquantError, ToolchainError

T = TypeVar("T")

FAULTS = "faulthandler.txt"  # the worker's faulthandler dump (the Python stack of a native crash)
NATIVE = "native.txt"  # fd 1/2 of the request being served, for capture=True requests without -v
STEP = "step.txt"  # the native step the request is in (``step``), read after a crash


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


# ------------------------------------------------------------------------------------- the policy
def tf_started() -> bool:
    """Whether this process already ran TensorFlow (its eager context exists): forking is unsafe then.
    Reads ``sys.modules`` only: never imports TensorFlow."""
    mod = sys.modules.get("tensorflow.python.eager.context")
    ctx = getattr(mod, "_context", None) if mod is not None else None
    return ctx is not None and getattr(ctx, "_context_handle", None) is not None


_IN_WORKER = False


def isolated() -> bool:
    """Whether ``call`` runs steps in a worker process here (never inside the worker itself)."""
    return start_method() != "in-process"


def verbose() -> bool:
    """The CLI's -v: native output reaches the terminal."""
    return quiet.is_verbose()


def start_method() -> str:
    """How the next worker starts: 'fork', 'exec' (a fresh interpreter) or 'in-process' (no worker)."""
    if _IN_WORKER or not sys.platform.startswith("linux"):
        return "in-process"
    if os.environ.get("HWQUANT_ISOLATE", "1").strip().lower() in ("0", "no", "false", "off"):
        return "in-process"
    return "exec" if tf_started() else "fork"


# --------------------------------------------------------------------------- arguments sent once
_keys = itertools.count(1)


class Shared:
    """An argument the worker keeps: sent with the first request that uses it, by key afterwards
    (made by ``shared``)."""

    def __init__(self, value: Any):
        self.value = value
        self.key = next(_keys)
        self.ref: Callable[[], Any] = lambda: self.value

    def get(self) -> Any:
        return self.ref()


class _Keep:
    def __init__(self, key: int, value: Any):
        self.key, self.value = key, value


class _Ref:
    def __init__(self, key: int):
        self.key = key


_shared: dict[int, tuple[weakref.ref[Any], Shared]] = {}
_dead: list[int] = []  # keys of Shared values whose object died: the worker forgets them


def shared(value: Any) -> Any:
    """The one ``Shared`` for the object ``value`` (by identity, while it lives): pass it to ``call``
    in place of ``value`` to send a large argument (evaluation data) once per worker. An object
    without weak references (bytes, a list) is returned as it is: it is sent with each request."""
    hit = _shared.get(id(value))
    if hit is not None and hit[0]() is value:
        return hit[1]
    s = Shared(value)

    def gone(_ref: Any, ident: int = id(value), key: int = s.key) -> None:
        _shared.pop(ident, None)
        _dead.append(key)

    try:
        ref = weakref.ref(value, gone)
    except TypeError:
        return value
    _shared[id(value)] = (ref, s)
    s.value = None  # the worker gets it through the weak reference; this entry must not keep it alive
    s.ref = ref
    return s


def _resolve(arg: Any, kept: dict[int, Any]) -> Any:
    if isinstance(arg, _Keep):
        kept[arg.key] = arg.value
        return arg.value
    if isinstance(arg, _Ref):
        return kept[arg.key]
    return arg.get() if isinstance(arg, Shared) else arg


# --------------------------------------------------------------------------------------- the worker
def _die_with_parent() -> None:
    """Linux: the worker gets SIGKILL when the process that started it dies (no orphaned workers)."""
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
            pickle.loads(pickle.dumps((type(exc), fields)))
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


class _Files:
    """The worker's own files in its folder, opened once (a file opened per request or per step costs
    milliseconds on a busy overlay filesystem): faulthandler's dump, the current step, native output."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.step = -1
        self.native = -1
        self.last_step = ""

    def ready(self, folder: Path) -> None:
        """Open the files (again, when an interrupted build removed the folder under the worker)."""
        if self.folder is not None and (folder / FAULTS).exists():
            return
        folder.mkdir(parents=True, exist_ok=True)
        faults = open(folder / FAULTS, "w")  # noqa: SIM115 - kept open for the dump
        faulthandler.enable(file=faults, all_threads=False)
        flags = os.O_RDWR | os.O_CREAT
        self.step = os.open(folder / STEP, flags, 0o600)
        self.native = os.open(folder / NATIVE, flags | os.O_APPEND, 0o600)
        self.folder, self.last_step = folder, "-"
        self.set_step("")

    def set_step(self, text: str) -> None:
        if text != self.last_step and self.step >= 0:
            # in the kernel's page cache when a crash follows; a fixed-size record needs no truncation
            os.pwrite(self.step, text.encode()[:STEP_BYTES].ljust(STEP_BYTES, b"\0"), 0)
            self.last_step = text


_files = _Files()  # in the worker only
STEP_BYTES = 512


@contextlib.contextmanager
def _native_to_file(capture: bool) -> Iterator[None]:
    """fd 1/2 to the worker's NATIVE file while the request runs (capture=True requests without -v)."""
    if not capture or quiet.is_verbose() or _files.native < 0:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.ftruncate(_files.native, 0)
    saved = [os.dup(1), os.dup(2)]
    os.dup2(_files.native, 1)
    os.dup2(_files.native, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def step(tool: str, stage: str) -> None:
    """Inside a request: the native step that starts now ("the TFLM interpreter", "allocating the
    model"). A crash names this tool instead of the request's own ``tool``, and this step after the
    request's ``stage`` ("while cross-checking ...: allocating the model"). Nothing happens in-process."""
    if _IN_WORKER:
        _files.set_step(f"{tool}\t{stage}")


def _serve(conn: Any, tmp: str) -> None:
    """The worker's loop: requests in, results (or the exception raised) out, until the pipe closes."""
    global _IN_WORKER
    _IN_WORKER = True
    folder = Path(tmp)
    # temporary files (TensorFlow's autograph modules, ...) go to a folder the parent removes, so a
    # worker that is killed or crashes leaves nothing behind
    os.environ["TMPDIR"] = tempfile.tempdir = tmp
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides about interrupts and ends this worker
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    kept: dict[int, Any] = {}
    while True:
        try:
            fn, args, kwargs, verbose, capture, forget, where = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        _follow(where[0], where[1], tmp)
        for key in forget:
            kept.pop(key, None)
        _files.ready(folder)
        _files.set_step("")
        quiet.set_verbose(verbose)
        try:
            args = [_resolve(a, kept) for a in args]
            kwargs = {k: _resolve(v, kept) for k, v in kwargs.items()}
            with _native_to_file(capture):
                reply = ("ok", fn(*args, **kwargs))
        except BaseException as exc:  # every failure goes back to the parent, which decides
            reply = ("err", _portable(exc))
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result is a bug here: say so rather than hang
            conn.send(("err", _portable(RuntimeError(f"the worker's result could not be sent back: {exc}"))))


def _follow(cwd: str, environ: dict[str, str], tmp: str) -> None:
    """The parent's working folder and environment, as they are at this request (a worker kept across
    builds would otherwise resolve relative paths, and read HWQUANT_* settings, as at its start)."""
    with contextlib.suppress(OSError):
        if cwd and str(Path.cwd()) != cwd:
            os.chdir(cwd)
    if environ != os.environ:
        for key in set(os.environ) - set(environ):
            del os.environ[key]
        os.environ.update(environ)
    os.environ["TMPDIR"] = tmp


def _serve_fork(conn: Any, parent_conn: Any, tmp: str) -> None:
    parent_conn.close()
    _serve(conn, tmp)


_EXEC = "import sys; from hwquant.device.contain import _main; _main(sys.argv[1:])"


class _Exec:
    """A worker started as a fresh interpreter (``python -c _EXEC FD TMP``), with
    multiprocessing's Process interface as far as the parent uses it."""

    def __init__(self, fd: int, tmp: Path):
        env = dict(os.environ)  # the parent's import path, so the worker imports the same hwquant
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.popen = subprocess.Popen(
            [sys.executable, "-c", _EXEC, str(fd), str(tmp)],
            pass_fds=(fd,),
            env=env,
            start_new_session=True,  # the terminal's Ctrl-C goes to hwquant, which ends the worker
        )
        self.pid = self.popen.pid

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        self.popen.kill()

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)

    @property
    def exitcode(self) -> int | None:
        return self.popen.returncode


class _Worker:
    def __init__(self, method: str) -> None:
        from multiprocessing.connection import Connection

        self.method = method
        with interrupts.shielded():
            self.tmp = Path(tempfile.mkdtemp(prefix="hwquant-worker-"))
            if method == "fork":  # a build's worker: its folder goes with an interrupted build
                interrupts.temporary(self.tmp)
        self.proc: Any
        if method == "fork":
            from multiprocessing import get_context

            ctx = get_context("fork")
            gc.freeze()  # the worker's collector then leaves the inherited objects (and their pages) alone
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(
                target=_serve_fork, args=(child, self.conn, str(self.tmp)), daemon=True, name="hwquant-worker"
            )
            self.proc.start()
            child.close()
        else:
            mine, theirs = socket.socketpair()
            self.conn = Connection(mine.detach())
            try:
                self.proc = _Exec(theirs.fileno(), self.tmp)
            finally:
                theirs.close()
        self.owner = os.getpid()
        self.sent: set[int] = set()  # keys of the Shared arguments this worker keeps

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.proc.is_alive()

    def wrap(self, arg: Any) -> Any:
        if not isinstance(arg, Shared):
            return arg
        if arg.key in self.sent:
            return _Ref(arg.key)
        self.sent.add(arg.key)
        return _Keep(arg.key, arg.get())

    def forget(self) -> list[int]:
        """Keys of kept values whose object died in the parent: the worker drops them."""
        gone = [k for k in _dead if k in self.sent]
        self.sent.difference_update(gone)
        return gone

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
_lock = threading.RLock()  # one request at a time on the pipe


def _get(method: str) -> _Worker:
    global _worker
    if _worker is None or not _worker.alive() or _worker.method != method:
        if _worker is not None and _worker.owner == os.getpid():
            _worker.stop(kill=not _worker.alive())
        _worker = _Worker(method)
    return _worker


def stop() -> None:
    """End a build's worker (the next ``call`` starts a new one). A fresh-interpreter worker, whose
    start costs an import of TensorFlow, is kept until the process exits."""
    global _worker
    if _worker is not None and _worker.method == "fork":
        _worker.stop()
        _worker = None


def _stop_all() -> None:
    global _worker
    if _worker is not None:
        _worker.stop()
        _worker = None


atexit.register(_stop_all)


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
    verbose: bool | None = None,
    capture: bool = False,
    **kwargs: Any,
) -> T:
    """``fn(*args, **kwargs)`` in the worker (in-process where isolation is off); a crash there is
    a ``Crashed`` error: "{tool} crashed (SIGSEGV) while {stage} (in file.py:12 func); {about}"
    (``about`` may be a callable, asked only after a crash). ``fn`` must be a module-level function;
    its arguments and result are pickled; ``Shared`` arguments are sent once per worker.
    ``verbose`` defaults to the CLI's -v; ``capture`` keeps the tool's fd 1/2 output off the terminal
    (without -v) and quotes its last line after a crash."""
    verbose = quiet.is_verbose() if verbose is None else verbose
    method = start_method()
    if method == "in-process":
        return fn(*[_resolve(a, {}) for a in args], **{k: _resolve(v, {}) for k, v in kwargs.items()})
    with _lock:
        return _request(method, fn, args, kwargs, stage, tool, about, verbose, capture)


def _request(
    method: str,
    fn: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    stage: str,
    tool: str,
    about: str | Callable[[], str],
    verbose: bool,
    capture: bool,
) -> T:
    global _worker
    w = _get(method)
    try:
        request = ([w.wrap(a) for a in args], {k: w.wrap(v) for k, v in kwargs.items()})
        w.conn.send((fn, *request, verbose, capture, w.forget(), (_cwd(), dict(os.environ))))
        status, payload = w.conn.recv()
    except (EOFError, OSError, ConnectionError):
        w.proc.join()
        faults = _read(w.tmp / FAULTS)
        native = _read(w.tmp / NATIVE) if capture else ""
        step_text = _read(w.tmp / STEP).strip("\0")
        if "\t" in step_text:  # the native step the request was in (``step``)
            tool, step_stage = step_text.split("\t", 1)
            stage = f"{stage}: {step_stage}"
        w.stop(kill=True)
        code = w.proc.exitcode
        _worker = None
        if verbose and faults:
            print(faults, file=sys.stderr, flush=True)
        err = crashed(
            stage, tool, code, about() if callable(about) else about, verbose, crash_site(faults), last_line(native)
        )
        raise err from None
    except BaseException:  # an interrupt while the worker runs: its state is unknown, end it
        w.stop(kill=True)
        _worker = None
        raise
    if status == "err":
        raise _rebuild(payload)
    return cast(T, payload)


def _cwd() -> str:
    try:
        return str(Path.cwd())
    except OSError:  # removed under this process: the worker stays where it is
        return ""


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


def last_line(native: str) -> str:
    """The last non-empty line a tool wrote before it died (at most 200 characters)."""
    lines = [ln.strip() for ln in native.splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def crashed(
    stage: str,
    tool: str,
    code: int | None,
    about: str = "",
    verbose: bool = False,
    site: str = "",
    native: str = "",
) -> Crashed:
    """The error for a worker that died: "{tool} crashed (SIGABRT) while {stage} (in site); {about}"."""
    sig = signal_name(code)
    how = f"crashed ({sig})" if sig else f"ended the worker process (exit code {code})"
    where = f" (in {site})" if site else ""
    message = f"{tool} {how} while {stage}{where}" + (f"; {about}" if about else "")
    hints = []
    if native:
        hints.append(f"its last output: {native!r}")
    if sig == "SIGKILL":
        hints.append("the process was killed, often for lack of memory: free memory or build a smaller model")
    hints.append("hwquant itself is unaffected and left no partial artifact")
    if not verbose:
        hints.append("rerun with -v to see the native output")
    return Crashed(message, "; ".join(hints), stage, sig, code)


def _main(argv: list[str]) -> None:
    """The fresh-interpreter worker's entry point (``_EXEC``): serve on the socket FD."""
    from multiprocessing.connection import Connection

    _serve(Connection(int(argv[0])), argv[1])
