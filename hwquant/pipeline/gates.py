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
from hwquant.pipeline import measures

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000 ** 2, "mb": 1000 ** 2, "mib": 1024 ** 2}


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

    @classmethod
    def of(cls, max_size=None, max_arena=None, min_snr=None, min_agreement=None, max_latency_ms=None) -> "Gates":
        for flag, v in (("min-snr", min_snr), ("min-agreement", min_agreement), ("max-latency-ms", max_latency_ms)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise UsageError(f"--{flag} {v!r}: a gate limit must be a finite number",
                                 hint="a NaN or infinite limit would pass or fail everything")
        return cls(parse_bytes(max_size), parse_bytes(max_arena), min_snr, min_agreement, max_latency_ms)

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
        ("max-arena", gates.max_arena, m.arena, "this target measures no tensor arena (only mcu does)",
         "tensor arena is {v} bytes"),
        ("max-latency-ms", gates.max_latency_ms, m.latency_ms,
         "the report has no latency (build with --max-latency-ms or bench)", "mean latency {v:.3f} ms"),
    ):
        if limit is None:
            continue
        if value is None:
            fails.append(f"{name}: {gate}: {missing}")
        elif not _finite(value):
            fails.append(f"{name}: {gate}: the measure is {value} (not a finite number)")
        elif value > limit:
            fails.append(f"{name}: {gate}: {what.format(v=value)}, limit {limit:g}")
    if gates.min_snr is not None:
        if not m.outputs:
            fails.append(f"{name}: min-snr: the report has no fidelity section")
        for out, o in m.outputs.items():
            snr = o.snr_db
            if snr is None and o.identical:
                continue  # identical outputs: infinite SNR
            if not _finite(snr):
                fails.append(f"{name}: min-snr: output {out} has no finite SNR ({'null' if snr is None else snr}; "
                             "NaN or infinite outputs?)")
            elif snr < gates.min_snr:
                fails.append(f"{name}: min-snr: output {out} has SNR {snr:.1f} dB, limit {gates.min_snr:g} dB")
    if gates.min_agreement is not None:
        agree = {o: v.top1_agreement for o, v in m.outputs.items() if v.classifier}
        if not agree:
            fails.append(f"{name}: min-agreement: no output reports top-1 agreement (not a classifier output)")
        for out, a in agree.items():
            if not _finite(a):
                fails.append(f"{name}: min-agreement: output {out} has no finite top-1 agreement "
                             f"({'null' if a is None else a})")
            elif a < gates.min_agreement:
                fails.append(f"{name}: min-agreement: output {out} agrees on top-1 for {a:.3f}, "
                             f"limit {gates.min_agreement:g}")
    return fails


def enforce(reports: list[dict[str, Any]], gates: Gates) -> list[str]:
    """Raise GateError with one line per failed gate across ``reports``."""
    fails = [line for r in reports for line in check(r, gates)]
    if fails:
        raise GateError(f"{len(fails)} gate(s) failed:\n" + "\n".join(f"  {f}" for f in fails),
                        hint="raise the limit, or change the recipe/target so the artifact meets it")
    return fails


def host_latency_ms(artifact: bytes, runs: int = 20) -> dict[str, Any]:
    """Mean/median latency of the artifact in the LiteRT CPU interpreter on this host (zeros in)."""
    import numpy as np

    from hwquant.device.bench import timed_runs
    from hwquant.device.runtime import make_interpreter

    interp = make_interpreter(artifact, num_threads=1, source="artifact")
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    interp.invoke()
    times = np.asarray(timed_runs(interp.invoke, runs, max_secs=3600.0, chunk=runs)) / 1e6
    return {"mean": float(np.mean(times)), "median": float(np.median(times)), "runs": runs,
            "runtime": "LiteRT CPU interpreter on the build host, 1 thread"}


def load_reports(path: Path) -> list[dict[str, Any]]:
    """report.json files from a file, a target dir, or a build dir (every OUT/*/report.json)."""
    path = Path(path)
    if path.is_dir():
        files = [path / "report.json"] if (path / "report.json").is_file() else sorted(path.glob("*/report.json"))
    else:
        files = [path]
    if not files or not all(f.is_file() for f in files):
        raise InputError(f"{path}: no report.json found", hint="pass a report.json, OUT/<target>/ or OUT/")
    reports = []
    for f in files:
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{f}: not a readable JSON report ({exc})") from exc
        found = measures.reports_in(data, f)
        for r in found:
            measures.of(r, f)  # wrong value types are bad input (exit 2), found before any gate runs
        reports.extend(found)
    if not reports:
        raise InputError(f"{path}: holds no report to check", hint="a gate on nothing would pass without checking")
    return reports
