"""The accuracy budget: how much fidelity a quantized artifact may lose against the float model.

The budget's measures are the fidelity gates (``gates.fidelity_misses``), defined once. When the
user gives none of ``--max-accuracy-drop``, ``--min-agreement``, ``--min-snr``, ``--min-cosine``,
the default budget applies:

Each output is read by its kind (``choice.kinds``, from the float model's graph or --output-kind):

- ``probabilities`` and ``logits``: top-1 agreement with the float model >= 0.98, and with labelled
  eval data an accuracy drop <= 1 percentage point; below 10 dB SNR such scores lost their
  resolution and miss whatever their agreement;
- ``multi-label``: per-label decision agreement (at 0.5) >= 0.98;
- ``regression`` (reconstructions, embeddings, spectra): SNR >= 20 dB against the float output
  (noise power at most 1 % of the signal; cosine >= 0.995 follows from it).

Why these: on the issue's evidence, int8 artifacts that users called broken sat at 0.875-0.96
top-1 agreement and 19 dB SNR, or cosine 0.77, while recipes users accepted reached 1.000 and
33 dB; the bundled digits model's int8 build keeps 1.000 agreement, 43 dB and +0.27 points of accuracy. A budget between
the two separates them without pushing healthy int8 builds to larger recipes.

Every measure carries a 95 % interval (``choice.stats``). The default budget misses only when the
interval lies entirely on the wrong side of the limit (a confident miss): a point estimate below the
limit whose interval reaches it is ``undecided``, the rule's proposal is kept, and a warning names the
interval and about how many eval samples would decide it. A budget the user gave decides on the point
estimate, as gates do; the report shows the interval beside it (``fidelity.outputs.*.measures``).

A budget needs evidence: with random calibration data (``random:N``) or no data at all, no
fidelity claim means anything, so the default budget is not applied (the report says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hwquant.choice import stats
from hwquant.choice.kinds import CLASS_KINDS, MIN_CLASS_SNR_DB
from hwquant.choice.verify import Comparison
from hwquant.common.errors import UsageError
from hwquant.config.data import DataSet
from hwquant.report import measures
from hwquant.report.gates import FIDELITY_MEASURES, GATES, fidelity_misses

DEFAULT_LIMITS = {"min_agreement": 0.98, "max_accuracy_drop": 1.0, "min_snr": 20.0}
# budget limit -> (the measure in fidelity.outputs.*.measures, its direction)
MEASURE_OF = {
    "min_agreement": ("top1_agreement", "min"),
    "max_accuracy_drop": ("accuracy_drop_points", "max"),
    "min_snr": ("snr_db", "min"),
    "min_cosine": ("cosine", "min"),
}
MEASURE_NAMES = {
    "top1_agreement": "top-1 agreement",
    "label_agreement": "per-label agreement",
    "accuracy_drop_points": "accuracy drop (points)",
    "snr_db": "SNR (dB)",
    "cosine": "cosine",
}
DEFAULT_SCOPE = {
    "min_agreement": "probabilities and logits outputs (top-1), multi-label outputs (per label at 0.5)",
    "max_accuracy_drop": "probabilities and logits outputs, with labels",
    "min_snr": "regression outputs; probabilities and logits below 10 dB lost their resolution",
}


@dataclass(frozen=True)
class Budget:
    limits: dict[str, float] = field(default_factory=dict)
    source: str = "default"  # default | command line | manifest
    applied: bool = True
    why_not: str = ""  # when not applied

    @property
    def is_default(self) -> bool:
        return self.source == "default"

    def misses(self, fidelity: Comparison | dict[str, Any] | None) -> list[str]:
        """Lines naming every limit the artifact misses, plus what the doctor found (collapse,
        non-finite values). Empty when within budget. ``fidelity``: the verify comparison, or its
        report.json form. The default budget counts only confident misses (see :meth:`judge`)."""
        lines = list(doctor_findings(fidelity))
        if not self.applied:
            return lines
        lines += [j.line for j in self.judge(fidelity) if j.verdict == "miss"]
        return lines + (resolution_lost(fidelity) if self.is_default else [])

    def undecided(self, fidelity: Comparison | dict[str, Any] | None) -> list[str]:
        """Warnings for the default budget's undecided measures: the point estimate misses, the interval
        reaches the limit; each names the interval and about how many eval samples would decide it."""
        return [j.undecided_line() for j in self.judge(fidelity) if j.verdict == "undecided"]

    def judge(self, fidelity: Comparison | dict[str, Any] | None) -> list[Judgement]:
        """Every (output, limit) this budget reads, with its verdict (pass | miss | undecided)."""
        if not self.applied:
            return []
        data = _as_dict(fidelity)
        outputs = measures.of({"fidelity": data}, "fidelity").outputs
        raw = data.get("outputs") or {}
        found = []
        for key, limit in self.limits.items():
            measure, direction = MEASURE_OF[key]
            gate = next(g for g in GATES if g.key == key)
            assert gate.output is not None
            read = {n: o for n, o in outputs.items() if gate.output.applies(o)}
            if self.is_default:
                read = {n: o for n, o in read.items() if _default_scope(key, o)}
            elif not read:  # a limit the user gave that no output reports fails, as its gate does
                line = fidelity_misses(outputs, {key: limit})[0]
                found.append(Judgement("", key, measure, limit, direction, None, "miss", line))
            for name, o in read.items():
                lines = fidelity_misses({name: o}, {key: limit})
                m_name = "label_agreement" if key == "min_agreement" and o.kind == "multi-label" else measure
                iv = _interval(raw.get(name), m_name)
                v = stats.verdict(iv, limit, direction, point=not self.is_default, point_misses=bool(lines))
                found.append(Judgement(name, key, m_name, limit, direction, iv, v, lines[0] if lines else ""))
        return found

    def judged_fidelity(self, fidelity: Comparison | dict[str, Any] | None) -> dict[str, Any]:
        """report.json's ``fidelity`` section with each measure's ``limit`` and ``verdict`` filled in."""
        data = _as_dict(fidelity)
        out = {**data, "outputs": {n: dict(m) for n, m in (data.get("outputs") or {}).items()}}
        for j in self.judge(fidelity):
            m = out["outputs"].get(j.output)
            if m is None or j.measure not in (m.get("measures") or {}):
                continue
            m["measures"] = {k: dict(v) for k, v in m["measures"].items()}
            entry = m["measures"][j.measure]
            entry["limit"], entry["verdict"] = j.limit, j.verdict
            if j.verdict == "undecided" and j.interval is not None:
                entry["samples_to_decide"] = stats.samples_to_decide(j.interval, j.limit, j.direction)
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"source": self.source, "applied": self.applied, "limits": dict(self.limits)}
        if self.is_default:
            d["scope"] = {k: DEFAULT_SCOPE[k] for k in self.limits}
        if not self.applied:
            d["why_not_applied"] = self.why_not
        return d

    def describe(self) -> str:
        text = ", ".join(f"{k.replace('_', '-')} {v:g}" for k, v in self.limits.items())
        return f"{self.source} budget ({text})" if self.applied else f"no budget ({self.why_not})"


@dataclass(frozen=True)
class Judgement:
    """One budget limit on one output: the measure, its interval and the verdict."""

    output: str
    key: str  # the budget limit (min_agreement ...)
    measure: str  # the measure it reads (top1_agreement ...)
    limit: float
    direction: str  # min | max
    interval: stats.Interval | None
    verdict: str  # pass | miss | undecided
    line: str  # the gate's line when the point estimate misses ("" when it passes)

    def undecided_line(self) -> str:
        iv = self.interval
        assert iv is not None and iv.value is not None and iv.low is not None and iv.high is not None
        need = stats.samples_to_decide(iv, self.limit, self.direction)
        return (
            f"output {self.output}: {MEASURE_NAMES[self.measure]} {iv.value:.4g} is undecided on {iv.samples} "
            f"samples (95 % interval {iv.low:.4g} to {iv.high:.4g}, limit {self.limit:g}); kept the rule's "
            "proposal" + (f"; about {need} eval samples would decide it (--eval-data)" if need else "")
        )


def _interval(m: Any, measure: str) -> stats.Interval | None:
    if not isinstance(m, dict):
        return None
    v = (m.get("measures") or {}).get(measure)
    if not isinstance(v, dict) or v.get("low") is None or v.get("high") is None:
        return None
    return stats.Interval(v.get("value"), int(v.get("samples") or 0), v["low"], v["high"], str(v.get("method", "")))


def _default_scope(measure: str, o: measures.OutputMeasures) -> bool:
    """The default budget reads each output by its kind (choice.kinds); reports without kinds by shape."""
    if o.kind is None:
        return o.classifier if measure in ("min_agreement", "max_accuracy_drop") else not o.classifier
    if measure == "min_agreement":
        return o.kind in (*CLASS_KINDS, "multi-label")
    if measure == "max_accuracy_drop":
        return o.kind in CLASS_KINDS
    return o.kind == "regression"


def resolution_lost(fidelity: Comparison | dict[str, Any] | None) -> list[str]:
    """Class-score outputs whose SNR fell below MIN_CLASS_SNR_DB: the scores lost their resolution, and
    top-1 agreement on them means little (the default budget fails them whatever their agreement)."""
    lines = []
    for name, m in (_as_dict(fidelity).get("outputs") or {}).items():
        snr = m.get("snr_db")
        if m.get("kind") in CLASS_KINDS and snr is not None and snr < MIN_CLASS_SNR_DB:
            lines.append(
                f"min-snr: output {name} ({m['kind']}) has SNR {snr:.1f} dB, below {MIN_CLASS_SNR_DB:g} dB: "
                "the scores lost their resolution (keep the final softmax float with --float-layer, or use "
                "16x8) whatever its agreement"
            )
    return lines


def _as_dict(fidelity: Comparison | dict[str, Any] | None) -> dict[str, Any]:
    return fidelity.to_dict() if isinstance(fidelity, Comparison) else (fidelity or {})


def doctor_findings(fidelity: Comparison | dict[str, Any] | None, collapse: bool = True) -> list[str]:
    """What makes an artifact unusable whatever the budget: non-finite outputs, a collapsed top-1
    (``collapse=False`` leaves collapses out, for callers that only warn about them)."""
    lines = []
    for out, m in (_as_dict(fidelity).get("outputs") or {}).items():
        if m.get("reference_non_finite"):
            continue  # the float model's own fault: reference_faults() reports it
        if m.get("non_finite"):
            lines.append(
                f"output {out} has {m['non_finite']} non-finite value(s) (NaN or inf) where the float "
                f"model's are finite"
            )
        if m.get("collapsed") and collapse:
            lines.append(
                f"output {out} collapsed: its top-1 class is the same for every eval sample while the "
                f"float model's varies"
            )
    return lines


def reference_faults(fidelity: Comparison | dict[str, Any] | None) -> list[str]:
    """Outputs where the float model itself gives NaN or inf on the eval data."""
    return [
        f"output {out}: {m['reference_non_finite']} non-finite value(s)"
        for out, m in (_as_dict(fidelity).get("outputs") or {}).items()
        if m.get("reference_non_finite")
    ]


def resolve(
    given: Mapping[str, float | None], source: str, calibration: DataSet | None, evaluation: DataSet | None
) -> Budget:
    """The budget for a build: the fidelity limits the user gave, else the default (when data allows)."""
    limits = {k: v for k, v in (given or {}).items() if k in FIDELITY_MEASURES and v is not None}
    labelled = evaluation is not None and evaluation.labels is not None
    if limits:
        if "max_accuracy_drop" in limits and not labelled:
            raise UsageError(
                "--max-accuracy-drop needs labelled eval data (the accuracy of both models)",
                hint="give --eval-data FILE.npz with a 'labels' array, or use --min-agreement",
            )
        return Budget(limits, source)
    if calibration is None or calibration.random:
        why = "no representative data" if calibration is None else "random calibration data (random:N)"
        return Budget({}, "default", applied=False, why_not=why)
    defaults = dict(DEFAULT_LIMITS)
    if not labelled:
        defaults.pop("max_accuracy_drop")
    return Budget(defaults, "default")
