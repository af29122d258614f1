"""The accuracy budget: how much fidelity a quantized artifact may lose against the float model.

The budget's measures are the fidelity gates (``gates.fidelity_misses``), defined once. When the
user gives none of ``--max-accuracy-drop``, ``--min-agreement``, ``--min-snr``, ``--min-cosine``,
the default budget applies:

- class-score outputs (one vector of >= 2 scores per sample): top-1 agreement with the float
  model >= 0.98, and with labelled eval data an accuracy drop <= 1 percentage point;
- every other output (regression, embeddings, spectra): SNR >= 20 dB against the float output
  (noise power at most 1 % of the signal; cosine >= 0.995 follows from it).

Why these: on the issue's evidence, int8 artifacts that users called broken sat at 0.875-0.96
top-1 agreement and 19 dB SNR, or cosine 0.77, while recipes users accepted reached 1.000 and
33 dB; the bundled digits model's int8 build keeps 1.000 agreement, 43 dB and +0.27 points of accuracy. A budget between
the two separates them without pushing healthy int8 builds to larger recipes.

A budget needs evidence: with random calibration data (``random:N``) or no data at all, no
fidelity claim means anything, so the default budget is not applied (the report says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hwquant.choice.verify import Comparison
from hwquant.common.errors import UsageError
from hwquant.config.data import DataSet
from hwquant.report import measures
from hwquant.report.gates import FIDELITY_MEASURES, fidelity_misses

DEFAULT_LIMITS = {"min_agreement": 0.98, "max_accuracy_drop": 1.0, "min_snr": 20.0}
DEFAULT_SCOPE = {
    "min_agreement": "class-score outputs",
    "max_accuracy_drop": "class-score outputs with labels",
    "min_snr": "outputs that are not class scores",
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
        report.json form."""
        outputs = measures.of({"fidelity": _as_dict(fidelity)}, "fidelity").outputs
        lines = list(doctor_findings(fidelity))
        if not self.applied:
            return lines
        if self.is_default:
            lines += fidelity_misses(outputs, self.limits, applies=_default_scope)
        else:
            lines += fidelity_misses(outputs, self.limits)
        return lines

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


def _default_scope(measure: str, o: measures.OutputMeasures) -> bool:
    return o.classifier if measure in ("min_agreement", "max_accuracy_drop") else not o.classifier


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
