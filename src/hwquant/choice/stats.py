"""How sure a fidelity measure is: 95 % intervals and the verdict of a limit against them. numpy only.

Every fidelity measure of the verify stage is a statistic over the eval samples, and a build with 40
held-out samples cannot tell 0.977 top-1 agreement from 0.98. Each measure therefore carries its sample
count and a 95 % interval:

- top-1 agreement, per-label agreement: the Wilson score interval of a proportion;
- accuracy drop: paired on the same samples, so only the discordant ones (float right and quantized
  wrong, or the reverse) carry information: McNemar's exact test on them, and the Agresti-Min interval
  of the paired difference (in percentage points, quantized minus float);
- SNR and cosine: a percentile bootstrap over samples (1000 resamples, fixed seed: a build stays
  deterministic).

A limit judged against a measure gives a verdict (``pass`` | ``miss`` | ``undecided``):

- a budget the user gave decides on the point estimate, as a gate does (``pass`` or ``miss``);
- the default budget calls a ``miss`` only when the whole interval lies on the wrong side of the limit
  (a confident miss); when the point estimate misses but the interval reaches the limit the verdict is
  ``undecided``, and :func:`samples_to_decide` says how many eval samples would settle it. A point
  estimate within the limit is a ``pass``: the rule's proposal is kept either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 %
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
MAX_SAMPLES_TO_DECIDE = 1_000_000  # beyond this "more samples" is no advice

VERDICTS = ("pass", "miss", "undecided")


@dataclass(frozen=True)
class Interval:
    """A measure with its 95 % interval (None where the measure is not finite)."""

    value: float | None
    samples: int
    low: float | None
    high: float | None
    method: str  # wilson | mcnemar | bootstrap
    p_value: float | None = None  # mcnemar: exact two-sided p of the discordant split

    def to_dict(self) -> dict[str, float | int | str | None]:
        d: dict[str, float | int | str | None] = {
            "value": _finite_or_none(self.value),
            "samples": self.samples,
            "low": _finite_or_none(self.low),
            "high": _finite_or_none(self.high),
            "method": self.method,
        }
        if self.p_value is not None:
            d["p_value"] = self.p_value
        return d


def _finite_or_none(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 6)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of successes / n ((0, 1) when n is 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(hits: np.ndarray) -> Interval:
    """A proportion of per-sample hits (bools or credits in [0, 1]) with its Wilson interval."""
    h = np.asarray(hits, dtype=np.float64).ravel()
    n = int(h.size)
    if n == 0 or not np.all(np.isfinite(h)):
        return Interval(None, n, None, None, "wilson")
    k = float(np.sum(h))
    lo, hi = wilson(round(k), n)
    return Interval(k / n, n, lo, hi, "wilson")


def mcnemar_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: the binomial test of b discordant samples of b + c at 1/2."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def paired_accuracy(float_correct: np.ndarray, quant_correct: np.ndarray) -> Interval:
    """Accuracy change in percentage points (quantized minus float) on the same samples: value, the
    Agresti-Min 95 % interval of the paired difference, McNemar's exact p on the discordant samples."""
    f = np.asarray(float_correct, dtype=bool).ravel()
    q = np.asarray(quant_correct, dtype=bool).ravel()
    n = int(f.size)
    if n == 0:
        return Interval(None, 0, None, None, "mcnemar")
    b = int(np.sum(f & ~q))  # the float model right, the artifact wrong
    c = int(np.sum(~f & q))  # the reverse
    delta = (c - b) / n
    # Agresti-Min: add 1/2 to every cell of the 2x2 table, then a Wald interval of the paired difference
    b2, c2, n2 = b + 0.5, c + 0.5, n + 2.0
    d2 = (c2 - b2) / n2
    se = math.sqrt(max((b2 + c2) - (c2 - b2) ** 2 / n2, 0.0)) / n2
    lo, hi = max(-1.0, d2 - Z95 * se), min(1.0, d2 + Z95 * se)
    return Interval(100 * delta, n, 100 * lo, 100 * hi, "mcnemar", round(mcnemar_p(b, c), 6))


def _bootstrap(n: int, stat: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
    """Percentile bootstrap: ``stat`` gets (resamples, n) sample indices and returns one value per resample."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    idx = rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))
    values = stat(idx)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def _per_sample(ref: np.ndarray, got: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = ref.shape[0] if ref.ndim else 1
    return np.reshape(np.asarray(ref, np.float64), (n, -1)), np.reshape(np.asarray(got, np.float64), (n, -1))


def snr(ref: np.ndarray, got: np.ndarray, value: float) -> Interval:
    """SNR (dB) with a bootstrap interval over samples (``value``: the measure over all samples)."""
    r, g = _per_sample(ref, got)
    n = r.shape[0]
    if n == 0 or not (np.all(np.isfinite(r)) and np.all(np.isfinite(g))):
        return Interval(value, n, None, None, "bootstrap")
    sig, noise = np.sum(r * r, axis=1), np.sum((r - g) ** 2, axis=1)
    if not np.any(noise):
        return Interval(value, n, math.inf, math.inf, "bootstrap")

    def stat(idx: np.ndarray) -> np.ndarray:
        s, e = sig[idx].sum(axis=1), noise[idx].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(e > 0, 10 * np.log10(np.where(s > 0, s, np.nan) / np.where(e > 0, e, 1.0)), np.inf)

    lo, hi = _bootstrap(n, stat)
    return Interval(value, n, lo, hi, "bootstrap")


def cosine(ref: np.ndarray, got: np.ndarray, value: float) -> Interval:
    """Cosine similarity of the flattened outputs with a bootstrap interval over samples."""
    r, g = _per_sample(ref, got)
    n = r.shape[0]
    if n == 0 or not (np.all(np.isfinite(r)) and np.all(np.isfinite(g))):
        return Interval(value, n, None, None, "bootstrap")
    dot, rr, gg = np.sum(r * g, axis=1), np.sum(r * r, axis=1), np.sum(g * g, axis=1)

    def stat(idx: np.ndarray) -> np.ndarray:
        d, a, b = dot[idx].sum(axis=1), rr[idx].sum(axis=1), gg[idx].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = d / np.sqrt(a * b)
        return np.where((a == 0) & (b == 0), 1.0, np.where((a == 0) | (b == 0), 0.0, c))

    lo, hi = _bootstrap(n, stat)
    return Interval(value, n, lo, hi, "bootstrap")


# -- verdicts -------------------------------------------------------------------------------------------------
def verdict(iv: Interval | None, limit: float, direction: str, point: bool, point_misses: bool) -> str:
    """``pass`` | ``miss`` | ``undecided`` of ``limit`` (``direction`` "min" or "max") for a measure.

    ``point_misses``: the gate's own decision on the point estimate (it also fails null and non-finite
    measures). ``point=True`` (a budget the user gave) decides on that alone; otherwise a miss is
    ``undecided`` unless the whole interval lies on the wrong side of the limit."""
    if not point_misses:
        return "pass"
    if point or iv is None or iv.low is None or iv.high is None or iv.value is None:
        return "miss"
    confident = iv.high < limit if direction == "min" else iv.low > limit
    return "miss" if confident else "undecided"


def samples_to_decide(iv: Interval, limit: float, direction: str) -> int | None:
    """About how many eval samples, at the same point estimate, would make a miss confident (None: never,
    or beyond MAX_SAMPLES_TO_DECIDE). ``direction``: "min" or "max" (of the measure as the interval gives it)."""
    if iv.value is None or iv.low is None or iv.high is None or iv.samples <= 0:
        return None
    v = iv.value
    if (direction == "min" and v >= limit) or (direction == "max" and v <= limit):
        return None  # the point estimate meets the limit: more samples cannot make it a confident miss
    if iv.method == "wilson":

        def confident(n: int) -> bool:
            lo, hi = wilson(round(v * n), n)
            return hi < limit if direction == "min" else lo > limit

        n = iv.samples
        while not confident(n):
            n *= 2
            if n > MAX_SAMPLES_TO_DECIDE:
                return None
        lo_n, hi_n = max(iv.samples, n // 2), n
        while lo_n < hi_n:
            mid = (lo_n + hi_n) // 2
            lo_n, hi_n = (lo_n, mid) if confident(mid) else (mid + 1, hi_n)
        return hi_n
    # bootstrap and paired intervals: the half-width on the limit's side shrinks as 1/sqrt(n)
    half = (iv.high - v) if direction == "min" else (v - iv.low)
    gap = abs(limit - v)
    if not math.isfinite(half) or gap == 0:
        return None
    need = math.ceil(iv.samples * (half / gap) ** 2) + 1
    return need if need <= MAX_SAMPLES_TO_DECIDE else None
