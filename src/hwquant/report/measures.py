"""The measures a gate reads from a report (build report.json or one model of `hwquant bench --json`).

Reports come from files a user passes (`hwquant check`), so their shape is checked here, through
the report type's declared fields (hwquant.report.schema): a report that is not a JSON object, a
measure of the wrong type (a string for a size, a list for an SNR) or a finite measure outside its
declared range (a negative size) is bad input (InputError, exit 2). A measure that is absent or
null is returned as None and a non-finite number as itself: whether that passes is the gate's
decision (it fails). Gates never search sections for keys: the device measures are the report's
typed ``measures`` section (older reports are upgraded by schema.upgrade).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwquant.common.errors import InputError
from hwquant.report import schema, typed


@dataclass(frozen=True)
class OutputMeasures:
    snr_db: float | None
    top1_agreement: float | None
    classifier: bool  # the output reports top-1 agreement (a key, even when null)
    identical: bool  # max abs error is exactly 0: the outputs equal the reference (SNR infinite)
    cosine: float | None = None
    accuracy_delta_points: float | None = None  # quantized minus float accuracy, in points
    labelled: bool = False  # the output reports accuracy (labelled eval data)
    kind: str | None = None  # probabilities | logits | multi-label | regression (None: an older report)
    label_agreement: float | None = None  # multi-label outputs


@dataclass(frozen=True)
class Measures:
    name: str
    preflight_only: bool = False
    size: float | None = None
    arena: float | None = None
    latency_ms: float | None = None
    outputs: dict[str, OutputMeasures] = field(default_factory=dict)
    est_fps: float | None = None  # an estimate (ethos-u: Vela's inferences_per_second), never a measurement


def _bad(where: str, what: str, value: Any) -> InputError:
    return InputError(
        f"{where}: expected {what}, got {type(value).__name__} {str(value)[:60]!r}",
        hint="pass a report.json written by `hwquant build` or `hwquant bench --json`",
    )


def reports_in(data: Any, source: Path | str) -> list[dict[str, Any]]:
    """The reports a JSON document holds: itself, or each of `hwquant bench --json`'s "models"."""
    if isinstance(data, dict) and "models" in data:
        models = data["models"]
        if not isinstance(models, list):
            raise _bad(f"{source}: models", "a list of reports", models)
        for i, m in enumerate(models):
            if not isinstance(m, dict):
                raise _bad(f"{source}: models[{i}]", "a report object", m)
        return list(models)
    if not isinstance(data, dict):
        raise _bad(str(source), "a JSON object (a report)", data)
    return [data]


def of(report: dict[str, Any], source: Path | str = "report") -> Measures:
    """Every gate measure of ``report``, read through :class:`~hwquant.report.schema.TargetReport`'s
    declared fields: a wrong type, or a finite number outside its declared range (a negative size or
    latency, an agreement above 1, a cosine outside [-1, 1]) is InputError naming the key. A report
    of version 1 is upgraded first (schema.upgrade); an unknown version is InputError naming it."""
    if not isinstance(report, dict):
        raise _bad(str(source), "a JSON object (a report)", report)
    name = next((v for v in (report.get("target"), report.get("model")) if isinstance(v, str) and v), "report")
    where = f"{source} ({name})"
    try:
        return _of(schema.upgrade(report, where), name, where)
    except schema.UnknownVersion as exc:
        raise InputError(str(exc), hint="read it with the hwquant that wrote it, or rebuild") from None
    except typed.ReportTypeError as exc:
        raise InputError(
            str(exc), hint="pass a report.json written by `hwquant build` or `hwquant bench --json`"
        ) from None


def _field(name: str, report: dict[str, Any], where: str, cls: type = schema.TargetReport) -> Any:
    return typed.read_field(cls, name, report.get(name), f"{where}: {name}")


def _of(report: dict[str, Any], name: str, where: str) -> Measures:
    pre = _field("preflight_only", report, where)
    sizes = report.get("size_bytes")
    if isinstance(sizes, dict) or sizes is None:  # "deployed": what goes on the device (ethos-u: Vela's output)
        s = _field("size_bytes", report, where) or schema.SizeBytes(None, None, None, None)  # type: ignore[arg-type]
        size = s.deployed if s.deployed is not None else s.artifact
    else:  # `hwquant bench --json`: the model file's size
        size = typed.read(float, sizes, f"{where}: size_bytes")
        typed.check_range(f"{where}: size_bytes", size, {"minimum": 0})
    dev = _field("measures", report, where) or schema.Measures()
    lat = report.get("latency_ms")
    if isinstance(lat, dict):
        latency = typed.read_field(schema.Latency, "mean", lat.get("mean"), f"{where}: latency_ms.mean")
    else:  # `hwquant bench --json` writes a dict; a bare number is read too
        latency = typed.read(float | None, lat, f"{where}: latency_ms")
        typed.check_range(f"{where}: latency_ms", latency, {"minimum": 0})
    fid = _field("fidelity", report, where) or schema.Fidelity()
    outputs = {}
    for out, m in fid.outputs.items():
        if m is None or m == schema.OutputFidelity():
            raise _bad(f"{where}: fidelity.outputs.{out}", "an object of measures", report["fidelity"]["outputs"][out])
        acc = m.accuracy
        outputs[out] = OutputMeasures(
            snr_db=m.snr_db,
            top1_agreement=m.top1_agreement,
            classifier=m.classifier,
            identical=m.max_abs_error == 0,
            cosine=m.cosine,
            accuracy_delta_points=None if acc is None else acc.delta_points,
            labelled=acc is not None or "accuracy" in report["fidelity"]["outputs"][out],
            kind=m.kind,
            label_agreement=m.label_agreement,
        )
    return Measures(
        name, bool(pre), size, dev.tensor_arena_bytes, latency, outputs, dev.estimated_inferences_per_second
    )
