"""The measures a gate reads from a report (build report.json or one model of `hwquant bench --json`).

Reports come from files a user passes (`hwquant check`), so their shape is checked here: a report
that is not a JSON object, or a measure of the wrong type (a string for a size, a list for an SNR),
is bad input (InputError, exit 2). A measure that is absent or null is returned as None and a
non-finite number as itself: whether that passes is the gate's decision (it fails).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwquant.common.errors import InputError


@dataclass(frozen=True)
class OutputMeasures:
    snr_db: float | None
    top1_agreement: float | None
    classifier: bool  # the output reports top-1 agreement (a key, even when null)
    identical: bool  # max abs error is exactly 0: the outputs equal the reference (SNR infinite)
    cosine: float | None = None
    accuracy_delta_points: float | None = None  # quantized minus float accuracy, in points
    labelled: bool = False  # the output reports accuracy (labelled eval data)


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


def _num(where: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(where, "a number or null", value)
    return value


def _table(where: str, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(where, "an object", value)
    return value


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
    """Every gate measure of ``report``, type-checked (InputError naming the key when wrong)."""
    if not isinstance(report, dict):
        raise _bad(str(source), "a JSON object (a report)", report)
    name = next((v for v in (report.get("target"), report.get("model")) if isinstance(v, str) and v), "report")
    where = f"{source} ({name})"
    pre = report.get("preflight_only", False)
    if not isinstance(pre, bool):
        raise _bad(f"{where}: preflight_only", "true/false", pre)
    sizes = report.get("size_bytes")
    if isinstance(sizes, dict) or sizes is None:  # "deployed": what goes on the device (ethos-u: Vela's output)
        key = "deployed" if "deployed" in _table(f"{where}: size_bytes", sizes) else "artifact"
        size = _num(f"{where}: size_bytes.{key}", _table(f"{where}: size_bytes", sizes).get(key))
    else:
        size = _num(f"{where}: size_bytes", sizes)
    arena = None
    for key, section in report.items():
        if isinstance(section, dict) and "tensor_arena" in section:
            arena = _num(
                f"{where}: {key}.tensor_arena.bytes",
                _table(f"{where}: {key}.tensor_arena", section["tensor_arena"]).get("bytes"),
            )
            break
    est_fps = None
    for key, section in report.items():
        if isinstance(section, dict) and isinstance(section.get("estimates"), dict):
            est_fps = _num(
                f"{where}: {key}.estimates.inferences_per_second", section["estimates"].get("inferences_per_second")
            )
            break
    lat = report.get("latency_ms")
    latency = (
        _num(f"{where}: latency_ms.mean", lat.get("mean"))
        if isinstance(lat, dict)
        else _num(f"{where}: latency_ms", lat)
    )
    fid = _table(f"{where}: fidelity", report.get("fidelity"))
    outputs = {}
    for out, m in _table(f"{where}: fidelity.outputs", fid.get("outputs")).items():
        m = _table(f"{where}: fidelity.outputs.{out}", m)
        if not m:
            raise _bad(f"{where}: fidelity.outputs.{out}", "an object of measures", m)
        err = _num(f"{where}: fidelity.outputs.{out}.max_abs_error", m.get("max_abs_error"))
        outputs[out] = OutputMeasures(
            snr_db=_num(f"{where}: fidelity.outputs.{out}.snr_db", m.get("snr_db")),
            top1_agreement=_num(f"{where}: fidelity.outputs.{out}.top1_agreement", m.get("top1_agreement")),
            classifier="top1_agreement" in m,
            identical=err == 0,
            cosine=_num(f"{where}: fidelity.outputs.{out}.cosine", m.get("cosine")),
            accuracy_delta_points=_num(
                f"{where}: fidelity.outputs.{out}.accuracy.delta_points",
                _table(f"{where}: fidelity.outputs.{out}.accuracy", m.get("accuracy")).get("delta_points"),
            ),
            labelled="accuracy" in m,
        )
    return Measures(name, pre, size, arena, latency, outputs, est_fps)
