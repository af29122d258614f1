"""The command line (click): errors become documented exit codes here and nowhere else."""

from __future__ import annotations

from hwquant.cli.main import main

__all__ = ["main"]
