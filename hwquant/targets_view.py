"""Rendering of `hwquant targets` (tables only; the data comes from Backend.describe/op_table)."""
from __future__ import annotations

from rich.table import Table


def render_targets(backends, sources, console) -> None:
    t = Table(show_edge=False)
    for col in ("target", "description", "weights", "activations", "IO", "recipe rule", "toolchain", "from"):
        t.add_column(col)
    for b in backends:
        d = b.describe()
        tc = d["toolchain"]
        t.add_row(d["name"], d["description"], ",".join(d["weights"]), ",".join(d["activations"]), ",".join(d["io"]),
                  d["recipe_rule"], ("[green]available[/green] " if tc["available"] else "[red]missing[/red] ")
                  + tc["detail"], sources.get(d["name"], "?"))
    console.print(t)


def render_ops(backend, console) -> None:
    table = backend.op_table()
    console.print(f"[bold]{backend.name}[/bold]: {backend.description}")
    if table["generic"]:
        console.print("rules for every operator:")
        for r in table["generic"]:
            console.print(f"  - {r}")
    t = Table(show_edge=False)
    for col in ("operator", "dtypes", "constraints"):
        t.add_column(col)
    for row in table["ops"]:
        t.add_row(row["op"], ", ".join(row["dtypes"]), "\n".join(f"- {c}" for c in row["constraints"]) or "-")
    console.print(t)
