"""What every command shares: the consoles, the backend registry, the summary of a result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwquant.common.console import make_console

console = make_console()
err_console = make_console(stderr=True)


def log(msg: str) -> None:
    """Progress lines go to stderr (stdout carries --json output)."""
    err_console.print(msg, markup=False, highlight=False)


def registry() -> Any:
    """The backend registry; plugins that failed to load are reported once, as warnings."""
    from hwquant.plugin.manager import registry as get

    reg = get()
    if not getattr(reg, "_warned", False):
        setattr(reg, "_warned", True)  # noqa: B010 (an attribute the registry does not declare)
        for name, why in reg.skipped:
            err_console.print(f"warning: plugin {name!r} skipped: {why}", markup=False, soft_wrap=True)
    return reg


def show(result: Any) -> None:
    from hwquant.report.result import render
    from hwquant.report.verdict import block

    render(result, console)
    for line in block(result.report, result.target_dir):  # stdout, also on a cache hit, never cut
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def default_cache_dir() -> Path:
    from hwquant.cache.store import default_dir

    return default_dir()


class null_status:
    """A do-nothing stand-in for console.status (not a terminal, or --json)."""

    def __enter__(self) -> null_status:
        return self

    def __exit__(self, *a: object) -> None:
        return None
