"""Errors a user can act on, each mapped to a documented exit code at the CLI edge.

Exit codes (README, "Exit codes"):
  0  success
  1  unexpected internal error (a bug: please report it)
  2  bad usage or bad input (model, data, options)
  3  model incompatible with the target (unsupported op, over budget, nothing maps)
  4  toolchain failure (converter, compiler, Docker, verification of the artifact)
  5  a quality or budget gate failed (--max-size, --min-snr, ...)
  130 interrupted (Ctrl-C or SIGTERM); no partial artifact is left behind

The CLI edge applies one policy to every other exception (``classify``): an OSError is exit 2 naming
the path, what went wrong and a fix (one table, ``OS_ERRORS``); MemoryError, RecursionError (input
nested too deeply) and OverflowError (a number too large) are exit 2; an exception raised by the
user's own code (a data module or function) arrives as a ``UserCodeError`` (exit 2, naming the source
and the error's first line; ``-v`` shows its traceback). Anything else is a fault in hwquant: exit 1
with the traceback.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any


class HwquantError(Exception):
    """Base class: `message` says what is wrong, `hint` how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.result: Any = None  # a partial BuildResult (e.g. a preflight report) to show with the error

    def with_result(self, result: Any) -> HwquantError:
        self.result = result
        return self

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(HwquantError):
    """Bad command-line usage or options (unknown target, unknown recipe, ...)."""

    exit_code = 2


class InputError(HwquantError):
    """The model or the data given cannot be used as it is."""

    exit_code = 2


class UserCodeError(InputError):
    """The user's own code (a data module or function) raised: exit 2 naming ``source`` and the error's first
    line; the original exception is the ``__cause__`` (its traceback is shown under ``-v``)."""

    def __init__(self, source: str, exc: BaseException, doing: str = "raised", hint: str | None = None):
        super().__init__(f"{source} {doing} {type(exc).__name__}: {first_line(exc, 200)}", hint=hint)
        self.source = source
        self.__cause__ = exc


class IncompatibleError(HwquantError):
    """The model cannot run on the chosen target."""

    exit_code = 3


class ToolchainError(HwquantError):
    """A converter, compiler or container failed, or the artifact failed to run."""

    exit_code = 4


class GateError(HwquantError):
    """A CI gate (size, arena, fidelity, latency) was not met."""

    exit_code = 5


class TargetsFailed(HwquantError):
    """Some targets of a multi-target build failed; the others were built and are in ``results``."""

    def __init__(self, failures: dict[str, HwquantError], results: list[Any]):
        first = next(iter(failures.values()))
        lines = [f"{name} (exit {exc.exit_code}): {exc.message}" for name, exc in failures.items()]
        super().__init__(
            f"{len(failures)} of {len(failures) + len(results)} targets failed:\n  " + "\n  ".join(lines),
            hint=first.hint,
        )
        self.exit_code = first.exit_code  # the first failing target's code
        self.failures = failures
        self.results = results


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (tool errors are often pages long)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class OsFault:
    """How the CLI reports an OSError of one errno: its exit code, what it means, and the fix."""

    code: int
    why: str
    fix: str


_SPACE = "free space on that disk, or write elsewhere (another --out, -o or --cache-dir folder)"
_PERMS = "check the permissions of the path, or choose a path you may read and write"
_FILES = "raise the open-files limit (ulimit -n) or build fewer models at once (--jobs)"
# One table for every OSError that reaches the CLI edge (and for checked() in common/files.py); an errno
# not listed is exit 2 with the system's own words. Every OSError is the environment's or the input's
# fault, not hwquant's: none is exit 1.
OS_ERRORS: dict[int, OsFault] = {
    errno.ENOSPC: OsFault(2, "no space left on the device", _SPACE),
    errno.EDQUOT: OsFault(2, "disk quota exceeded", _SPACE),
    errno.EFBIG: OsFault(2, "file too large for the file system", _SPACE),
    errno.ENAMETOOLONG: OsFault(2, "the path or one of its names is too long", "use a shorter path"),
    errno.ELOOP: OsFault(
        2, "too many levels of symbolic links (a symlink loop?)", "fix or remove the symlink (ls -l shows it)"
    ),
    errno.EACCES: OsFault(2, "permission denied", _PERMS),
    errno.EPERM: OsFault(2, "operation not permitted", _PERMS),
    errno.EROFS: OsFault(2, "read-only file system", "write to a folder on a writable file system instead"),
    errno.EMFILE: OsFault(2, "too many open files", _FILES),
    errno.ENFILE: OsFault(2, "too many open files in the system", _FILES),
    errno.ENOTDIR: OsFault(2, "a part of the path is not a folder", "check the path"),
    errno.EISDIR: OsFault(2, "a folder where a file was expected", "check the path"),
    errno.ENOENT: OsFault(2, "no such file or directory", "check the path (was it removed during the run?)"),
    errno.EEXIST: OsFault(2, "already exists", "remove it, or choose another path"),
    errno.ENOTEMPTY: OsFault(2, "folder not empty", "remove it, or choose another path"),
    errno.EXDEV: OsFault(2, "cannot move across file systems", "keep --out and the temp dir on one file system"),
    errno.EBUSY: OsFault(2, "device or resource busy", "retry when it is free, or choose another path"),
    errno.ETXTBSY: OsFault(2, "text file busy", "retry when it is free, or choose another path"),
    errno.ENOMEM: OsFault(2, "out of memory", "free memory, or pass fewer samples (--max-samples)"),
    errno.EIO: OsFault(2, "input/output error (a failing disk or network file system?)", "check the device"),
    errno.ENXIO: OsFault(2, "no such device (a FIFO or device with nothing behind it?)", "pass a regular file"),
    errno.EINVAL: OsFault(2, "invalid argument (a name the file system refuses?)", "use a plainer path"),
}


def os_error(exc: OSError) -> OsFault:
    """The table's row for ``exc`` (exit 2 with the system's words when its errno is not listed)."""
    row = OS_ERRORS.get(exc.errno or 0)
    return row or OsFault(2, exc.strerror or type(exc).__name__, "check the path and retry")


_memory_notes: list[str] = []


def note_memory(estimate: str) -> None:
    """Record an estimate of the memory a step needs (e.g. the samples of a data source), named when a
    MemoryError reaches the CLI edge."""
    _memory_notes.append(estimate)
    del _memory_notes[:-3]


def classify(exc: BaseException, writing: str | None = None) -> HwquantError | None:
    """The policy for an exception that is not a HwquantError: the error to report (exit 2), or None for a
    fault in hwquant itself (exit 1 with its traceback). ``writing``: the folder being written, named
    when an OSError carries no path (a full disk on write)."""
    if isinstance(exc, OSError):
        row = os_error(exc)
        where = exc.filename or writing
        path = f"{_show(where)}: " if where else ""
        also = f" and {_show(exc.filename2)}" if exc.filename2 else ""
        err: HwquantError = InputError(
            f"{path}{row.why}{also} [{errno.errorcode.get(exc.errno or 0, 'OSError')}]", row.fix
        )
        err.exit_code = row.code
        return err
    if isinstance(exc, RuntimeError) and str(exc).startswith("Symlink loop from"):  # pathlib.resolve (3.11, 3.12)
        return InputError(
            f"{str(exc).split('from', 1)[1].strip().strip(chr(39))}: {OS_ERRORS[errno.ELOOP].why}",
            OS_ERRORS[errno.ELOOP].fix,
        )
    if isinstance(exc, ValueError) and "embedded null" in str(exc):  # os.stat, open(): a path holding NUL
        return InputError("a path holds a NUL character, which no file name can", hint="check the path given")
    if isinstance(exc, MemoryError):
        known = "; estimated: " + "; ".join(_memory_notes) if _memory_notes else ""
        return InputError(
            f"ran out of memory{known}",
            hint="pass fewer or smaller samples (--max-samples, --image-size), or run where more memory is free",
        )
    if isinstance(exc, RecursionError):
        return InputError(
            f"an input is nested too deeply to read ({first_line(exc, 200)})",
            hint="pass a file written by hwquant or by a tool that writes plain, shallow JSON/TOML",
        )
    if isinstance(exc, OverflowError):
        return InputError(f"a number is too large to use ({first_line(exc, 200)})", hint="pass a smaller number")
    return None


def _show(path: Any) -> str:
    """A path as shown in messages: one line, bounded."""
    s = str(path)
    s = s.encode("unicode_escape").decode("ascii") if not s.isprintable() else s
    return s if len(s) <= 300 else s[:140] + " ... " + s[-140:]
