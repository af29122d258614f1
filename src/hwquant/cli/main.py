"""The command line: the click group, and the error policy (errors become documented exit codes here
and nowhere else). Each command lives in its own module: build, check, init, targets, plan, and
runtime (bench, inspect)."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

import click

from hwquant.cli.build import build
from hwquant.cli.check import check
from hwquant.cli.init import init
from hwquant.cli.plan import plan
from hwquant.cli.report_cmd import report
from hwquant.cli.shared import console, err_console, show
from hwquant.cli.targets import targets
from hwquant.common import interrupts, quiet, tempdirs
from hwquant.common.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, HwquantError, UserCodeError, classify
from hwquant.common.version import __version__

__all__ = ["console", "main", "run_guarded"]


def _fail(exc: HwquantError) -> NoReturn:
    if quiet.is_verbose() and exc.__cause__ is not None and isinstance(exc, UserCodeError):
        traceback.print_exception(exc.__cause__, file=sys.stderr)  # the user's code: where it raised
    err_console.print("[red]error:[/red] ", end="")
    err_console.print(exc.message, markup=False, soft_wrap=True)
    if exc.hint:
        err_console.print(f"  hint: {exc.hint}", markup=False, soft_wrap=True)
    sys.exit(exc.exit_code)


# click's own ways out of a command: its usage errors (exit 2), ctx.exit(), --help
_CLICK = (click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort)


def run_guarded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a command body under the one exception policy, mapping Ctrl-C / SIGTERM to exit 130.

    HwquantErrors exit with their own code; every other exception is classified
    (hwquant.common.errors.classify): OS errors, running out of memory, input nested too deeply, numbers
    too large and exceptions from the user's code are exit 2 with a message and a fix; anything else is
    a fault in hwquant, exit 1 with its traceback. An interrupt is never lost: one swallowed anywhere
    (a finalizer, an error handler) is still recorded and ends the command with exit 130, saying
    exactly which folders were written.
    """
    with interrupts.handling():
        try:
            result = fn(*args, **kwargs)
            interrupts.checkpoint()
            return result
        except HwquantError as exc:
            if interrupts.pending():  # an error caused by the interrupt (e.g. a killed child process)
                _interrupted()
            if exc.result is not None:
                show(exc.result)
            for result in getattr(exc, "results", []):  # targets that built before or after a failed one
                show(result)
            _fail(exc)
        except KeyboardInterrupt:
            _interrupted()
        except (SystemExit, *_CLICK):
            raise
        except Exception as exc:
            if interrupts.pending():
                _interrupted()
            mapped = classify(exc, writing=_writing())
            if mapped is None:
                _internal(exc)
            mapped.__cause__ = exc
            if quiet.is_verbose():
                traceback.print_exception(exc, file=sys.stderr)
            _fail(mapped)


def _writing() -> str | None:
    """The folder the command writes (--out, -o), named when an OS error carries no path of its own."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        for key in ("out", "output"):
            if ctx.params.get(key):
                return f"writing under {ctx.params[key]}"
        ctx = ctx.parent
    return None


def _internal(exc: BaseException) -> NoReturn:
    """A fault in hwquant's own logic: the traceback, and a request to report it (exit 1)."""
    traceback.print_exception(exc, file=sys.stderr)
    err_console.print(
        f"internal error: {type(exc).__name__} is a bug in hwquant {__version__}; please report it with the "
        "traceback above",
        markup=False,
        soft_wrap=True,
    )
    sys.exit(EXIT_INTERNAL)


def _interrupted() -> NoReturn:
    with interrupts.shielded():
        err_console.print(f"interrupted: {interrupts.describe_written()}", markup=False, soft_wrap=True)
        sys.exit(EXIT_INTERRUPTED)


class _Guarded(click.Group):
    """The group runs every command under run_guarded, so a command that does not call it itself (bench,
    inspect) gets the same exception policy and interrupt handling."""

    def invoke(self, ctx: click.Context) -> Any:
        return run_guarded(super().invoke, ctx)


@click.group(cls=_Guarded, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hwquant")
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's (and Vela's) own log output.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Hardware-targeted post-training quantization builds for TensorFlow / Keras models.

    Exit codes: 0 ok, 2 bad usage or input, 3 model incompatible with target, 4 toolchain
    failure, 5 gate failed, 130 interrupted.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.with_resource(tempdirs.private())  # before TensorFlow loads: nothing left in $TMPDIR or $HOME
    quiet.set_verbose(verbose)  # LiteRT's native INFO lines are shown only with -v
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _add_runtime_commands() -> None:
    try:
        from hwquant.cli.runtime import bench, inspect
    except ImportError:  # pragma: no cover - written alongside
        return
    main.add_command(bench)
    main.add_command(inspect)


for _command in (build, init, check, targets):
    main.add_command(_command)
_add_runtime_commands()
main.add_command(plan)
main.add_command(report)

if __name__ == "__main__":  # pragma: no cover
    main()
