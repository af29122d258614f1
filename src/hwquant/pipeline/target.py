"""One target's stages, in order: plan -> convert -> check -> verify (and the measured choice) -> package
-> report, all written into a staging folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hwquant.common.errors import IncompatibleError, UsageError
from hwquant.common.interrupts import checkpoint
from hwquant.config.versions import versions
from hwquant.device.bench import host_latency_ms
from hwquant.device.tflite_model import TfliteModel
from hwquant.pipeline.prepare import Prepared, Timer
from hwquant.pipeline.staging import staging
from hwquant.plugin.backend import Backend, BuildContext
from hwquant.plugin.facts import BuildOptions, CheckRequest
from hwquant.report.result import SCHEMA_VERSION, BuildResult


def build_target(
    prep: Prepared,
    backend: Backend,
    log: Callable[[str], None] = print,
    options: BuildOptions | None = None,
    folder: str | None = None,
) -> BuildResult:
    """One target's stages; ``options``/``folder`` override the shared ones (manifest tables)."""
    from hwquant.choice import decide as choice

    options, facts, folder = options or prep.options, prep.facts, folder or backend.name
    timer = Timer()
    checkpoint()
    if options.sensitivity:
        return _sensitivity_only(prep, backend, options, folder, timer)
    with timer.stage("plan"):
        recipe, reasons = backend.choose_recipe(facts, choice.plain_options(options))
        if options.float_layers:
            choice.validate_float_layers(prep, options.float_layers)
            recipe = recipe.with_float_layers(options.float_layers)
            reasons.append(f"{len(recipe.float_layers)} layer(s) kept float with --float-layer")
    checkpoint()
    with timer.stage("convert"):
        artifact = choice.artifact_for(prep, recipe, timer)
    checkpoint()
    model = TfliteModel(artifact, f"{backend.name} artifact")
    with timer.stage("check"):
        op_report = backend.check(model, CheckRequest.of(options))
    checkpoint()
    decision = None
    if not options.preflight_only and (not op_report.unsupported or options.recipe == "auto"):
        with timer.stage("verify" if options.recipe != "auto" else "search"):
            decision = choice.decide(prep, backend, options, recipe, reasons, artifact, log, timer)
        checkpoint()
        if decision.artifact is not artifact:
            recipe, artifact = decision.recipe, decision.artifact
            model = TfliteModel(artifact, f"{backend.name} artifact")
            op_report = backend.check(model, CheckRequest.of(options))
        reasons = decision.reasons
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "target": backend.name,
        "preflight_only": options.preflight_only,
        "recipe": {"name": recipe.name, "label": recipe.label, "fields": recipe.to_dict(), "reasons": reasons},
        "model": facts.to_dict(),
        "ops": op_report.to_dict(),
        "inputs": prep.inputs,
        "versions": versions(),
    }
    if folder != backend.name:
        report["folder"] = folder
    if folder in prep.cache_keys:
        report["cache"] = {"hit": False, "key": prep.cache_keys[folder]}
    if prep.calibration is not None and prep.calibration.random:
        report["warnings"] = ["random representative data: for testing only"]
    if getattr(prep.calibrated, "fallback", None):  # TensorFlow's internals failed: converted directly
        report["warnings"] = [*report.get("warnings", []), prep.calibrated.fallback]
        log(f"warning: {prep.calibrated.fallback}")
    if decision is not None:
        report.update(decision.sections)
        if decision.warnings:
            report["warnings"] = report.get("warnings", []) + decision.warnings
    if options.preflight_only:  # report.json holds the predicted mapping; no artifact
        report["timings_s"] = {**prep.timings, **timer.timings}
        report["artifacts"] = ["report.json"]
        with staging(Path(options.out), folder) as tmp:
            result = BuildResult(report, Path(options.out) / folder)
            result.write(tmp / "report.json")
        if op_report.counts().get("target", 0) == 0:
            raise IncompatibleError(
                f"nothing in the model maps to target {backend.name!r}", hint=_unsupported_hint(op_report)
            ).with_result(result)
        return result
    if op_report.unsupported:
        raise IncompatibleError(
            f"{len(op_report.unsupported)} op(s) cannot run on target {backend.name!r}: "
            + "; ".join(f"{v.op} ({', '.join(v.reasons)})" for v in op_report.unsupported[:5]),
            hint=_unsupported_hint(op_report),
        )
    with staging(Path(options.out), folder) as tmp:
        (tmp / backend.artifact_name).write_bytes(artifact)
        ctx = BuildContext(
            options,
            facts,
            recipe,
            artifact,
            prep.float_model,
            model,
            prep.calibration,
            prep.evaluation,
            tmp,
            op_report,
            log=log,
        )
        with timer.stage("verify"):
            fidelity = decision.fidelity
            backend_verify = backend.verify(ctx)
            if prep.measure_latency:
                report["latency_ms"] = host_latency_ms(artifact)
        checkpoint()
        with timer.stage("package"):
            packaged = backend.package(ctx)
        if decision.candidates:
            from hwquant.choice import plot as search_plot

            packaged.files = [*packaged.files, *search_plot.write(tmp / "search.png", decision.candidates, log)]
        files = sorted({backend.artifact_name, *packaged.files, "report.json"})
        report.update(
            {
                "artifact_name": backend.artifact_name,  # the converted model's file among the artifacts
                "artifacts": files,
                "size_bytes": {
                    "original": _size(Path(options.model)),
                    "float32_tflite": len(prep.float_model),
                    "artifact": len(artifact),
                    "ratio_to_float32": round(len(artifact) / len(prep.float_model), 4),
                    **({"deployed": packaged.deployed_bytes} if packaged.deployed_bytes is not None else {}),
                },
                "fidelity": fidelity,
                "verify": {
                    "runtime": "LiteRT interpreter",
                    "samples": len(prep.evaluation),
                    "eval_source": prep.evaluation.source,
                    backend.name: backend_verify,
                },
                backend.name: {**ctx.report, **packaged.report},
            }
        )
        report["timings_s"] = {**prep.timings, **timer.timings}
        report["timings_shared"] = sorted(prep.timings)  # done once for all targets of this build
        result = BuildResult(report, Path(options.out) / folder)
        result.write(tmp / "report.json")
    return result


def _sensitivity_only(
    prep: Prepared, backend: Backend, options: BuildOptions, folder: str, timer: Timer
) -> BuildResult:
    """`--sensitivity`: the per-layer int8 analysis only; report.json and no artifact."""
    from hwquant.choice import decide as choice

    if prep.calibration is None:
        raise UsageError("--sensitivity needs representative data (it calibrates int8)", hint="pass --data")
    with timer.stage("sensitivity"):
        rows = choice.sensitivity(prep)
    report = {
        "schema_version": SCHEMA_VERSION,
        "target": backend.name,
        "sensitivity_only": True,
        "preflight_only": True,
        "model": prep.facts.to_dict(),
        "inputs": prep.inputs,
        "sensitivity": rows,
        "timings_s": {**prep.timings, **timer.timings},
        "artifacts": ["report.json"],
        "versions": versions(),
    }
    with staging(Path(options.out), folder) as tmp:
        result = BuildResult(report, Path(options.out) / folder)
        result.write(tmp / "report.json")
    return result


def _unsupported_hint(op_report) -> str:
    names = sorted({v.op for v in op_report.verdicts if v.placement != "target"})
    return f"see `hwquant targets {op_report.target} --ops` for what the target runs; unsupported here: " + ", ".join(
        names[:10]
    )


def _size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size
