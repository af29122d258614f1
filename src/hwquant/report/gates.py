"""CI gates: size, tensor arena, fidelity and latency limits checked against a build report.

A gate reads only report.json content (plain dicts), so `hwquant check REPORT.json|DIR` applies
the same gates to a report written earlier, on a machine without TensorFlow. Every failed gate
gives one line; any failure raises GateError (exit 5).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwquant.common.errors import GateError, InputError, UsageError
from hwquant.report import measures

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2}


def parse_bytes(text: str | int | None) -> int | None:
    """'250000', '244KiB', '1.5MB' -> bytes."""
    if text is None:
        return None
    if isinstance(text, bool) or (isinstance(text, int) and text < 0):
        raise UsageError(f"cannot read {text!r} as a size", hint="write bytes (250000) or with a unit: 244KiB, 1.5MB")
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise UsageError(f"cannot read {text!r} as a size", hint="write bytes (250000) or with a unit: 244KiB, 1.5MB")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


@dataclass(frozen=True)
class Gates:
    max_size: int | None = None  # bytes of the target's artifact
    max_arena: int | None = None  # bytes of tensor arena (targets that measure one: mcu)
    min_snr: float | None = None  # dB, worst output
    min_agreement: float | None = None  # top-1 agreement with float, worst output
    max_latency_ms: float | None = None  # mean host latency (or bench report's mean)
    min_cosine: float | None = None  # cosine similarity with float, worst output
    max_accuracy_drop: float | None = None  # percentage points of accuracy lost vs float (needs labels)
    min_est_fps: float | None = None  # estimated inferences/s (ethos-u: Vela's estimate, not a measurement)

    @classmethod
    def of(
        cls,
        max_size=None,
        max_arena=None,
        min_snr=None,
        min_agreement=None,
        max_latency_ms=None,
        min_cosine=None,
        max_accuracy_drop=None,
        min_est_fps=None,
    ) -> Gates:
        for flag, v in (
            ("min-snr", min_snr),
            ("min-agreement", min_agreement),
            ("max-latency-ms", max_latency_ms),
            ("min-cosine", min_cosine),
            ("max-accuracy-drop", max_accuracy_drop),
            ("min-est-fps", min_est_fps),
        ):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise UsageError(
                    f"--{flag} {v!r}: a gate limit must be a finite number",
                    hint="a NaN or infinite limit would pass or fail everything",
                )
        return cls(
            parse_bytes(max_size),
            parse_bytes(max_arena),
            min_snr,
            min_agreement,
            max_latency_ms,
            min_cosine,
            max_accuracy_drop,
            min_est_fps,
        )

    @property
    def fidelity(self) -> dict[str, float]:
        """The gates that measure fidelity (they are also the build's accuracy budget)."""
        return {k: v for k, v in self.to_dict().items() if k in FIDELITY_MEASURES}

    @property
    def any(self) -> bool:
        return any(v is not None for v in self.__dict__.values())

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check(report: dict[str, Any], gates: Gates) -> list[str]:
    """One line per failed gate for one target's report (empty when all pass).

    A gate passes only on a finite measure within its limit: a measure that is missing, null
    (NaN outputs) or non-finite fails its gate. The one exception is SNR, which is infinite when the
    artifact's outputs equal the float model's (report: snr_db null with max_abs_error 0).
    """
    m = measures.of(report)
    name = m.name
    fails: list[str] = []
    if m.preflight_only and gates.any:
        return [f"{name}: preflight-only report has no artifact to gate"]
    for gate, limit, value, missing, what in (
        ("max-size", gates.max_size, m.size, "the report has no artifact size", "artifact is {v} bytes"),
        (
            "max-arena",
            gates.max_arena,
            m.arena,
            "this target reports no tensor arena (mcu and ethos-u do)",
            "tensor arena is {v} bytes",
        ),
        (
            "max-latency-ms",
            gates.max_latency_ms,
            m.latency_ms,
            "the report has no latency (build with --max-latency-ms or bench)",
            "mean latency {v:.3f} ms",
        ),
    ):
        if limit is None:
            continue
        if value is None:
            fails.append(f"{name}: {gate}: {missing}")
        elif not _finite(value):
            fails.append(f"{name}: {gate}: the measure is {value} (not a finite number)")
        elif value > limit:
            fails.append(f"{name}: {gate}: {what.format(v=value)}, limit {limit:g}")
    if gates.min_est_fps is not None:  # an estimate: the report says whose (ethos-u: Vela's)
        if m.est_fps is None:
            fails.append(f"{name}: min-est-fps: the report has no estimated inferences/s (only ethos-u estimates)")
        elif not _finite(m.est_fps):
            fails.append(f"{name}: min-est-fps: the estimate is {m.est_fps} (not a finite number)")
        elif m.est_fps < gates.min_est_fps:
            fails.append(f"{name}: min-est-fps: estimated {m.est_fps:.1f} inferences/s, limit {gates.min_est_fps:g}")
    fails += [f"{name}: {line}" for line in fidelity_misses(m.outputs, gates.fidelity)]
    return fails


# -- fidelity measures: the gates and the build's accuracy budget (budget.py) both use these --------
FIDELITY_MEASURES = ("min_snr", "min_agreement", "min_cosine", "max_accuracy_drop")


def _snr_miss(o: measures.OutputMeasures, limit: float) -> str | None:
    if o.snr_db is None and o.identical:
        return None  # identical outputs: infinite SNR
    if not _finite(o.snr_db):
        return f"has no finite SNR ({'null' if o.snr_db is None else o.snr_db}; NaN or infinite outputs?)"
    return None if o.snr_db >= limit else f"has SNR {o.snr_db:.1f} dB, limit {limit:g} dB"


def _cosine_miss(o: measures.OutputMeasures, limit: float) -> str | None:
    if not _finite(o.cosine):
        return f"has no finite cosine ({'null' if o.cosine is None else o.cosine}; NaN or infinite outputs?)"
    return None if o.cosine >= limit else f"has cosine {o.cosine:.4f}, limit {limit:g}"


def _agreement_miss(o: measures.OutputMeasures, limit: float) -> str | None:
    a = o.top1_agreement
    if not _finite(a):
        return f"has no finite top-1 agreement ({'null' if a is None else a})"
    return None if a >= limit else f"agrees on top-1 for {a:.3f}, limit {limit:g}"


def _accuracy_miss(o: measures.OutputMeasures, limit: float) -> str | None:
    d = o.accuracy_delta_points
    if not _finite(d):
        return f"has no finite accuracy ({'null' if d is None else d})"
    return None if -d <= limit else f"loses {-d:.2f} accuracy points, limit {limit:g}"


# measure -> (gate name, miss(output, limit), which outputs it reads, what to say when none has it)
_FIDELITY = {
    "min_snr": ("min-snr", _snr_miss, lambda o: True, "the report has no fidelity section"),
    "min_agreement": (
        "min-agreement",
        _agreement_miss,
        lambda o: o.classifier,
        "no output reports top-1 agreement (not a classifier output)",
    ),
    "min_cosine": ("min-cosine", _cosine_miss, lambda o: True, "the report has no fidelity section"),
    "max_accuracy_drop": (
        "max-accuracy-drop",
        _accuracy_miss,
        lambda o: o.labelled,
        "no output reports accuracy (needs labelled eval data on a classifier output)",
    ),
}


def fidelity_misses(
    outputs: dict[str, measures.OutputMeasures], limits: dict[str, float], applies: Any = None
) -> list[str]:
    """One line per output and fidelity limit it misses (a missing or non-finite measure misses).

    ``applies(measure, output)``, when given, narrows the outputs a limit reads (the default
    budget reads agreement on class scores and SNR on the others) and drops the line for a
    limit that no output reads."""
    lines = []
    for key, limit in limits.items():
        if limit is None:
            continue
        gate, miss, reads, none = _FIDELITY[key]
        read = {n: o for n, o in outputs.items() if reads(o) and (applies is None or applies(key, o))}
        if not read and applies is None:
            lines.append(f"{gate}: {none}")
        for n, o in read.items():
            why = miss(o, limit)
            if why:
                lines.append(f"{gate}: output {n} {why}")
    return lines


def enforce(reports: list[dict[str, Any]], gates: Gates) -> list[str]:
    """Raise GateError with one line per failed gate across ``reports``."""
    fails = [line for r in reports for line in check(r, gates)]
    if fails:
        raise GateError(
            f"{len(fails)} gate(s) failed:\n" + "\n".join(f"  {f}" for f in fails),
            hint="raise the limit, or change the recipe/target so the artifact meets it",
        )
    return fails


def load_reports(path: Path) -> list[dict[str, Any]]:
    """report.json files from a file, a target dir, or a build dir (every OUT/*/report.json)."""
    path = Path(path)
    if path.is_dir():
        files = [path / "report.json"] if (path / "report.json").is_file() else sorted(path.glob("*/report.json"))
    else:
        files = [path]
    if not files or not all(f.is_file() for f in files):
        raise InputError(f"{path}: no report.json found", hint="pass a report.json, OUT/<target>/ or OUT/")
    reports = [r for f in files for r in read_reports(f)]
    if not reports:
        raise InputError(f"{path}: holds no report to check", hint="a gate on nothing would pass without checking")
    return reports


def read_reports(f: Path) -> list[dict[str, Any]]:
    """The reports one JSON file holds, type-checked: bad input (exit 2) is found before any gate runs."""
    try:
        data = json.loads(f.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{f}: not a readable JSON report ({exc})") from exc
    found = measures.reports_in(data, f)
    for r in found:
        measures.of(r, f)  # wrong value types are bad input (exit 2)
    return found
