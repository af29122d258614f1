"""Errors a user can act on, each mapped to a documented exit code at the CLI edge.

Exit codes (README, "Exit codes"):
  0  success
  1  unexpected internal error (a bug: please report it)
  2  bad usage or bad input (model, data, options)
  3  model incompatible with the target (unsupported op, over budget, nothing maps)
  4  toolchain failure (converter, compiler, Docker, verification of the artifact)
  5  a quality or budget gate failed (--max-size, --min-snr, ...)
  130 interrupted (Ctrl-C or SIGTERM); no partial artifact is left behind
"""

from __future__ import annotations

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
EXIT_INTERRUPTED = 130
