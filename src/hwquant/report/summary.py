"""One verdict over a fan-out: the reports of every job (downloaded CI artifacts), a row per model and target.

`hwquant check DIR --plan plan.json` reads every report.json below DIR (any depth: each CI job's
artifact folder keeps its own layout), applies the gates to each (those given to `check` and those
the build recorded in the report: the manifest's [gates] and the build's gate flags), fails a
report whose target's latest build failed, and, given the plan, fails for every planned job that
left no report (a job that failed, or whose artifacts were not downloaded). Plain data only: it
runs where TensorFlow is not installed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwquant.common import files
from hwquant.common.errors import InputError
from hwquant.report import measures
from hwquant.report.gates import Gates, check, read_reports, recorded


@dataclass
class Row:
    job: str
    model: str
    target: str
    report: dict[str, Any] | None
    path: str
    fails: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.report is None:
            return "missing"
        return "fail" if self.fails else "pass"


@dataclass
class Summary:
    rows: list[Row]
    recorded: bool = False  # some report recorded its build's gates or a failed build

    @property
    def fails(self) -> list[str]:
        return [f for r in self.rows for f in r.fails]

    @property
    def ok(self) -> bool:
        return not self.fails


def find_reports(root: Path) -> list[Path]:
    """Every report.json at or below ``root`` (skipping hidden temporary folders)."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(
        p for p in root.rglob("report.json") if not any(part.startswith(".") for part in p.relative_to(root).parts[:-1])
    )


def _model_of(report: dict[str, Any], job: str | None) -> str:
    if job and "." in job:
        return job.rsplit(".", 1)[0]
    inputs = report.get("inputs")
    model = inputs.get("model") if isinstance(inputs, dict) else None
    return Path(str(model.get("path", "?"))).name if isinstance(model, dict) else "?"


def load_plan(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(files.read_text(path, "plan"))
        jobs = data["jobs"]
        if not isinstance(jobs, list) or not all(isinstance(j, dict) and isinstance(j.get("id"), str) for j in jobs):
            raise ValueError("jobs is not a list of {id: ...}")
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InputError(f"{path}: not a plan written by `hwquant plan --json` ({exc})") from None
    return jobs


def summarize(root: Path, gates: Gates, plan: list[dict[str, Any]] | None = None) -> Summary:
    files = find_reports(root)
    rows: dict[str, Row] = {}
    seen = False
    for f in files:
        for rep in read_reports(f):
            folder = str(rep.get("folder") or rep.get("target") or f.parent.name)
            tag = rep.get("job")
            job = tag if isinstance(tag, str) else f"{f.parent.parent.name}.{folder}"
            if job in rows:
                raise InputError(
                    f"{f} and {rows[job].path} are both reports of job {job}",
                    hint="download each job's artifacts once, or check one folder per run",
                )
            fails = check(rep, gates)
            own = recorded(rep)
            seen |= bool(own) or isinstance(rep.get("gates"), dict)
            fails += [f for f in own if f not in fails]
            rows[job] = Row(
                job, _model_of(rep, rep.get("job")), str(folder), rep, str(f), [f"{job}: {x}" for x in fails]
            )
    if not rows and plan is None:
        raise InputError(
            f"{root}: holds no report to check",
            hint="pass the folder holding the jobs' report.json files (a gate on nothing would pass without checking)",
        )
    if plan is not None:
        for j in plan:
            if j["id"] not in rows:
                rows[j["id"]] = Row(
                    j["id"],
                    str(j.get("model", "?")),
                    str(j.get("target", "?")),
                    None,
                    "",
                    [f"{j['id']}: no report: the job failed or its artifacts were not downloaded"],
                )
        order = {j["id"]: i for i, j in enumerate(plan)}
        return Summary(sorted(rows.values(), key=lambda r: (order.get(r.job, len(order)), r.job)), seen)
    return Summary(sorted(rows.values(), key=lambda r: r.job), seen)


def row_cells(row: Row) -> list[str]:
    """job, model, target, recipe, artifact size, worst SNR, top-1 agreement, cache, verdict."""
    r = row.report
    if r is None:
        return [row.job, row.model, row.target, "-", "-", "-", "-", "-", row.verdict]
    m = measures.of(r)
    snrs = [o.snr_db for o in m.outputs.values() if not o.identical]
    worst = min((s for s in snrs if s is not None), default=None) if snrs else (float("inf") if m.outputs else None)
    agree = [o.top1_agreement for o in m.outputs.values() if o.top1_agreement is not None]
    cache: dict[str, Any] = r["cache"] if isinstance(r.get("cache"), dict) else {}
    recipe: dict[str, Any] = r["recipe"] if isinstance(r.get("recipe"), dict) else {}
    return [
        row.job,
        row.model,
        row.target,
        str(recipe.get("name", "-")),
        "-" if m.size is None else f"{int(m.size):,}",
        "-" if worst is None else ("inf" if worst == float("inf") else f"{worst:.1f}"),
        "-" if not agree else f"{min(agree):.3f}",
        "-" if not cache else ("hit" if cache.get("hit") else "built"),
        row.verdict,
    ]


COLUMNS = ("job", "model", "target", "recipe", "artifact B", "worst SNR dB", "top-1 agree", "cache", "verdict")


def render(rows: list[Row], console: Any, title: str = "jobs") -> None:
    """The rows as a table, or as lists where the table is wider than the terminal (nothing cut)."""
    from hwquant.common.tables import table

    styles = [{"pass": "", "fail": "red", "missing": "red"}[r.verdict] for r in rows]
    table(console, title, COLUMNS, [row_cells(r) for r in rows], styles)
