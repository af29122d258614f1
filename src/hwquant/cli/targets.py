"""`hwquant targets`: every backend (built-in and third-party), or one with its op table."""

from __future__ import annotations

import json

import click

from hwquant.cli.shared import console, registry


@click.command()
@click.argument("name", required=False)
@click.option("--ops", is_flag=True, help="Print the target's op table (from its constraint docstrings).")
@click.option("--json", "as_json", is_flag=True)
def targets(name: str | None, ops: bool, as_json: bool) -> None:
    """List every backend (built-in and third-party) or describe one."""
    from hwquant.cli.main import run_guarded

    run_guarded(describe, name, ops, as_json)


def describe(name: str | None, ops: bool, as_json: bool) -> None:
    reg = registry()
    backends = [reg.get(name)] if name else reg.all()
    if as_json:
        out = [dict(b.describe(), **({"op_table": b.op_table()} if ops else {})) for b in backends]
        click.echo(json.dumps(out, indent=2))
        return
    from hwquant.cli.targets_view import render_ops, render_targets

    if ops:
        for b in backends:
            render_ops(b, console)
    else:
        render_targets(backends, reg.sources, console)
