"""The Python API behind ``hwquant.build()``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hwquant.pipeline.many import build_many
from hwquant.plugin.facts import BuildOptions
from hwquant.report.result import BuildResult


def build(model, target: str = "cpu", log: Callable[[str], None] | None = None, **kwargs) -> BuildResult:
    """Python API: build one target; returns the BuildResult (content of report.json)."""
    for key in ("out", "model"):
        if key in kwargs and kwargs[key] is not None:
            kwargs[key] = Path(kwargs[key])
    options = BuildOptions(model=Path(model), target=target, **kwargs)
    results = build_many(options, log or (lambda s: None))
    return results[0] if len(results) == 1 else results
