"""`hwquant plan`: every (model, target table) job of a workspace, for a CI matrix (no TensorFlow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from hwquant.cli import fanout
from hwquant.cli.params import gate_options
from hwquant.cli.shared import console


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("-t", "--target", help="Only these target tables (comma-separated).")
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    help="Output folder for every model (OUT/<model>/<table>/); default: each manifest's own.",
)
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Build cache folder [user cache dir].")
@click.option("--no-cache", is_flag=True, help="Do not look in the cache (keys are still listed).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (for a CI matrix).")
@gate_options  # plan keys jobs with the same budget as build
def plan(
    paths: tuple[Path, ...],
    target: str | None,
    out: Path | None,
    cache_dir: Path | None,
    no_cache: bool,
    as_json: bool,
    **gate_args: Any,
) -> None:
    """List every (model, target table) job of a workspace: id, manifest, output folder, cache key.

    PATHS are model folders holding a hwquant.toml, manifests, or a workspace file
    (default ./hwquant.toml, else ./hwquant-workspace.toml). Loads no model and imports no
    TensorFlow. Give `hwquant build --job ID` the same PATHS, --out and gates (the fidelity
    gates are the build's accuracy budget, part of its cache key) to build one job.
    """
    from hwquant.cache.store import default_dir
    from hwquant.cli.main import run_guarded
    from hwquant.config import workspace
    from hwquant.fanout.plan import plan as make_plan

    def body() -> None:
        models = workspace.load(fanout.default_args(paths), {"out": out} if out else {}, gate_args=gate_args)
        result = make_plan(workspace.jobs(models, target), None if no_cache else (cache_dir or default_dir()))
        if as_json:
            click.echo(json.dumps(result, indent=1))
            return
        from hwquant.common.tables import table

        rows = [
            (
                j["id"],
                j["manifest"],
                j["backend"],
                j["out"],
                (j["cache_key"] or "-")[:12],
                "yes" if j["cached"] else "no",
            )
            for j in result["jobs"]
        ]
        table(
            console, f"{len(result['jobs'])} job(s)", ("job", "manifest", "backend", "out", "cache key", "cached"), rows
        )

    run_guarded(body)
