"""Choose the recipe by measurement: candidates converted, invoked and measured against the budget.

Every candidate comes from the build's one load, one float reference and one calibration (the
calibrate-once path); recipes the shared calibration cannot serve (dynamic range, float16, 16x8)
convert directly. Each candidate is op-checked for the target, run in LiteRT on the eval set and
compared with the float reference (the same comparison as the verify stage), and timed on the host
when the objective is latency. Among the candidates within budget, the objective (size or latency)
picks one; ties are broken by the other measure.

Mixed precision: when uniform int8 misses on a target that allows float fallback, layers are
ranked by sensitivity (TF's QuantizationDebugger, see convert.layer_sensitivity) and the worst
tensors are kept float, one more at a time, until the budget holds. A tensor is kept float on
BOTH sides: its producer and every consumer. Keeping only the producer float still feeds the
consumer a requantized copy; keeping only the consumer float still reads the producer's int8
output; either way the damage stays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from hwquant.choice import census as census_mod
from hwquant.choice.budget import Budget
from hwquant.choice.verify import Comparison
from hwquant.common import progress
from hwquant.common.errors import HwquantError
from hwquant.device.tflite_model import TfliteModel
from hwquant.plugin.facts import BuildOptions
from hwquant.plugin.recipe import Recipe

MAX_FLOAT_TENSORS = 3  # mixed-precision variants tried: the worst 1, 2, 3 tensors kept float
OBJECTIVES = ("size", "latency")


@dataclass
class Candidate:
    recipe: Recipe
    origin: str  # rule proposal | allowed recipe | mixed precision
    artifact: bytes | None = None
    fidelity: Comparison | None = None
    latency_ms: float | None = None
    misses: list[str] = field(default_factory=list)
    error: str | None = None  # could not convert, or does not run on the target
    chosen: bool = False
    target: dict[str, Any] = field(default_factory=dict)  # what the backend measures (Backend.candidate_report)
    needs: str | None = None  # "--io-dtype int16": IO other than the artifact's contract; never chosen
    census: census_mod.Census | None = None  # what the artifact quantized (weights and ops by dtype)

    @property
    def within(self) -> bool:
        return self.error is None and self.artifact is not None and not self.misses

    @property
    def size(self) -> int | None:
        return None if self.artifact is None else len(self.artifact)

    def summary(self) -> dict[str, Any]:
        """Worst-output fidelity numbers, for tables and plots."""
        outs = list(self.fidelity.outputs.values()) if self.fidelity is not None else []
        acc = [o.accuracy for o in outs if o.accuracy is not None]
        return {
            "snr_db": min((o.snr_db for o in outs if o.snr_db is not None), default=None),
            "cosine": min((o.cosine for o in outs if o.cosine is not None), default=None),
            "top1_agreement": min((o.top1_agreement for o in outs if o.top1_agreement is not None), default=None),
            "accuracy": acc[0].quantized if acc else None,
            "accuracy_delta_points": acc[0].delta_points if acc else None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe.name,
            "label": self.recipe.label,
            "io_dtype": self.recipe.io_dtype,
            "float_layers": list(self.recipe.float_layers),
            "origin": self.origin,
            "size_bytes": self.size,
            "latency_ms": self.latency_ms,
            **self.summary(),
            "target": dict(self.target),
            "within_budget": self.within,
            "why_not": ([self.error] if self.error else self.misses) if not self.within else [],
            "chosen": self.chosen,
            **({"needs": f"needs {self.needs}"} if self.needs else {}),
            **({"quantized_fraction": round(self.census.quantized_fraction, 4)} if self.census else {}),
        }


@dataclass
class Measurer:
    """What the search needs from the build: how to convert a recipe, check it, compare it."""

    convert: Callable[[Recipe], bytes]
    check: Callable[[TfliteModel], list[str]]  # unsupported-op lines (empty when the target runs it)
    compare: Callable[[bytes], Comparison]
    latency: Callable[[bytes], float] | None = None  # only with --objective latency
    target: Callable[[bytes], dict[str, Any]] | None = None  # Backend.candidate_report

    def measure(self, c: Candidate, budget: Budget) -> Candidate:
        with progress.stage(f"candidate {c.recipe.label}"):
            return self._measure(c, budget)

    def _measure(self, c: Candidate, budget: Budget) -> Candidate:
        try:
            if c.artifact is None:
                c.artifact = self.convert(c.recipe)
            model = TfliteModel(c.artifact, f"candidate {c.recipe.label}")
            c.census = census_mod.of(model)
            hollow = census_mod.hollow(c.recipe, c.census)
            if hollow:  # never chosen under a quantized name (its fidelity is the float model's)
                c.error = hollow
                return c
            bad = self.check(model)
            if bad:
                c.error = "does not run on the target: " + "; ".join(bad[:3])
                return c
            if c.fidelity is None:
                c.fidelity = self.compare(c.artifact)
            if self.latency is not None and c.latency_ms is None:
                c.latency_ms = self.latency(c.artifact)
            if self.target is not None and not c.target:
                c.target = self.target(c.artifact)
        except HwquantError as exc:
            c.error = exc.message
            return c
        c.misses = budget.misses(c.fidelity)
        return c


def rank_key(objective: str) -> Callable[[Candidate], tuple[float, float]]:
    inf = float("inf")
    if objective == "latency":
        return lambda c: (c.latency_ms if c.latency_ms is not None else inf, c.size or inf)
    return lambda c: (c.size or inf, c.latency_ms if c.latency_ms is not None else inf)


def choose(candidates: list[Candidate], objective: str, budget: Budget | None = None) -> Candidate | None:
    """The best candidate within budget by the objective. With the default budget, a candidate only
    within it because its miss is undecided (the point estimate misses, the interval reaches the limit)
    is not better beyond the intervals: the rule's proposal, or a candidate that passes outright, wins."""
    ok = [c for c in candidates if c.within and not c.needs]
    if not ok:
        return None
    key = rank_key(objective)

    def doubtful(c: Candidate) -> bool:
        if budget is None or c.origin == "rule proposal" or c.fidelity is None:
            return False
        return any(j.verdict == "undecided" for j in budget.judge(c.fidelity))

    best = min(ok, key=lambda c: (doubtful(c), *key(c)))
    best.chosen = True
    return best


def keep_io_contract(candidates: list[Candidate], io: str | None, io_dtypes: tuple[str, ...] = ()) -> None:
    """Mark every measured candidate whose IO dtype is not the artifact's contract ``io`` (the target's
    default or the user's --io-dtype): it stays in the table, with its fidelity, as "needs --io-dtype X"."""
    if io is None:
        return
    for c in candidates:
        if c.recipe.float_fallback and c.recipe.io_dtype == "float32":
            continue  # float fallback takes float IO (the converter allows no other): the user's opt-in
        if c.error is None and c.recipe.io_dtype != io:
            want = c.recipe.io_dtype
            if io_dtypes and want not in io_dtypes and c.recipe.activations in io_dtypes:
                want = c.recipe.activations  # int16x8 on mcu / ethos-u: int16 IO
            c.needs = f"--io-dtype {want}"


def ranked_tensors(sensitivity: list[dict[str, Any]], limit: int = MAX_FLOAT_TENSORS) -> list[dict[str, Any]]:
    """The layers whose quantization hurts most: lowest channel SNR first (unmeasurable ones last)."""
    rows = [r for r in sensitivity if r.get("channel_snr_db") is not None]
    return sorted(rows, key=lambda r: r["channel_snr_db"])[:limit]


def both_sides(float_model: TfliteModel, tensor: str) -> list[str]:
    """Denylist names (op output tensors) of the producer and every consumer of ``tensor``."""
    names = []
    for op in float_model.ops:
        if op.subgraph != 0 or not op.outputs:
            continue
        if any(t.name == tensor for t in op.outputs) or any(t is not None and t.name == tensor for t in op.inputs):
            names.append(op.outputs[0].name)
    return names


def mixed_variants(
    base: Recipe, float_model: TfliteModel, sensitivity: list[dict[str, Any]]
) -> Iterator[tuple[int, Recipe]]:
    """Recipes keeping the worst 1, 2, ... tensors float on both sides (each a superset of the last)."""
    layers: set[str] = set()
    for k, row in enumerate(ranked_tensors(sensitivity), start=1):
        sides = both_sides(float_model, row["tensor"])
        if not sides or set(sides) <= layers:
            continue
        layers |= set(sides)
        yield k, base.with_float_layers(layers)


def search(
    proposal: Candidate,
    allowed: list[tuple[str, Recipe | None, str]],
    measurer: Measurer,
    budget: Budget,
    objective: str,
    sensitivity: Callable[[], list[dict[str, Any]]] | None,
    float_model: TfliteModel,
    log: Callable[[str], None],
) -> list[Candidate]:
    """Measure the proposal (if not yet), every allowed recipe, then mixed-precision variants when
    int8 with float fallback misses the budget. ``allowed`` holds (name, recipe or None, refusal)."""
    with progress.stage("searching recipes", total=1 + len(allowed)) as bar:
        return _search(proposal, allowed, measurer, budget, objective, sensitivity, float_model, log, bar)


def _search(
    proposal: Candidate,
    allowed: list[tuple[str, Recipe | None, str]],
    measurer: Measurer,
    budget: Budget,
    objective: str,
    sensitivity: Callable[[], list[dict[str, Any]]] | None,
    float_model: TfliteModel,
    log: Callable[[str], None],
    bar: progress.Stage,
) -> list[Candidate]:
    candidates = [measurer.measure(proposal, budget)]
    bar.advance()
    seen = {proposal.recipe}
    # Smaller weights first: with the size objective, a recipe storing wider weights than a
    # candidate already within budget cannot be smaller, so it is listed but not converted.
    for name, recipe, refusal in sorted(allowed, key=lambda a: WEIGHT_BYTES.get(a[1].weights if a[1] else "", 9)):
        if recipe is None:
            c = Candidate(Recipe(name, "float32", "float32"), "allowed recipe", error=f"not possible: {refusal}")
            candidates.append(c)
            bar.advance()
            continue
        if recipe in seen:
            bar.advance()
            continue
        seen.add(recipe)
        c = Candidate(recipe, "allowed recipe")
        why = _skip(c, candidates, objective)
        if why:
            c.error = why
            candidates.append(c)
            bar.advance()
            continue
        candidates.append(measurer.measure(c, budget))
        bar.advance()
    fallback = [
        c
        for c in candidates
        if c.recipe.float_fallback and c.recipe.activations == "int8" and not c.recipe.float_layers and c.error is None
    ]
    needs_mixed = fallback and not fallback[0].within
    smaller_ok = [
        c
        for c in candidates
        if c.within and fallback and c.size is not None and fallback[0].size is not None and c.size <= fallback[0].size
    ]
    if needs_mixed and sensitivity is not None and not (objective == "size" and smaller_ok):
        rows = sensitivity()
        for k, recipe in mixed_variants(fallback[0].recipe, float_model, rows):
            bar.grow()  # one variant more (they stop at the first within budget)
            c = measurer.measure(Candidate(recipe, f"mixed precision: worst {k} tensor(s) float on both sides"), budget)
            candidates.append(c)
            bar.advance()
            log(
                f"  {recipe.label}: {'within budget' if c.within else 'misses: ' + '; '.join((c.misses or [c.error or ''])[:1])}"
            )
            if c.within:
                break
    return candidates


WEIGHT_BYTES = {"int8": 1, "float16": 2, "float32": 4}


def _skip(c: Candidate, done: list[Candidate], objective: str) -> str | None:
    """Why ``c`` need not be converted, or None."""
    r = c.recipe
    if r.activations == "int16" and r.float_fallback:
        strict = [
            d
            for d in done
            if d.recipe.activations == "int16"
            and not d.recipe.float_fallback
            and d.recipe.io_dtype == r.io_dtype
            and d.artifact is not None
        ]
        if strict:  # every op had a 16x8 kernel, so the fallback variant converts to the same model
            return f"skipped: the same model as {strict[0].recipe.label} (every op has a 16x8 kernel)"
    if objective == "size":
        smaller = [d for d in done if d.within and WEIGHT_BYTES[d.recipe.weights] < WEIGHT_BYTES[r.weights]]
        if smaller:
            return (
                f"skipped: {r.weights} weights cannot be smaller than {smaller[0].recipe.label} "
                f"({smaller[0].recipe.weights} weights), already within budget"
            )
    return None


def advice(row: dict[str, Any], int16_possible: bool) -> str:
    """What usually fixes a layer that quantizes badly."""
    tips = []
    if row.get("channel_range_ratio", 1.0) > 20:
        tips.append(
            f"one channel spans {row['channel_range_ratio']:.0f}x the others' range: clip the activation "
            "(ReLU6 or a bounded activation) or remove the constant channel"
        )
    elif row.get("op") in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD") and row["range"][1] > 6:
        tips.append("unbounded activation range: ReLU6 (clipping) keeps int8 resolution")
    tips.append("calibration data that covers real inputs (more samples, same preprocessing)")
    if int16_possible:
        tips.append("int16x8 (this target has 16x8 kernels for every op)")
    return "; ".join(tips)


def table_lines(sensitivity: list[dict[str, Any]], int16_possible: bool, n: int = 5) -> list[str]:
    lines = []
    for r in ranked_tensors(sensitivity, n):
        # the whole tensor name: --float-layer needs it exactly (issue 18: nothing a user copies is cut)
        lines.append(f"{r['op']:<16} {r['channel_snr_db']:7.1f} dB  {r['tensor']}")
        lines.append(f"{'':16} fix: {advice(r, int16_possible)}")
    return lines


def options_for(options: BuildOptions, name: str) -> BuildOptions:
    return replace(options, recipe=name, float_layers=())
