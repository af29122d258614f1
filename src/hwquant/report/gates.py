"""CI gates: size, tensor arena, fidelity and latency limits checked against a build report.

Every gate is declared once, in :data:`GATES`; the CLI flags of build/check/plan, the manifest and
workspace ``[gates]`` keys, the "no gate given" hints and the accuracy budget's measures are all
generated from that table.

A gate reads only report.json content (plain dicts), so `hwquant check REPORT.json|DIR` applies
the same gates to a report written earlier, on a machine without TensorFlow. Every failed gate
gives one line; any failure raises GateError (exit 5).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwquant.common import files
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


def finite_limit(value: Any, flag: str) -> float | None:
    """A fidelity/latency/estimate limit: a finite number (a NaN or infinite one would pass or fail everything)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(
            f"--{flag} {value!r}: a gate limit must be a finite number",
            hint="a NaN or infinite limit would pass or fail everything",
        )
    return value


def ranged(lo: float, hi: float = math.inf) -> Callable[[Any, str], float | None]:
    """A finite limit within [lo, hi]: the range of the measure it is compared with (an agreement of 7 or a
    negative latency could only pass or fail everything)."""

    def parse(value: Any, flag: str) -> float | None:
        v = finite_limit(value, flag)
        if v is not None and not lo <= v <= hi:
            within = f"from {lo:g} to {hi:g}" if math.isfinite(hi) else f"of at least {lo:g}"
            raise UsageError(f"--{flag} {value!r}: a limit must be a number {within}", hint="the measure's own range")
        return v

    return parse


def _size_limit(value: Any, flag: str) -> int | None:
    return parse_bytes(value)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# -- per-output fidelity measures: the gates and the build's accuracy budget (budget.py) both use these -------
def _snr_miss(o: measures.OutputMeasures, limit: float) -> str | None:
    if o.snr_db is None and o.identical:
        return None  # identical outputs: infinite SNR
    if o.snr_db is None or not _finite(o.snr_db):
        return f"has no finite SNR ({'null' if o.snr_db is None else o.snr_db}; NaN or infinite outputs?)"
    return None if o.snr_db >= limit else f"has SNR {o.snr_db:.1f} dB, limit {limit:g} dB"


def _cosine_miss(o: measures.OutputMeasures, limit: float) -> str | None:
    if o.cosine is None or not _finite(o.cosine):
        return f"has no finite cosine ({'null' if o.cosine is None else o.cosine}; NaN or infinite outputs?)"
    return None if o.cosine >= limit else f"has cosine {o.cosine:.4f}, limit {limit:g}"


def _agreement_miss(o: measures.OutputMeasures, limit: float) -> str | None:
    labels = o.kind == "multi-label"  # per-label decisions at 0.5, not top-1
    a = o.label_agreement if labels else o.top1_agreement
    what = "per-label agreement" if labels else "top-1 agreement"
    if a is None or not _finite(a):
        return f"has no finite {what} ({'null' if a is None else a})"
    return None if a >= limit else f"agrees on {'label decisions' if labels else 'top-1'} for {a:.3f}, limit {limit:g}"


def _accuracy_miss(o: measures.OutputMeasures, limit: float) -> str | None:
    d = o.accuracy_delta_points
    if d is None or not _finite(d):
        return f"has no finite accuracy ({'null' if d is None else d})"
    return None if -d <= limit else f"loses {-d:.2f} accuracy points, limit {limit:g}"


@dataclass(frozen=True)
class OutputGate:
    """A fidelity gate: checked on every output it applies to (``miss`` says why one misses)."""

    miss: Callable[[measures.OutputMeasures, float], str | None]
    applies: Callable[[measures.OutputMeasures], bool] = lambda o: True


@dataclass(frozen=True)
class Gate:
    """One CI gate, declared once: its flag (build, check, plan), manifest/workspace key, help text,
    parser, the report field it reads and the lines it fails with. Like ``BackendOption``, one
    declaration becomes everything else (see :data:`GATES`)."""

    name: str  # flag name without dashes: "max-size"
    unit: str  # what a limit is written in (the manifest's "what to write")
    direction: str  # "max": fails above the limit; "min": fails below it
    help: str
    reads: str  # the report field it reads (report.schema.json)
    missing: str  # the line when the report has no such measure
    parse: Callable[[Any, str], Any] = finite_limit  # the limit from a flag or a manifest value
    cli_type: Any = float
    manifest_types: tuple[type, ...] = (int, float)
    measure: str = ""  # the attribute of measures.Measures it reads (report-level gates)
    shows: str = "{v}"  # the failure line's measure, formatted
    non_finite: str = "the measure is {v} (not a finite number)"
    output: OutputGate | None = None  # per-output fidelity gate: also the build's accuracy budget

    @property
    def key(self) -> str:
        return self.name.replace("-", "_")

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def fidelity(self) -> bool:
        return self.output is not None

    def fails(self, value: Any, limit: float) -> str | None:
        """Why a report-level ``value`` fails this gate (None when it passes)."""
        if value is None:
            return self.missing
        if not _finite(value):
            return self.non_finite.format(v=value)
        over = value > limit if self.direction == "max" else value < limit
        return f"{self.shows.format(v=value)}, limit {limit:g}" if over else None


SIZE: dict[str, Any] = {"parse": _size_limit, "cli_type": str, "manifest_types": (str, int)}  # a size limit: 256KiB

GATES: tuple[Gate, ...] = (
    Gate(
        "max-size",
        "bytes or a size like 256KiB",
        "max",
        "Fail if the artifact is larger (bytes or 244KiB, 1.5MB).",
        "size_bytes.deployed, else size_bytes.artifact",
        "the report has no artifact size",
        **SIZE,
        measure="size",
        shows="artifact is {v} bytes",
    ),
    Gate(
        "max-arena",
        "bytes or a size",
        "max",
        "Fail if the tensor arena is larger (mcu: measured; ethos-u: from Vela's figures).",
        "measures.tensor_arena_bytes",
        "this target reports no tensor arena (mcu and ethos-u do)",
        **SIZE,
        measure="arena",
        shows="tensor arena is {v} bytes",
    ),
    Gate(
        "min-snr",
        "dB",
        "min",
        "Fail if any output's SNR vs float is lower (dB).",
        "fidelity.outputs.*.snr_db",
        "the report has no fidelity section",
        output=OutputGate(_snr_miss),
    ),
    Gate(
        "min-agreement",
        "a fraction",
        "min",
        "Fail if top-1 agreement with float is lower (0-1).",
        "fidelity.outputs.*.top1_agreement",
        "no output reports top-1 agreement (not a classifier output)",
        output=OutputGate(_agreement_miss, lambda o: o.classifier or o.kind == "multi-label"),
        parse=ranged(0, 1),
    ),
    Gate(
        "max-latency-ms",
        "milliseconds",
        "max",
        "Fail if the mean latency is higher (host LiteRT, or bench).",
        "latency_ms.mean",
        "the report has no latency (build with --max-latency-ms or bench)",
        measure="latency_ms",
        shows="mean latency {v:.3f} ms",
        parse=ranged(0),
    ),
    Gate(
        "min-cosine",
        "a fraction",
        "min",
        "Fail if any output's cosine similarity with float is lower.",
        "fidelity.outputs.*.cosine",
        "the report has no fidelity section",
        output=OutputGate(_cosine_miss),
        parse=ranged(-1, 1),
    ),
    Gate(
        "max-accuracy-drop",
        "percentage points",
        "max",
        "Fail if accuracy drops more (percentage points; needs labels).",
        "fidelity.outputs.*.accuracy.delta_points",
        "no output reports accuracy (needs labelled eval data on a classifier output)",
        output=OutputGate(_accuracy_miss, lambda o: o.labelled),
        parse=ranged(0, 100),
    ),
    Gate(
        "min-est-fps",
        "estimated inferences per second",
        "min",
        "Fail if the estimated inferences/s is lower (ethos-u: Vela's estimate, not a measurement).",
        "measures.estimated_inferences_per_second",
        "the report has no estimated inferences/s (only ethos-u estimates)",
        measure="est_fps",
        shows="estimated {v:.1f} inferences/s",
        non_finite="the estimate is {v} (not a finite number)",
        parse=ranged(0),
    ),
)

FIDELITY_MEASURES = tuple(g.key for g in GATES if g.fidelity)  # also the build's accuracy budget


def no_gate_hint(table: tuple[Gate, ...] = GATES, extra: str = "") -> str:
    """The hint when a command that gates was given none: every gate's flag."""
    return ", ".join(g.flag for g in table) + (f", or {extra}" if extra else "")


class Gates:
    """The limits given (flag, manifest or workspace), each checked by its :class:`Gate`.

    ``gates.max_size`` (any gate's key) is its limit or None."""

    def __init__(self, limits: dict[str, Any], table: tuple[Gate, ...] = GATES) -> None:
        self.table = table
        self.limits = {g.key: limits[g.key] for g in table if limits.get(g.key) is not None}

    @classmethod
    def of(cls, table: tuple[Gate, ...] = GATES, **given: Any) -> Gates:
        """Limits from flag or manifest values: each parsed by its gate (UsageError when unreadable)."""
        by_key = {g.key: g for g in table}
        unknown = sorted(set(given) - set(by_key))
        if unknown:
            raise UsageError(f"unknown gate(s): {', '.join(unknown)}", hint=f"the gates are {no_gate_hint(table)}")
        return cls({k: by_key[k].parse(v, by_key[k].name) for k, v in given.items()}, table)

    def __getattr__(self, name: str) -> Any:
        table = self.__dict__.get("table", GATES)
        if any(g.key == name for g in table):
            return self.__dict__["limits"].get(name)
        raise AttributeError(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Gates) and self.limits == other.limits

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.limits.items())))

    def __repr__(self) -> str:
        return f"Gates({self.limits!r})"

    @property
    def fidelity(self) -> dict[str, float]:
        """The gates that measure fidelity (they are also the build's accuracy budget)."""
        return {g.key: self.limits[g.key] for g in self.table if g.fidelity and g.key in self.limits}

    @property
    def any(self) -> bool:
        return bool(self.limits)

    def to_dict(self) -> dict[str, Any]:
        return {g.key: self.limits[g.key] for g in self.table if g.key in self.limits}


def check(report: dict[str, Any], gates: Gates) -> list[str]:
    """One line per failed gate for one target's report (empty when all pass).

    A gate passes only on a finite measure within its limit: a measure that is missing, null
    (NaN outputs) or non-finite fails its gate. The one exception is SNR, which is infinite when the
    artifact's outputs equal the float model's (report: snr_db null with max_abs_error 0).
    """
    m = measures.of(report)
    name = m.name
    if m.preflight_only and gates.any:
        return [f"{name}: preflight-only report has no artifact to gate"]
    fails: list[str] = []
    for g in gates.table:
        limit = gates.limits.get(g.key)
        if limit is None or g.fidelity:
            continue
        why = g.fails(getattr(m, g.measure), limit)
        if why:
            fails.append(f"{name}: {g.name}: {why}")
    fails += [f"{name}: {line}" for line in fidelity_misses(m.outputs, gates.fidelity, table=gates.table)]
    return fails


def recorded(report: dict[str, Any]) -> list[str]:
    """What the build itself recorded against this report: its gates (the manifest's and the command
    line's, applied again here) and a later build of the target that failed (the folder then holds
    the earlier build). One line each; empty when the build recorded neither."""
    m = measures.of(report)
    fails: list[str] = []
    record = report.get("gates")
    if isinstance(record, dict) and isinstance(record.get("limits"), dict):
        try:
            fails += check(report, Gates.of(**record["limits"]))
        except UsageError as exc:
            raise InputError(f"{m.name}: the report's gates cannot be read: {exc.message}") from None
        fails += [f for f in record.get("fails") or [] if isinstance(f, str) and f not in fails]
    latest = report.get("latest_failure")
    if isinstance(latest, dict):
        fails.append(
            f"{m.name}: the latest build failed (exit {latest.get('exit_code')}): {latest.get('message')}; "
            "this folder holds an earlier build"
        )
    return fails


def fidelity_misses(
    outputs: dict[str, measures.OutputMeasures],
    limits: dict[str, float],
    applies: Any = None,
    table: tuple[Gate, ...] = GATES,
) -> list[str]:
    """One line per output and fidelity limit it misses (a missing or non-finite measure misses).

    ``applies(measure, output)``, when given, narrows the outputs a limit reads (the default
    budget reads agreement on class scores and SNR on the others) and drops the line for a
    limit that no output reads."""
    by_key = {g.key: g for g in table if g.output is not None}
    lines = []
    for key, limit in limits.items():
        if limit is None:
            continue
        g = by_key[key]
        assert g.output is not None
        read = {n: o for n, o in outputs.items() if g.output.applies(o) and (applies is None or applies(key, o))}
        if not read and applies is None:
            lines.append(f"{g.name}: {g.missing}")
        for n, o in read.items():
            why = g.output.miss(o, limit)
            if why:
                lines.append(f"{g.name}: output {n} {why}")
    return lines


def enforce(reports: list[dict[str, Any]], gates: Gates) -> list[str]:
    """Raise GateError with one line per failed gate across ``reports``."""
    return raise_fails([line for r in reports for line in check(r, gates)])


def raise_fails(fails: list[str]) -> list[str]:
    """GateError (exit 5) with one line per failed gate, when any failed."""
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
        data = json.loads(files.read_text(f, "report"))
    except (OSError, ValueError, RecursionError) as exc:
        raise InputError(f"{f}: not a readable JSON report ({exc})") from exc
    found = measures.reports_in(data, f)
    for r in found:
        measures.of(r, f)  # wrong value types are bad input (exit 2)
    return found
