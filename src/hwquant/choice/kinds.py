"""What each output of a model is, read from the float model's graph (not from its shape), and the
fidelity measures each kind is judged by.

- ``probabilities``: the producing op is SOFTMAX (or LOG_SOFTMAX): top-1 agreement, and the accuracy
  drop with labelled eval data;
- ``multi-label``: the producing op is LOGISTIC (a sigmoid per value): per-label decision agreement at
  the 0.5 threshold;
- ``logits``: a final FULLY_CONNECTED with no fused activation, when the eval data carry labels or the
  user says so (``--output-kind NAME=logits``): judged like probabilities;
- ``regression``: everything else (reconstructions, embeddings, spectra, a FULLY_CONNECTED without
  labels): SNR and cosine against the float output.

Ops that only move or re-type values (RESHAPE, SQUEEZE, QUANTIZE, DEQUANTIZE, ...) are looked
through to the op that computes the output. ``--output-kind NAME=KIND`` overrides the graph.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from hwquant.common.errors import UsageError
from hwquant.device.tflite_model import Op, TfliteModel
from hwquant.plugin.facts import OUTPUT_KINDS

KINDS = OUTPUT_KINDS
CLASS_KINDS = ("probabilities", "logits")  # top-1 agreement (and accuracy) apply
PASS_THROUGH = frozenset({"RESHAPE", "SQUEEZE", "QUANTIZE", "DEQUANTIZE", "EXPAND_DIMS", "IDENTITY", "CAST"})
MIN_CLASS_SNR_DB = 10.0  # class scores below this SNR lost their resolution (default budget)


@dataclass(frozen=True)
class OutputKind:
    kind: str
    why: str


def parse_overrides(given: Iterable[str]) -> dict[str, str]:
    """``NAME=KIND`` pairs (``--output-kind``) as a dict; UsageError naming the bad one."""
    out: dict[str, str] = {}
    for item in given:
        name, sep, kind = str(item).partition("=")
        name, kind = name.strip(), kind.strip()
        if not sep or not name or kind not in KINDS:
            raise UsageError(
                f"--output-kind {item!r}: expected NAME=KIND with KIND one of {', '.join(KINDS)}",
                hint="name the output as report.json's fidelity.outputs does, e.g. --output-kind probs=logits",
            )
        out[name] = kind
    return out


def _producers(model: TfliteModel) -> dict[tuple[int, int], Op]:
    return {(op.subgraph, t.index): op for op in model.ops for t in op.outputs}


def _decisive(op: Op | None, producers: dict[tuple[int, int], Op]) -> Op | None:
    seen = 0
    while op is not None and op.name in PASS_THROUGH and op.inputs and op.inputs[0] is not None and seen < 16:
        op = producers.get((op.subgraph, op.inputs[0].index))
        seen += 1
    return op


def classify(op: Op | None, values: int, labelled: bool) -> OutputKind:
    """The kind of an output computed by ``op`` with ``values`` values per sample."""
    if op is None:
        return OutputKind("regression", "no op computes it (an input or a constant)")
    act = op.fused_activation if op.name in ("FULLY_CONNECTED", "CONV_2D", "ADD") else "NONE"
    if op.name in ("SOFTMAX", "LOG_SOFTMAX"):
        return OutputKind("probabilities", f"produced by {op.name}")
    if op.name == "LOGISTIC":
        return OutputKind("multi-label", f"produced by LOGISTIC over {values} value(s): a decision per label")
    if op.name == "FULLY_CONNECTED" and act in ("NONE", "", None) and values >= 2:
        if labelled:
            return OutputKind("logits", "a final FULLY_CONNECTED without activation, and the eval data have labels")
        return OutputKind(
            "regression",
            "a final FULLY_CONNECTED without activation and no labels (--output-kind NAME=logits if it is a "
            "classifier)",
        )
    return OutputKind("regression", f"produced by {op.name}: not class scores")


@functools.lru_cache(maxsize=8)
def _kinds(float_model: bytes, labelled: bool, overrides: tuple[tuple[str, str], ...]) -> dict[str, OutputKind]:
    model = TfliteModel(float_model, "float32 reference")
    producers = _producers(model)
    found: dict[str, OutputKind] = {}
    sigs = model.signatures
    named: list[tuple[str, int, object]] = []
    if sigs:
        multi = len(sigs) > 1
        for key, sig in sigs.items():
            for name, t in sig["outputs"].items():
                named.append((f"{key}/{name}" if multi else name, sig["subgraph"], t))
    else:
        named = [(t.name, 0, t) for t in model.io(0)[1]]
    for name, sg, t in named:
        values = 1
        for d in getattr(t, "shape", ())[1:]:
            values *= max(int(d), 1)
        op = _decisive(producers.get((sg, getattr(t, "index", -1))), producers)
        found[name] = classify(op, values, labelled)
    given = dict(overrides)
    for name, kind in given.items():
        if name in found:
            found[name] = OutputKind(kind, f"--output-kind {name}={kind} (the graph says {found[name].kind})")
    unknown = sorted(set(given) - set(found))
    if unknown:
        raise UsageError(
            f"--output-kind names no output of this model: {', '.join(unknown)}",
            hint=f"the outputs are {', '.join(found) or '(none)'}",
        )
    return found


def of_model(float_model: bytes, labelled: bool, overrides: Iterable[str] = ()) -> dict[str, OutputKind]:
    """Every output's kind (keys as the verify stage names outputs: ``signature/name`` with several
    signatures)."""
    return _kinds(float_model, labelled, tuple(sorted(parse_overrides(overrides).items())))
