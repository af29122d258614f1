"""One target's stages, in order: plan -> convert -> check -> decide (verify, or the measured choice)
-> package -> report, all written into a staging folder.

Each stage is a small function returning plain data; the report is put together by
``hwquant.report.assemble`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hwquant.common import progress
from hwquant.common.errors import IncompatibleError, UsageError
from hwquant.common.interrupts import checkpoint
from hwquant.config.versions import versions
from hwquant.device.bench import host_latency_ms
from hwquant.device.tflite_model import TfliteModel
from hwquant.pipeline.prepare import Prepared, Timer
from hwquant.pipeline.staging import staging
from hwquant.plugin.backend import Backend, BuildContext, OpReport
from hwquant.plugin.facts import BuildOptions, CheckRequest
from hwquant.plugin.recipe import Recipe
from hwquant.report import assemble
from hwquant.report.result import BuildResult
from hwquant.report.schema import SizeBytes, Verify

if TYPE_CHECKING:
    from hwquant.choice.decide import Decision


@dataclass
class Planned:
    """The artifact a target builds and what runs where (replaced when the decision picks another)."""

    recipe: Recipe
    reasons: list[str]
    artifact: bytes
    model: TfliteModel
    op_report: OpReport


@dataclass
class Stage:
    """What every stage of one target gets."""

    prep: Prepared
    backend: Backend
    options: BuildOptions
    folder: str
    timer: Timer
    log: Callable[[str], None]

    @property
    def out(self) -> Path:
        return Path(self.options.out)


def build_target(
    prep: Prepared,
    backend: Backend,
    log: Callable[[str], None] = print,
    options: BuildOptions | None = None,
    folder: str | None = None,
) -> BuildResult:
    """One target's stages; ``options``/``folder`` override the shared ones (manifest tables)."""
    st = Stage(prep, backend, options or prep.options, folder or backend.name, Timer(), log)
    checkpoint()
    run = _sensitivity_only if st.options.sensitivity else _build
    with progress.stage(st.folder if st.folder == backend.name else f"{st.folder} ({backend.name})"):
        return run(st)


def _build(st: Stage) -> BuildResult:
    planned = _plan(st)
    decision = _decide(st, planned)
    choice = _choice(st, planned, decision)
    finish = _preflight if st.options.preflight_only else _package
    return finish(st, planned, choice, decision)


def _plan(st: Stage) -> Planned:
    """The backend's recipe, converted once per build, and the per-op check of the artifact."""
    from hwquant.choice import decide as choice

    with st.timer.stage("plan"):
        recipe, reasons = st.backend.choose_recipe(st.prep.facts, choice.plain_options(st.options))
        if st.options.float_layers:
            choice.validate_float_layers(st.prep, st.options.float_layers)
            recipe = recipe.with_float_layers(st.options.float_layers)
            reasons.append(f"{len(recipe.float_layers)} layer(s) kept float with --float-layer")
    checkpoint()
    with st.timer.stage("convert"):
        artifact = choice.artifact_for(st.prep, recipe, st.timer)
    checkpoint()
    model = TfliteModel(artifact, f"{st.backend.name} artifact")
    with st.timer.stage("check"):
        op_report = st.backend.check(model, CheckRequest.of(st.options))
    checkpoint()
    return Planned(recipe, reasons, artifact, model, op_report)


def _decide(st: Stage, planned: Planned) -> Decision | None:
    """Verify the artifact against the budget (or search recipes); None when there is nothing to verify."""
    from hwquant.choice import decide as choice

    o = st.options
    if o.preflight_only or (planned.op_report.unsupported and o.recipe != "auto"):
        return None
    with st.timer.stage("verify" if o.recipe != "auto" else "search"):
        decision = choice.decide(
            st.prep, st.backend, o, planned.recipe, planned.reasons, planned.artifact, st.log, st.timer
        )
    checkpoint()
    if decision.artifact is not planned.artifact:  # the search chose another recipe
        planned.recipe, planned.artifact = decision.recipe, decision.artifact
        planned.model = TfliteModel(decision.artifact, f"{st.backend.name} artifact")
        planned.op_report = st.backend.check(planned.model, CheckRequest.of(o))
    planned.reasons = decision.reasons
    return decision


def _choice(st: Stage, planned: Planned, decision: Decision | None) -> assemble.Choice:
    """The report's recipe, ops, decision sections and every warning of this target."""
    prep = st.prep
    warnings: list[str] = []
    if prep.calibration is not None and prep.calibration.random:
        warnings.append("random representative data: for testing only")
    fallback = prep.calibration_fallback
    if fallback:  # TensorFlow's internals failed: converted directly
        warnings.append(fallback)
        st.log(f"warning: {fallback}")
    sections = {} if decision is None else decision.sections
    warnings += [] if decision is None else decision.warnings
    return assemble.Choice(planned.recipe, planned.reasons, planned.op_report, sections, warnings)


def _header(st: Stage) -> assemble.Header:
    prep = st.prep
    return assemble.Header(
        st.backend.name, st.folder, prep.facts, prep.inputs, versions(), prep.cache_keys.get(st.folder)
    )


def _timings(st: Stage) -> dict[str, float]:
    return {**st.prep.timings, **st.timer.timings}


def _preflight(st: Stage, planned: Planned, choice: assemble.Choice, decision: Decision | None) -> BuildResult:
    """`--preflight-only`: report.json holds the predicted mapping; no artifact."""
    report = assemble.built(_header(st), choice, _timings(st), sorted(st.prep.timings))
    with staging(st.out, st.folder) as tmp:
        result = BuildResult.of(report, st.out / st.folder)
        result.write(tmp / "report.json")
    if planned.op_report.counts().get("target", 0) == 0:
        raise IncompatibleError(
            f"nothing in the model maps to target {st.backend.name!r}", hint=_unsupported_hint(planned.op_report)
        ).with_result(result)
    return result


def _package(st: Stage, planned: Planned, choice: assemble.Choice, decision: Decision | None) -> BuildResult:
    """Write the artifact, the backend's verify and package steps, and report.json, in staging."""
    _refuse_unsupported(st.backend, planned.op_report)
    assert decision is not None  # every supported artifact was verified (or searched) by _decide
    prep, backend = st.prep, st.backend
    with staging(st.out, st.folder) as tmp:
        (tmp / backend.artifact_name).write_bytes(planned.artifact)
        ctx = BuildContext(
            st.options,
            prep.facts,
            planned.recipe,
            planned.artifact,
            prep.float_model,
            planned.model,
            prep.calibration,
            prep.evaluation,
            tmp,
            planned.op_report,
            log=st.log,
        )
        with st.timer.stage("verify"):
            backend_verify = backend.verify(ctx)
            latency = host_latency_ms(planned.artifact) if prep.measure_latency else None
        checkpoint()
        with st.timer.stage("package"):
            packaged = backend.package(ctx)
        if decision.candidates:
            from hwquant.choice import plot as search_plot

            limits = decision.budget.limits if decision.budget.applied else None
            plotted = search_plot.write(tmp / "search.png", decision.candidates, st.log, limits)
            packaged.files = [*packaged.files, *plotted]
        parts = assemble.Packaged(
            artifact_name=backend.artifact_name,
            files=sorted({backend.artifact_name, *packaged.files, "report.json", "report.html"}),
            sizes=_sizes(st, planned.artifact, packaged.deployed_bytes),
            fidelity=decision.fidelity,
            verify=Verify(
                "LiteRT interpreter", len(prep.evaluation), prep.evaluation.source, {backend.name: backend_verify}
            ),
            backend_section={**ctx.report, **packaged.report},
            result=packaged,
            latency=latency,
        )
        report = assemble.built(_header(st), choice, _timings(st), sorted(prep.timings), parts)
        result = BuildResult.of(report, st.out / st.folder)
        result.write(tmp / "report.json")
    return result


def _sizes(st: Stage, artifact: bytes, deployed: int | None) -> SizeBytes:
    floats = len(st.prep.float_model)
    return SizeBytes(_size(Path(st.options.model)), floats, len(artifact), round(len(artifact) / floats, 4), deployed)


def _refuse_unsupported(backend: Backend, op_report: OpReport) -> None:
    if op_report.unsupported:
        raise IncompatibleError(
            f"{len(op_report.unsupported)} op(s) cannot run on target {backend.name!r}: "
            + "; ".join(f"{v.op} ({v.dtype}; {', '.join(v.reasons)})" for v in op_report.unsupported[:5]),
            hint=_unsupported_hint(op_report),
        )


def _sensitivity_only(st: Stage) -> BuildResult:
    """`--sensitivity`: the per-layer int8 analysis only; report.json and no artifact."""
    from hwquant.choice import decide as choice

    if st.prep.calibration is None:
        raise UsageError("--sensitivity needs representative data (it calibrates int8)", hint="pass --data")
    with st.timer.stage("sensitivity"):
        rows = choice.sensitivity(st.prep)
    report = assemble.sensitivity_only(_header(st), rows, _timings(st))
    with staging(st.out, st.folder) as tmp:
        result = BuildResult.of(report, st.out / st.folder)
        result.write(tmp / "report.json")
    return result


def _unsupported_hint(op_report: OpReport) -> str:
    names = sorted({v.op for v in op_report.verdicts if v.placement != "target"})
    return f"see `hwquant targets {op_report.target} --ops` for what the target runs; unsupported here: " + ", ".join(
        names[:10]
    )


def _size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size
