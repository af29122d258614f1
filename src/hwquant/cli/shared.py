"""What every command shares: the consoles, the backend registry, the summary of a result, and how
`hwquant build` prints it (-q, --json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwquant.common.console import is_quiet, make_console

console = make_console()
err_console = make_console(stderr=True)
as_json = False  # `hwquant build --json`: show() leaves stdout to the JSON document the command prints


def log(msg: str) -> None:
    """Notes and warnings go to stderr (stdout carries the verdict or --json output); none with -q."""
    if not is_quiet():
        err_console.print(msg, markup=False, highlight=False)


def registry() -> Any:
    """The backend registry; plugins that failed to load are reported once, as warnings."""
    from hwquant.plugin.manager import registry as get

    reg = get()
    if not getattr(reg, "_warned", False):
        setattr(reg, "_warned", True)  # noqa: B010 (an attribute the registry does not declare)
        for name, why in reg.skipped if not is_quiet() else []:
            err_console.print(f"warning: plugin {name!r} skipped: {why}", markup=False, soft_wrap=True)
    return reg


def show(result: Any) -> None:
    """A result on stdout: the summary tables and the verdict block; with -q the verdict block only;
    with --json nothing (the command prints every report as one JSON document)."""
    from hwquant.report.result import render
    from hwquant.report.verdict import block

    if as_json:
        return
    if not is_quiet():
        render(result, console)
    for line in block(result.report, result.target_dir):  # stdout, also on a cache hit, never cut
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def reports_json(reports: list[tuple[str, dict[str, Any]]], keyed: bool) -> str:
    """--json's document: the one report of a one-target build, else (``keyed``) an object mapping
    each target folder (workspace: job id) to its report, in build order."""
    import json

    from hwquant.report import assemble

    if not keyed and len(reports) == 1:
        return assemble.dumps(reports[0][1])
    return json.dumps({k: json.loads(assemble.dumps(r)) for k, r in reports}, indent=2)


def default_cache_dir() -> Path:
    from hwquant.cache.store import default_dir

    return default_dir()
