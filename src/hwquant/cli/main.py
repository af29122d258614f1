"""The command line: the click group, and the error policy (errors become documented exit codes here
and nowhere else). Each command lives in its own module: build, check, init, targets, plan, and
runtime (bench, inspect)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from hwquant.cli.build import build
from hwquant.cli.check import check
from hwquant.cli.init import init
from hwquant.cli.plan import plan
from hwquant.cli.report_cmd import report
from hwquant.cli.shared import console, err_console, show
from hwquant.cli.targets import targets
from hwquant.common import interrupts, quiet
from hwquant.common.errors import EXIT_INTERRUPTED, HwquantError
from hwquant.common.version import __version__

__all__ = ["console", "main", "run_guarded"]


def _fail(exc: HwquantError) -> None:
    err_console.print("[red]error:[/red] ", end="")
    err_console.print(exc.message, markup=False, soft_wrap=True)
    if exc.hint:
        err_console.print(f"  hint: {exc.hint}", markup=False, soft_wrap=True)
    sys.exit(exc.exit_code)


def run_guarded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a command body, mapping errors and Ctrl-C / SIGTERM to exit codes.

    An interrupt is never lost: one swallowed anywhere (a finalizer, an error handler) is still
    recorded and ends the command with exit 130, saying exactly which folders were written.
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


def _interrupted() -> None:
    with interrupts.shielded():
        err_console.print(f"interrupted: {interrupts.describe_written()}", markup=False, soft_wrap=True)
        sys.exit(EXIT_INTERRUPTED)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
