"""Click commands for the on-device side: ``hwquant bench`` and ``hwquant inspect``.

The main group (hwquant/cli/main.py) adds them with ``main.add_command(bench)`` and
``main.add_command(inspect)``. Nothing here imports TensorFlow, directly or indirectly.
``python -m hwquant.cli_runtime bench|inspect ...`` runs them without the main CLI.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from hwquant.cli.params import SEED, FiniteFloat


@click.command("bench")
@click.argument("models", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--warmup-runs",
    type=click.IntRange(0, 1_000_000),
    default=1,
    show_default=True,
    help="Runs before timing starts (after the first inference, which is reported alone).",
)
@click.option(
    "--num-runs", type=click.IntRange(1, 10_000_000), default=50, show_default=True, help="Timed runs per model."
)
@click.option(
    "--max-secs",
    type=FiniteFloat(0, 7 * 86400, lo_open=True),
    default=150.0,
    show_default=True,
    help="Stop the timed runs of a model after this many seconds.",
)
@click.option(
    "--num-threads", type=click.IntRange(1, 256), default=None, help="Interpreter threads (default: the runtime's)."
)
@click.option(
    "--accelerator",
    type=click.Choice(["cpu", "gpu"]),
    default="cpu",
    show_default=True,
    help="cpu: LiteRT interpreter (XNNPACK); gpu: LiteRT CompiledModel on the GPU accelerator.",
)
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    default=None,
    help="Inputs: .npz keyed by input name, or .npy for single-input models. Default: random.",
)
@click.option(
    "--reference",
    type=click.Path(dir_okay=False),
    default=None,
    help="Float .tflite to compare outputs with on --data (SNR, errors, cosine, top-1).",
)
@click.option("--signature", default=None, help="Signature to run (default: the first).")
@click.option(
    "--max-samples",
    type=click.IntRange(1, 1_000_000),
    default=100,
    show_default=True,
    help="Samples of --data used for fidelity.",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--profile", is_flag=True, help="Per-op profile where the runtime offers one.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def bench(ctx: click.Context, /, models: tuple[str, ...], as_json: bool, **options: Any) -> None:
    """Benchmark MODEL.tflite [MORE.tflite ...] side by side (the first is the baseline)."""
    from hwquant.device.bench import bench_command

    for path in models:
        _checked(ctx, path, "tflite")
    for key, kind in (("data", "data"), ("reference", "tflite")):
        if options.get(key):
            _checked(ctx, options[key], kind, what=f"--{key} file")
    ctx.exit(bench_command(list(models), as_json=as_json, **options))


@click.command("inspect")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def inspect(ctx: click.Context, /, model: str, as_json: bool) -> None:
    """Show a .tflite model's IO, op counts, quantization and weight/graph bytes."""
    from hwquant.device.inspect import inspect_command

    _checked(ctx, model, "tflite")
    ctx.exit(inspect_command(model, as_json=as_json))


def _checked(ctx: click.Context, path: str, kind: str, what: str | None = None) -> None:
    """The file checks every input gets (a regular file within its kind's size limit, never a FIFO or a
    device); a failure is its exit code and message, here too when run without the main group."""
    from hwquant.common.errors import HwquantError
    from hwquant.common.files import checked

    try:
        checked(path, kind, what=what)
    except HwquantError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)


def _standalone() -> None:
    """A minimal group for ``python -m hwquant.cli_runtime`` (runtime-only installs, tests)."""

    @click.group()
    def group() -> None:
        """hwquant on-device commands."""

    group.add_command(bench)
    group.add_command(inspect)
    group(prog_name="hwquant")


if __name__ == "__main__":  # pragma: no cover
    _standalone()
    sys.exit(0)
