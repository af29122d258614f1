"""Verify stage: invoke the artifact in LiteRT on held-out samples and compare with float.

Every build runs this; a model that fails to allocate or invoke fails the build with the
interpreter's message. Integer IO is quantized / dequantized with the model's own scale and
zero point, so the comparison is always in real values. The interpreter runs in the build's
worker process (``hwquant.device.contain``): a model that crashes LiteRT is exit 4 naming the
stage and the signal, and hwquant goes on (the other targets of the build still build).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hwquant.choice import kinds as kinds_mod
from hwquant.choice import stats
from hwquant.common.errors import ToolchainError, first_line
from hwquant.config.data import DataSet
from hwquant.device import contain, metrics
from hwquant.device.runtime import dequantize, make_interpreter, quantize, signature
from hwquant.plugin.facts import ModelFacts


def run_model(interp: Any, key: str, inputs: dict[str, np.ndarray], what: str) -> dict[str, np.ndarray]:
    """One inference by signature key, real values in and out."""
    sig = signature(interp, key or None)
    try:
        if sig.key:
            runner = interp.get_signature_runner(sig.key)
            raw = runner(**{n: quantize(inputs[n], d) for n, d in sig.inputs.items()})
        else:  # models without a SignatureDef: subgraph 0 IO in order
            for d in interp.get_input_details():
                interp.set_tensor(d["index"], quantize(inputs[d["name"]], d))
            interp.invoke()
            raw = {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}
    except (RuntimeError, ValueError) as exc:
        raise ToolchainError(
            f"{what}: the LiteRT interpreter failed to invoke: {first_line(exc)}",
            hint="the converter emitted a model the runtime cannot run; try a float-fallback recipe, or rerun with -v",
        ) from exc
    return {n: dequantize(v, sig.outputs[n]) for n, v in raw.items()}


def outputs(model: bytes, evaluation: DataSet, facts: ModelFacts, what: str) -> dict[str, np.ndarray]:
    """Real-valued outputs of ``model`` on every evaluation sample, stacked per output name, computed
    in the worker process (the evaluation data crosses the pipe once per worker)."""
    return contain.call(
        _outputs_here,
        model,
        contain.shared(evaluation),
        facts,
        what,
        stage=f"running the {what} on the evaluation data",
        tool="the LiteRT interpreter",
        about=f"{len(evaluation)} samples; the model is {len(model)} bytes",
        capture=True,
    )


def _outputs_here(model: bytes, evaluation: DataSet, facts: ModelFacts, what: str) -> dict[str, np.ndarray]:
    interp = make_interpreter(model, source=what)  # quiet: it captures LiteRT's delegate notice
    stacked: dict[str, list[np.ndarray]] = {}
    for key, inputs in evaluation.samples:
        for name, value in run_model(interp, key, inputs, what).items():
            stacked.setdefault(f"{key}/{name}" if facts.multi_signature else name, []).append(value)
    return {name: np.concatenate(values) for name, values in stacked.items()}


@dataclass(frozen=True)
class Accuracy:
    """Top-1 accuracy of both models on labelled eval data."""

    float_model: float  # report.json: "float"
    quantized: float
    delta_points: float  # percentage points, quantized minus float

    def to_dict(self) -> dict[str, float]:
        return {"float": self.float_model, "quantized": self.quantized, "delta_points": self.delta_points}


@dataclass(frozen=True)
class OutputComparison:
    """One output of the artifact against the float reference. Values are JSON-safe: a measure that is
    not finite (SNR of identical outputs, cosine of all-zero ones) is None, as in report.json."""

    samples: int
    max_abs_error: float | None
    mean_abs_error: float | None
    snr_db: float | None
    cosine: float | None
    class_scores: bool = False  # a vector of class scores per sample: top-1 agreement applies
    top1_agreement: float | None = None  # class-score outputs only (None there when an output is not finite)
    collapsed: bool = False  # the artifact's top-1 is one class for every sample, the float model's is not
    non_finite: int = 0  # NaN/inf values in the artifact's output
    reference_non_finite: int = 0  # NaN/inf values in the float model's output
    accuracy: Accuracy | None = None  # with labelled eval data
    kind: str | None = None  # probabilities | logits | multi-label | regression (choice.kinds)
    kind_why: str | None = None
    label_agreement: float | None = None  # multi-label: decisions that agree at the 0.5 threshold
    # per measure (top1_agreement, accuracy_drop_points, snr_db, cosine): its 95 % interval (choice.stats)
    intervals: dict[str, stats.Interval] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, m: dict[str, Any]) -> OutputComparison:
        acc = m.get("accuracy")
        return cls(
            samples=int(m["samples"]),
            max_abs_error=m.get("max_abs_error"),
            mean_abs_error=m.get("mean_abs_error"),
            snr_db=m.get("snr_db"),
            cosine=m.get("cosine"),
            class_scores="top1_agreement" in m,
            top1_agreement=m.get("top1_agreement"),
            collapsed=bool(m.get("collapsed", False)),
            non_finite=int(m.get("non_finite", 0)),
            reference_non_finite=int(m.get("reference_non_finite", 0)),
            accuracy=Accuracy(acc["float"], acc["quantized"], acc["delta_points"]) if acc else None,
            kind=m.get("kind"),
            kind_why=m.get("kind_why"),
            label_agreement=m.get("label_agreement"),
            intervals={
                k: stats.Interval(
                    v.get("value"), int(v.get("samples") or 0), v.get("low"), v.get("high"), str(v.get("method", ""))
                )
                for k, v in (m.get("measures") or {}).items()
                if isinstance(v, dict)
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """The report.json form: optional measures appear only when they apply."""
        d: dict[str, Any] = {"kind": self.kind, "kind_why": self.kind_why} if self.kind else {}
        d |= {
            "samples": self.samples,
            "max_abs_error": self.max_abs_error,
            "mean_abs_error": self.mean_abs_error,
            "snr_db": self.snr_db,
            "cosine": self.cosine,
        }
        if self.class_scores:
            d["top1_agreement"] = self.top1_agreement
        if self.kind == "multi-label":
            d["label_agreement"] = self.label_agreement
        if self.collapsed:
            d["collapsed"] = True
        if self.non_finite:
            d["non_finite"] = self.non_finite
        if self.reference_non_finite:
            d["reference_non_finite"] = self.reference_non_finite
        if self.accuracy is not None:
            d["accuracy"] = self.accuracy.to_dict()
        if self.intervals:  # limit and verdict: filled in by the budget (Budget.judge)
            d["measures"] = {k: {**iv.to_dict(), "limit": None, "verdict": None} for k, iv in self.intervals.items()}
        return d


@dataclass(frozen=True)
class Comparison:
    """The verify stage's result: every output of the artifact against the float reference."""

    outputs: dict[str, OutputComparison] = field(default_factory=dict)
    samples: int = 0  # eval samples (per signature for multi-signature models)

    def to_dict(self) -> dict[str, Any]:
        """report.json's ``fidelity`` section."""
        return {"outputs": {n: o.to_dict() for n, o in self.outputs.items()}, "samples": self.samples}


def compare(
    float_model: bytes,
    artifact: bytes,
    evaluation: DataSet,
    facts: ModelFacts,
    reference: dict[str, np.ndarray] | None = None,
    output_kinds: tuple[str, ...] | list[str] = (),
) -> Comparison:
    """Per output: max/mean abs error, SNR dB, cosine, top-1 agreement (and accuracy with labels).

    ``reference`` holds the float model's outputs when they were already computed (several
    targets of one build share them); otherwise the float model is run here.
    """
    if reference is None:
        reference = outputs(float_model, evaluation, facts, "float32 reference")
    got = outputs(artifact, evaluation, facts, "artifact")
    labels = evaluation.labels
    kinds = kinds_mod.of_model(float_model, labels is not None, output_kinds)
    result: dict[str, OutputComparison] = {}
    for name, r in reference.items():
        g = got[name]
        kind = kinds.get(name) or kinds_mod.OutputKind("regression", "not found in the model's graph")
        m = metrics.compare_output(r, g, kind.kind)
        m["kind"], m["kind_why"] = kind.kind, kind.why
        intervals = {"snr_db": stats.snr(r, g, m["snr_db"]), "cosine": stats.cosine(r, g, m["cosine"])}
        if "top1_agreement" in m:
            intervals["top1_agreement"] = stats.proportion(metrics.top1_credits(r, g))
        if "label_agreement" in m:
            intervals["label_agreement"] = stats.proportion(metrics.label_credits(r, g))
        if labels is not None and not facts.multi_signature and "top1_agreement" in m:
            n = r.shape[0]
            fl, q = _accuracy(r.reshape(n, -1), labels), _accuracy(g.reshape(n, -1), labels)
            m["accuracy"] = {"float": fl, "quantized": q, "delta_points": round(100 * (q - fl), 2)}
            intervals["accuracy_drop_points"] = drop_interval(
                _correct(r.reshape(n, -1), labels), _correct(g.reshape(n, -1), labels)
            )
        out = OutputComparison.from_dict(metrics.json_safe(m))
        result[name] = replace(out, intervals=intervals)
    return Comparison(result, len(evaluation))


def _correct(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.asarray(np.argmax(scores, axis=1) == np.asarray(labels).reshape(-1))


def _accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(_correct(scores, labels)))


def drop_interval(float_correct: np.ndarray, quant_correct: np.ndarray) -> stats.Interval:
    """The accuracy drop in points (float minus quantized: positive is a loss) with its paired interval."""
    d = stats.paired_accuracy(float_correct, quant_correct)

    def neg(v: float | None) -> float | None:
        return None if v is None else 0.0 - v

    return stats.Interval(neg(d.value), d.samples, neg(d.high), neg(d.low), d.method, d.p_value)
