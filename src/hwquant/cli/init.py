"""`hwquant init`: a commented starter hwquant.toml."""

from __future__ import annotations

import os
from pathlib import Path

import click

from hwquant.cli.shared import console, registry


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("hwquant.toml"), show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing manifest.")
def init(model: Path, output: Path, force: bool) -> None:
    """Write a commented starter hwquant.toml for MODEL."""
    from hwquant.cli.main import run_guarded

    run_guarded(write_starter, model, output, force)


def write_starter(model: Path, output: Path, force: bool) -> None:
    from hwquant.common.errors import UsageError
    from hwquant.common.files import output_file
    from hwquant.config.manifest import starter
    from hwquant.config.model_format import require_model

    require_model(model)
    output_file(output, "-o/--output")  # never a FIFO (the write would block) or a device
    if output.exists() and not force:
        raise UsageError(f"{output} exists", hint="pass --force to overwrite it")
    if not output.parent.is_dir():
        raise UsageError(
            f"cannot write {output}: folder {output.parent} does not exist",
            hint=f"create it first (mkdir -p {output.parent}) or pass -o in an existing folder",
        )
    rel = Path(os.path.relpath(model.resolve(), output.resolve().parent))
    try:
        output.write_text(starter(rel, registry().all()))
    except OSError as exc:
        raise UsageError(f"cannot write {output} ({exc.strerror or exc})") from None
    console.print(f"wrote {output}: edit it, then run `hwquant build`")
