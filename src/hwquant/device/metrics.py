"""Fidelity metrics: how far a model's outputs are from a reference's. numpy only.

Shared by the build's verify stage and ``hwquant bench --reference``. Every function takes
real-valued (already dequantized) outputs; per output, samples are stacked along axis 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


def max_abs_error(ref: np.ndarray, got: np.ndarray) -> float:
    return float(np.max(np.abs(_f64(ref) - _f64(got)))) if np.size(ref) else 0.0


def mean_abs_error(ref: np.ndarray, got: np.ndarray) -> float:
    return float(np.mean(np.abs(_f64(ref) - _f64(got)))) if np.size(ref) else 0.0


def snr_db(ref: np.ndarray, got: np.ndarray) -> float:
    """Signal-to-noise ratio in dB: 10·log10(Σref² / Σ(ref−got)²); +inf when identical, NaN when either
    side holds inf or NaN (such an output has no SNR, and a gate on it fails)."""
    r, g = _f64(ref), _f64(got)
    noise = float(np.sum((r - g) ** 2))
    signal = float(np.sum(r**2))
    if not (math.isfinite(noise) and math.isfinite(signal)):
        return math.nan
    if noise == 0.0:
        return math.inf
    ratio = signal / noise
    if ratio == 0.0:  # no signal, or a ratio below the smallest float
        return -math.inf
    return 10.0 * math.log10(ratio)


def cosine(ref: np.ndarray, got: np.ndarray) -> float:
    """Cosine similarity of the flattened outputs (1.0 when both are all zeros)."""
    r, g = _f64(ref).ravel(), _f64(got).ravel()
    nr, ng = float(np.linalg.norm(r)), float(np.linalg.norm(g))
    if nr == 0.0 and ng == 0.0:
        return 1.0
    if nr == 0.0 or ng == 0.0:
        return 0.0
    return float(np.dot(r, g) / (nr * ng))


def is_classifier_shaped(sample_shape: tuple[int, ...]) -> bool:
    """A per-sample output of shape (C,) or (1, C) with C >= 2 reads as class scores."""
    dims = [d for d in sample_shape if d != 1]
    return len(dims) == 1 and dims[0] >= 2


def resolution(got: np.ndarray) -> float:
    """The smallest step between distinct finite values of an output: a quantized output's scale once
    dequantized (0.0 when it holds fewer than two distinct values)."""
    u = np.unique(np.asarray(got, np.float64)[np.isfinite(got)])
    return float(np.min(np.diff(u))) if u.size >= 2 else 0.0


def top1_credits(ref: np.ndarray, got: np.ndarray, step: float | None = None) -> np.ndarray:
    """Per sample: 1.0 when the model's top-1 class agrees with the reference's, else 0.0 (samples along axis 0).

    A sample agrees only when the model's top-1 is unique and equals the reference's, or when it ties
    only with classes that the reference also scores within one quantization step (``step``; default
    :func:`resolution` of ``got``) of its own top-1: a tie the quantization made, not a different
    decision. When every class ties the model decided nothing (an output collapsed below its
    resolution): no agreement. NaN when an output holds NaN or inf (arg-max of such a row means
    nothing, and a gate must not pass on it).
    """
    n = ref.shape[0]
    if not (np.all(np.isfinite(ref)) and np.all(np.isfinite(got))):
        return np.full(n, math.nan)
    r, g = np.reshape(np.asarray(ref, np.float64), (n, -1)), np.reshape(np.asarray(got, np.float64), (n, -1))
    if step is None:
        step = resolution(g)
    rows = np.arange(n)
    top = np.max(g, axis=1)
    tied = g >= top[:, None]
    rtop = np.argmax(r, axis=1)
    hit = tied[rows, rtop]
    count = np.sum(tied, axis=1)
    close = r >= (r[rows, rtop] - step * (1 + 1e-6))[:, None]  # within one step of the reference's top-1
    ties_ok = np.all(~tied | close, axis=1)
    agree: np.ndarray = hit & ((count == 1) | ties_ok) & ((count < g.shape[1]) | (g.shape[1] == 1))
    return agree.astype(float)


def label_credits(ref: np.ndarray, got: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Per (sample, label): 1.0 when both models take the same decision at ``threshold`` (multi-label
    sigmoid outputs); NaN when an output holds NaN or inf."""
    r, g = np.asarray(ref, np.float64), np.asarray(got, np.float64)
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(g))):
        return np.full(r.size, math.nan)
    same: np.ndarray = (r >= threshold) == (g >= threshold)
    return same.astype(float).ravel()


def top1_agreement(ref: np.ndarray, got: np.ndarray, step: float | None = None) -> float:
    """Mean of :func:`top1_credits` (NaN when an output holds NaN or inf)."""
    credits = top1_credits(ref, got, step)
    return float(np.mean(credits)) if credits.size else math.nan


COLLAPSE_MIN_SAMPLES = 16  # fewer eval samples than this cannot tell a collapse from chance


def top1_collapsed(ref: np.ndarray, got: np.ndarray) -> bool:
    """The model's top-1 class is the same for every sample while the reference's varies
    (judged on at least COLLAPSE_MIN_SAMPLES samples)."""
    n = ref.shape[0]
    if n < COLLAPSE_MIN_SAMPLES:
        return False
    r, g = np.reshape(ref, (n, -1)), np.reshape(got, (n, -1))
    return len(set(np.argmax(r, axis=1).tolist())) > 1 and len(set(np.argmax(g, axis=1).tolist())) == 1


def compare_output(ref: np.ndarray, got: np.ndarray, kind: str | None = None) -> dict[str, Any]:
    """All metrics for one output; ``ref`` and ``got`` stack samples along axis 0.

    ``kind`` (hwquant.choice.kinds, read from the model's graph): top-1 agreement for
    ``probabilities`` and ``logits``, per-label agreement for ``multi-label``, neither for
    ``regression``. None (`hwquant bench`, which has no graph to read): by shape, a vector of >= 2
    values per sample reads as class scores."""
    ref, got = np.asarray(ref), np.asarray(got)
    if ref.shape != got.shape:
        raise ValueError(f"output shapes differ: reference {ref.shape} vs model {got.shape}")
    out: dict[str, Any] = {
        "samples": int(ref.shape[0]) if ref.ndim else 1,
        "max_abs_error": max_abs_error(ref, got),
        "mean_abs_error": mean_abs_error(ref, got),
        "snr_db": snr_db(ref, got),
        "cosine": cosine(ref, got),
    }
    class_scores = kind in ("probabilities", "logits") or (kind is None and ref.ndim >= 1)
    if class_scores and ref.ndim >= 1 and is_classifier_shaped(ref.shape[1:]):
        out["top1_agreement"] = top1_agreement(ref, got)
        if top1_collapsed(ref, got):
            out["collapsed"] = True
    if kind == "multi-label":
        credits = label_credits(ref, got)
        out["label_agreement"] = float(np.mean(credits)) if credits.size else math.nan
    if not np.all(np.isfinite(got)):
        out["non_finite"] = int(np.size(got) - np.count_nonzero(np.isfinite(got)))
    if not np.all(np.isfinite(ref)):
        out["reference_non_finite"] = int(np.size(ref) - np.count_nonzero(np.isfinite(ref)))
    return out


def compare(
    ref: Mapping[str, Iterable[np.ndarray]], got: Mapping[str, Iterable[np.ndarray]]
) -> dict[str, dict[str, Any]]:
    """Per output name: metrics over every sample. Values are lists of per-sample arrays."""
    missing = set(ref) ^ set(got)
    if missing:
        raise ValueError(f"outputs differ between reference and model: {sorted(missing)}")
    return {name: compare_output(np.stack(list(ref[name])), np.stack(list(got[name]))) for name in ref}


def json_safe(obj: Any) -> Any:
    """A copy with non-finite floats as None, numpy scalars as Python ones (strict JSON)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)
