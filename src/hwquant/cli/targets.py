"""`hwquant targets`: every backend (built-in and third-party), or one with its op table."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from hwquant.cli.shared import console, registry
from hwquant.common.tables import table as print_table


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

    if ops:
        for b in backends:
            render_ops(b, console)
    else:
        render_targets(backends, reg.sources, console)


# -- rendering (tables only; the data comes from Backend.describe/op_table) --------------------------


def render_targets(backends: list[Any], sources: dict[str, str], console: Console) -> None:
    """A compact table, then one paragraph per target with its description and toolchain detail."""
    described = [b.describe() for b in backends]
    rows = [
        (
            d["name"],
            ",".join(d["weights"]),
            ",".join(d["activations"]),
            ",".join(d["io"]),
            d["recipe_rule"],
            Text("available", "green") if d["toolchain"]["available"] else Text("missing", "red"),
        )
        for d in described
    ]
    print_table(console, "", ("target", "weights", "activations", "IO", "recipe rule", "toolchain"), rows)
    for d in described:
        console.print(f"[bold]{d['name']}[/bold]: {d['description']} [dim](plugin {sources.get(d['name'], '?')})[/dim]")
        console.print(f"  toolchain: {d['toolchain']['detail']}", markup=False)


def render_ops(backend: Any, console: Console) -> None:
    table = backend.op_table()
    console.print(f"[bold]{backend.name}[/bold]: {backend.description}")
    if table["generic"]:
        console.print("rules for every operator:")
        for r in table["generic"]:
            console.print(f"  - {r}")
    rows = [
        (row["op"], ", ".join(row["dtypes"]), "\n".join(f"- {c}" for c in row["constraints"]) or "-")
        for row in table["ops"]
    ]
    print_table(console, "", ("operator", "dtypes", "constraints"), rows)
    if table.get("source"):
        console.print(f"read from: {table['source']}", markup=False)
