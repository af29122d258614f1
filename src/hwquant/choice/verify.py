"""Verify stage: invoke the artifact in LiteRT on held-out samples and compare with float.

Every build runs this; a model that fails to allocate or invoke fails the build with the
interpreter's message. Integer IO is quantized / dequantized with the model's own scale and
zero point, so the comparison is always in real values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwquant.common.errors import ToolchainError, first_line
from hwquant.device import metrics
from hwquant.device.runtime import dequantize, make_interpreter, quantize, signature
from hwquant.plugin.facts import ModelFacts


def run_model(interp, key: str, inputs: dict[str, np.ndarray], what: str) -> dict[str, np.ndarray]:
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


def outputs(model: bytes, evaluation, facts: ModelFacts, what: str) -> dict[str, np.ndarray]:
    """Real-valued outputs of ``model`` on every evaluation sample, stacked per output name."""
    interp = make_interpreter(model, source=what)  # quiet: it captures LiteRT's delegate notice
    stacked: dict[str, list[np.ndarray]] = {}
    for key, inputs in evaluation.samples:
        for name, value in run_model(interp, key, inputs, what).items():
            stacked.setdefault(f"{key}/{name}" if facts.multi_signature else name, []).append(value)
    return {name: np.concatenate(values) for name, values in stacked.items()}


def compare(
    float_model: bytes, artifact: bytes, evaluation, facts: ModelFacts, reference: dict[str, np.ndarray] | None = None
) -> dict[str, Any]:
    """Per output: max/mean abs error, SNR dB, cosine, top-1 agreement (and accuracy with labels).

    ``reference`` holds the float model's outputs when they were already computed (several
    targets of one build share them); otherwise the float model is run here.
    """
    if reference is None:
        reference = outputs(float_model, evaluation, facts, "float32 reference")
    got = outputs(artifact, evaluation, facts, "artifact")
    labels = evaluation.labels
    result = {}
    for name, r in reference.items():
        g = got[name]
        m = metrics.compare_output(r, g)
        if labels is not None and not facts.multi_signature and "top1_agreement" in m:
            n = r.shape[0]
            m["accuracy"] = {
                "float": _accuracy(r.reshape(n, -1), labels),
                "quantized": _accuracy(g.reshape(n, -1), labels),
            }
            m["accuracy"]["delta_points"] = round(100 * (m["accuracy"]["quantized"] - m["accuracy"]["float"]), 2)
        result[name] = m
    return metrics.json_safe({"outputs": result, "samples": len(evaluation)})


def _accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores, axis=1) == np.asarray(labels).reshape(-1)))
