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
    prints one verdict and a row per model and target. A report also answers to the gates its build
    recorded (the manifest's [gates], the build's gate flags) and fails when its target's latest
    build failed.
    """
    from hwquant.cli.main import run_guarded

    run_guarded(check_reports, report, plan_file, gate_args)


def check_reports(report: Path, plan_file: Path | None, gate_args: dict[str, Any]) -> None:
    from hwquant.common.errors import UsageError
    from hwquant.report.gates import Gates, check, load_reports, raise_fails, recorded

    if plan_file is not None or report.is_dir():
        check_tree(report, plan_file, gate_args)
        return
    gates = Gates.of(**gate_args)
    if not report.exists() and not gates.any:
        raise UsageError("no gate given", hint=no_gate_hint())
    reports = load_reports(report)
    own = [recorded(r) for r in reports]
    if not gates.any and not any(own) and not any(isinstance(r.get("gates"), dict) for r in reports):
        raise UsageError("no gate given", hint=no_gate_hint())
    fails = [line for r, mine in zip(reports, own, strict=True) for line in _union(check(r, gates), mine)]
    raise_fails(fails)
    console.print(f"{len(reports)} report(s) pass: {_gates_said(gates, reports)}")


def check_tree(root: Path, plan_file: Path | None, gate_args: dict[str, Any]) -> None:
    """`hwquant check DIR [--plan plan.json]`: one verdict and a row per model and target."""
    from hwquant.common.errors import GateError, UsageError
    from hwquant.report.gates import Gates
    from hwquant.report.summary import load_plan, render, summarize

    gates = Gates.of(**gate_args)
    if not Path(root).exists():
        if not gates.any and plan_file is None:
            raise UsageError("no gate given", hint=no_gate_hint())
        raise UsageError(f"{root}: no such file or folder")
    summary = summarize(root, gates, load_plan(plan_file) if plan_file else None)
    if not gates.any and plan_file is None and not summary.recorded:
        raise UsageError("no gate given", hint=no_gate_hint())
    render(summary.rows, console)
    if not summary.ok:
        raise GateError(
            f"{len(summary.fails)} check(s) failed:\n" + "\n".join(f"  {f}" for f in summary.fails),
            hint="see the table above: fix the failing jobs, or raise the limit",
        )
    reports = [r.report for r in summary.rows if r.report is not None]
    what = _gates_said(gates, reports) if gates.any or summary.recorded else "every planned job reported"
    console.print(f"verdict: pass: {len(summary.rows)} job(s): {what}")


def no_gate_hint() -> str:
    from hwquant.report.gates import no_gate_hint as flags

    return flags(
        extra="--plan plan.json to require a report from every planned job; reports of builds given gates "
        "(the manifest's [gates] or gate flags) carry them and are checked against them without flags"
    )


def _union(given: list[str], own: list[str]) -> list[str]:
    return given + [line for line in own if line not in given]


def _gates_said(gates: Any, reports: list[dict[str, Any]]) -> str:
    """The gates applied: the command line's, and those the builds recorded (named once each)."""
    said = [f"{k}={v}" for k, v in gates.to_dict().items()]
    for r in reports:
        g = r.get("gates")
        for k, v in (g.get("limits") or {}).items() if isinstance(g, dict) else ():
            if f"{k}={v} (recorded)" not in said:
                said.append(f"{k}={v} (recorded)")
    return ", ".join(said) or "no gate"
