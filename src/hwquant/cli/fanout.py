"""Workspaces on the command line: `hwquant plan`, `hwquant build PATHS... --jobs N | --job ID`, and
`hwquant check` over a tree of downloaded job reports.

Nothing here imports TensorFlow: `plan` and `check` never load a model; `build` hands the
jobs to ``hwquant.fanout.jobs``, whose workers import the converter when they build.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hwquant.common.errors import GateError, UsageError

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
    paths,
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
    console,
    log: Callable[[str], None],
) -> None:
    from hwquant.config import workspace
    from hwquant.fanout import jobs as fanout
    from hwquant.report.gates import check
    from hwquant.report.result import BuildResult

    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs {jobs}: expected 1 or more worker processes")
    models = workspace.load(default_args(paths), base, per_target, backend_options, gate_args)
    chosen = workspace.jobs(models, select)
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
    outcomes = fanout.run(todo, jobs or 1, cache_dir, measure, cached)
    reports = [(jid, d, rep) for o in outcomes for jid, d, rep in o.built]
    if as_json:
        for _, d, rep in reports:
            click.echo(BuildResult(rep, Path(d)).to_json())
    elif job is not None and reports:
        from hwquant.report.result import render

        render(BuildResult(reports[0][2], Path(reports[0][1])), console)
    fanout.raise_failures(outcomes)
    fails = [line for jid, _, rep in reports for line in check(rep, gates_of[jid.rsplit(".", 1)[0]])]
    if not as_json:
        from hwquant.report.summary import Row

        _summary_table(
            [
                Row(
                    jid,
                    jid.rsplit(".", 1)[0],
                    str(rep.get("folder") or rep.get("target")),
                    rep,
                    "",
                    [f"{jid}: {f}" for f in check(rep, gates_of[jid.rsplit(".", 1)[0]])],
                )
                for jid, _, rep in reports
            ],
            console,
        )
    if fails:
        raise GateError(
            f"{len(fails)} gate(s) failed:\n" + "\n".join(f"  {f}" for f in fails),
            hint="raise the limit, or change the recipe/target so the artifact meets it",
        )
    if any(g.any for g in gates_of.values()):
        log("gates passed")


def _summary_table(rows, console) -> None:
    from rich.table import Table

    from hwquant.report.summary import COLUMNS, row_cells

    table = Table(title="jobs", title_justify="left", show_edge=False)
    for col in COLUMNS:
        table.add_column(col)
    for row in rows:
        style = {"pass": "", "fail": "red", "missing": "red"}[row.verdict]
        table.add_row(*row_cells(row), style=style)
    console.print(table)


def check_tree(root: Path, plan_file: Path | None, gate_args: dict[str, Any], console) -> None:
    """`hwquant check DIR [--plan plan.json]`: one verdict and a row per model and target."""
    from hwquant.report.gates import Gates
    from hwquant.report.summary import load_plan, summarize

    gates = Gates.of(**gate_args)
    if not gates.any and plan_file is None:
        raise UsageError(
            "no gate given",
            hint="--max-size, --max-arena, --min-snr, --min-agreement, --max-latency-ms, "
            "or --plan plan.json to require a report from every planned job",
        )
    if not Path(root).exists():
        raise UsageError(f"{root}: no such file or folder")
    summary = summarize(root, gates, load_plan(plan_file) if plan_file else None)
    _summary_table(summary.rows, console)
    if not summary.ok:
        raise GateError(
            f"{len(summary.fails)} check(s) failed:\n" + "\n".join(f"  {f}" for f in summary.fails),
            hint="see the table above: fix the failing jobs, or raise the limit",
        )
    what = ", ".join(f"{k}={v}" for k, v in gates.to_dict().items()) or "every planned job reported"
    console.print(f"verdict: pass: {len(summary.rows)} job(s): {what}")


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("-t", "--target", help="Only these target tables (comma-separated).")
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    help="Output folder for every model (OUT/<model>/<table>/); default: each manifest's own.",
)
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Build cache folder [user cache dir].")
@click.option("--no-cache", is_flag=True, help="Do not look in the cache (keys are still listed).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (for a CI matrix).")
def plan(paths, target, out, cache_dir, no_cache, as_json, **gate_args):
    """List every (model, target table) job of a workspace: id, manifest, output folder, cache key.

    PATHS are model folders holding a hwquant.toml, manifests, or a workspace file
    (default ./hwquant.toml, else ./hwquant-workspace.toml). Loads no model and imports no
    TensorFlow. Give `hwquant build --job ID` the same PATHS, --out and gates (the fidelity
    gates are the build's accuracy budget, part of its cache key) to build one job.
    """
    from hwquant.cache.store import default_dir
    from hwquant.cli.main import console, run_guarded
    from hwquant.config import workspace
    from hwquant.fanout.plan import plan as make_plan

    def body():
        models = workspace.load(default_args(paths), {"out": out} if out else {}, gate_args=gate_args)
        result = make_plan(workspace.jobs(models, target), None if no_cache else (cache_dir or default_dir()))
        if as_json:
            click.echo(json.dumps(result, indent=1))
            return
        from rich.table import Table

        table = Table(title=f"{len(result['jobs'])} job(s)", title_justify="left", show_edge=False)
        for col in ("job", "manifest", "backend", "out", "cache key", "cached"):
            table.add_column(col)
        for j in result["jobs"]:
            table.add_row(
                j["id"],
                j["manifest"],
                j["backend"],
                j["out"],
                (j["cache_key"] or "-")[:12],
                "yes" if j["cached"] else "no",
            )
        console.print(table)

    run_guarded(body)
