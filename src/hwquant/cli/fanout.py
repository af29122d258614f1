"""Workspaces on the command line: `hwquant build PATHS... --jobs N | --job ID` (the `plan` command is
in plan.py, `check` over a tree of downloaded job reports in check.py).

Nothing here imports TensorFlow: `plan` and `check` never load a model; `build` hands the
jobs to ``hwquant.fanout.jobs``, whose workers import the converter when they build.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hwquant.common.errors import UsageError

WORKSPACE_FILE = "hwquant-workspace.toml"


def default_args(paths: tuple[Path, ...] | list[Path]) -> list[Path]:
    """The given paths, else ./hwquant.toml, else ./hwquant-workspace.toml."""
    if paths:
        return list(paths)
    for name in ("hwquant.toml", WORKSPACE_FILE):
        if Path(name).is_file():
            return [Path(name)]
    raise UsageError(
        "no manifest or workspace given and none here",
        hint=f"pass model folders (models/*/), manifests, or a {WORKSPACE_FILE}",
    )


def wants_workspace(paths: tuple[Path, ...], job: str | None, jobs: int | None) -> bool:
    """Whether `hwquant build` runs as a workspace build rather than the single-model path."""
    from hwquant.config.workspace import is_workspace_arg

    if job is not None or jobs is not None or len(paths) > 1:
        return True
    if not paths:
        return not Path("hwquant.toml").is_file() and Path(WORKSPACE_FILE).is_file()
    return is_workspace_arg(paths[0])


def build_workspace(
    paths: tuple[Path, ...],
    *,
    base: dict[str, Any],
    per_target: dict[str, Any],
    backend_options: dict[str, Any],
    select: str | None,
    job: str | None,
    jobs: int | None,
    cache_dir: Path | None,
    gate_args: dict[str, Any],
    as_json: bool,
    console: Any,
    log: Callable[[str], None],
    progress_shown: Any = None,
) -> None:
    """Every chosen job; stdout: each job's verdict block and the jobs table (-q: the verdict blocks
    only; --json: one report, or an object mapping each job id to its report)."""
    import contextlib

    from hwquant.common import progress
    from hwquant.common.console import is_quiet
    from hwquant.config import outpath, workspace
    from hwquant.fanout import jobs as fanout
    from hwquant.report.gates import raise_fails
    from hwquant.report.result import BuildResult, record_gates
    from hwquant.report.summary import Row
    from hwquant.report.summary import render as render_rows

    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs {jobs}: expected 1 or more worker processes")
    models = workspace.load(default_args(paths), base, per_target, backend_options, gate_args)
    chosen = workspace.jobs(models, select)
    outpath.check_unique_destinations(chosen)  # before --job narrows it: two jobs, one folder
    if job is not None:
        chosen = [workspace.find_job(chosen, job)]
    gates_of = {m.name: m.gates for m in models}
    measure = any(g.max_latency_ms is not None for g in gates_of.values())
    todo = fanout.units(models, chosen)
    cached: set[str] = set()
    if jobs and jobs > 1 and cache_dir is not None:  # restores need no worker (nor TensorFlow)
        from hwquant.fanout.plan import plan as make_plan

        cached = {row["id"] for row in make_plan(chosen, cache_dir)["jobs"] if row["cached"]}
    cold = sum(1 for u in todo if not set(u.job_ids.values()) <= cached)
    log(
        f"{len(chosen)} job(s) of {len(todo)} model(s)"
        + (f"; {min(jobs, cold)} worker processes" if jobs and jobs > 1 and cold > 1 else "")
    )
    with progress_shown or contextlib.nullcontext(), progress.stage(f"building {len(todo)} model(s)", len(todo)) as p:
        outcomes = fanout.run(todo, jobs or 1, cache_dir, measure, cached, on_done=lambda _: p.advance())
    reports = [(jid, d, rep) for o in outcomes for jid, d, rep in o.built]
    rows = []
    for i, (jid, d, rep) in enumerate(reports):  # each report records its gates (`hwquant check` applies them)
        result = BuildResult(rep, Path(d))
        gates = gates_of[jid.rsplit(".", 1)[0]]
        fails = record_gates([result], gates) if gates.any else []
        reports[i] = (jid, d, result.report)
        folder = str(rep.get("folder") or rep.get("target"))
        rows.append(Row(jid, jid.rsplit(".", 1)[0], folder, result.report, "", fails))
    if as_json:
        from hwquant.cli.shared import reports_json

        if reports:
            click.echo(reports_json([(jid, rep) for jid, _, rep in reports], len(chosen) > 1))
    elif job is not None and reports and not is_quiet():
        from hwquant.report.result import render

        render(BuildResult(reports[0][2], Path(reports[0][1])), console)
    if not as_json:  # every job's verdict on stdout, headed by its target table (issue 18)
        from hwquant.report.verdict import block

        for _, d, rep in reports:
            for line in block(rep, Path(d)):
                console.print(line, markup=False, highlight=False, soft_wrap=True)
    fanout.raise_failures(outcomes)
    if not as_json and not is_quiet():
        render_rows(rows, console)
    raise_fails([f"{r.job}: {f}" for r in rows for f in r.fails])
    if any(g.any for g in gates_of.values()):
        log("gates passed")
