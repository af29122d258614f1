"""The one place a report.json is put together and written.

A fresh build (:func:`built`, :func:`sensitivity_only`), a cache restore (:func:`restored`), a
workspace job's tag (:func:`tagged`), the gates' record (:func:`gated`) and an earlier build's mark
when its target's latest build failed (:func:`superseded`) each return a :class:`TargetReport`;
:func:`write` serializes it (validated against the shipped schema when HWQUANT_VALIDATE_REPORTS=1).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwquant.plugin.backend import OpReport, PackageResult
from hwquant.plugin.facts import ModelFacts
from hwquant.plugin.recipe import Recipe
from hwquant.report.schema import (
    SCHEMA_VERSION,
    Budget,
    Cache,
    Fidelity,
    GateRecord,
    Inputs,
    Latency,
    LatestFailure,
    Measures,
    ModelSection,
    Ops,
    Quantized,
    RecipeSection,
    Search,
    SensitivityRow,
    SizeBytes,
    TargetReport,
    Verify,
    validate_if_asked,
)
from hwquant.report.typed import read


@dataclass
class Header:
    """What every report of a build starts with: target, folder, model, inputs, versions."""

    target: str
    folder: str
    facts: ModelFacts
    inputs: dict[str, Any]
    versions: dict[str, Any]
    cache_key: str | None = None  # this build's cache key (a miss): recorded as cache.hit false


@dataclass
class Packaged:
    """What the verify and package stages produced for one target."""

    artifact_name: str
    files: list[str]
    sizes: SizeBytes
    fidelity: dict[str, Any]
    verify: Verify
    backend_section: dict[str, Any]
    result: PackageResult
    latency: dict[str, Any] | None = None


@dataclass
class Choice:
    """The plan/decide stages' outcome: recipe, reasons, ops, and the decision's sections."""

    recipe: Recipe
    reasons: list[str]
    op_report: OpReport
    sections: dict[str, Any] = field(default_factory=dict)  # budget, search, sensitivity
    warnings: list[str] = field(default_factory=list)


def _base(h: Header, cached: bool = True, **kw: Any) -> TargetReport:
    return TargetReport(
        schema_version=SCHEMA_VERSION,
        target=h.target,
        model=read(ModelSection, h.facts.to_dict(), "model"),
        inputs=read(Inputs, h.inputs, "inputs"),
        versions=h.versions,
        folder=h.folder if h.folder != h.target else None,
        cache=Cache(hit=False, key=h.cache_key) if h.cache_key and cached else None,
        **kw,
    )


def measures_of(p: PackageResult) -> Measures | None:
    """The backend's declared measures (PackageResult fields) as the report's ``measures`` section."""
    m = Measures(**{f.name: getattr(p, f.name) for f in dataclasses.fields(Measures)})
    return m if any(v is not None for v in dataclasses.asdict(m).values()) else None


def built(
    h: Header, c: Choice, timings: dict[str, float], shared: list[str], packaged: Packaged | None = None
) -> TargetReport:
    """A built target's report; without ``packaged``, a preflight-only one (no artifact)."""
    s = c.sections
    rep = _base(
        h,
        preflight_only=packaged is None,
        recipe=RecipeSection(c.recipe.name, c.recipe.label, c.recipe.to_dict(), list(c.reasons)),
        ops=read(Ops, c.op_report.to_dict(), "ops"),
        warnings=list(c.warnings) or None,
        budget=read(Budget | None, s.get("budget"), "budget"),
        quantized=read(Quantized | None, s.get("quantized"), "quantized"),
        search=read(Search | None, s.get("search"), "search"),
        sensitivity=read(list[SensitivityRow] | None, s.get("sensitivity"), "sensitivity"),
        timings_s=timings,
    )
    if packaged is None:
        rep.artifacts = ["report.html", "report.json"]
        return rep
    p = packaged
    rep.latency_ms = read(Latency, p.latency, "latency_ms") if p.latency is not None else None
    rep.artifact_name = p.artifact_name
    rep.artifacts = p.files
    rep.size_bytes = p.sizes
    rep.fidelity = read(Fidelity, p.fidelity, "fidelity")
    rep.verify = p.verify
    rep.measures = measures_of(p.result)
    rep.sections = {h.target: p.backend_section}
    rep.timings_shared = shared
    return rep


def sensitivity_only(h: Header, rows: list[dict[str, Any]], timings: dict[str, float]) -> TargetReport:
    """`--sensitivity`: the per-layer analysis and no artifact."""
    return _base(
        h,
        sensitivity_only=True,
        preflight_only=True,
        sensitivity=read(list[SensitivityRow], rows, "sensitivity"),
        timings_s=timings,
        artifacts=["report.html", "report.json"],
        cached=False,
    )


def restored(
    report: dict[str, Any], target: str, folder: str, key: str, latency: dict[str, Any] | None, seconds: float
) -> TargetReport:
    """A cache entry's report as restored into ``folder``: marked a hit, with the restore's timing."""
    rep = TargetReport.from_json(report, "cached report.json")
    rep.schema_version = SCHEMA_VERSION
    rep.folder = folder if folder != target else None
    rep.cache = Cache(hit=True, key=key, built_timings_s=rep.timings_s)
    if latency is not None and rep.latency_ms is None:
        rep.latency_ms = read(Latency, latency, "latency_ms")
    rep.timings_s = {"restore": round(seconds, 4)}
    return rep


def tagged(report: dict[str, Any], job: str) -> TargetReport:
    """A report with its workspace job id."""
    rep = TargetReport.from_json(report, "report.json")
    rep.job = job
    return rep


def gated(report: dict[str, Any], limits: dict[str, Any], fails: list[str]) -> TargetReport:
    """A report with the CI gates the build applied and what they found."""
    rep = TargetReport.from_json(report, "report.json")
    rep.gates = GateRecord(dict(limits), "fail" if fails else "pass", list(fails))
    return rep


def superseded(report: dict[str, Any], exit_code: int, message: str, hint: str | None) -> TargetReport:
    """An earlier build's report, marked: the latest build of its target failed with ``exit_code``."""
    rep = TargetReport.from_json(report, "report.json")
    rep.latest_failure = LatestFailure(exit_code, message, hint)
    return rep


def _jsonable(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def dumps(report: TargetReport | dict[str, Any]) -> str:
    data = report.to_json() if isinstance(report, TargetReport) else report
    return json.dumps(data, indent=2, sort_keys=False, default=_jsonable)


def write(report: TargetReport | dict[str, Any], path: Path) -> None:
    """report.json at ``path`` (checked against the schema first when HWQUANT_VALIDATE_REPORTS=1)."""
    text = dumps(report)
    validate_if_asked(json.loads(text), str(path))
    path.write_text(text + "\n")
