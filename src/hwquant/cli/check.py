"""`hwquant check`: the gates applied to reports written earlier (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hwquant.cli.params import gate_options
from hwquant.cli.shared import console


@click.command()
@click.argument("report", type=click.Path(path_type=Path))
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(path_type=Path),
    help="plan.json from `hwquant plan --json`: every planned job must have left a report.",
)
@gate_options
def check(report: Path, plan_file: Path | None, **gate_args: Any) -> None:
    """Apply gates to an existing REPORT.json, OUT/<target>/ or OUT/ (exit 5 when one fails).

    Given a folder, reads every report.json below it (e.g. all CI jobs' downloaded artifacts) and
    prints one verdict and a row per model and target.
    """
    from hwquant.cli.main import run_guarded

    run_guarded(check_reports, report, plan_file, gate_args)


def check_reports(report: Path, plan_file: Path | None, gate_args: dict[str, Any]) -> None:
    from hwquant.common.errors import UsageError
    from hwquant.report.gates import Gates, enforce, load_reports, no_gate_hint

    if plan_file is not None or report.is_dir():
        from hwquant.cli.fanout import check_tree

        check_tree(report, plan_file, gate_args, console)
        return
    gates = Gates.of(**gate_args)
    if not gates.any:
        raise UsageError("no gate given", hint=no_gate_hint())
    reports = load_reports(report)
    enforce(reports, gates)
    console.print(f"{len(reports)} report(s) pass: {', '.join(f'{k}={v}' for k, v in gates.to_dict().items())}")
