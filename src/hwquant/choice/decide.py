"""The measured recipe choice, between the convert and package stages of one target.

    default build:  the backend's rule proposes a recipe -> it is measured (the verify comparison,
                    which every build makes anyway) -> within budget: done, at today's cost;
                    missed: the search runs and the report says why the rule was overridden
    --recipe auto:  the whole search, the proposal being one candidate among the others
    --recipe R:     R is built; a budget the user gave acts only as a gate (at the CLI)

Whatever the recipe, the quantization doctor fails an artifact whose outputs are non-finite or
whose top-1 collapsed to one class (exit 5), and warns when the eval inputs leave the range the
calibration saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hwquant.choice import budget as budget_mod
from hwquant.choice import search as search_mod
from hwquant.common.errors import GateError, HwquantError, InputError, UsageError
from hwquant.device.tflite_model import TfliteModel
from hwquant.plugin.facts import CheckRequest
from hwquant.plugin.recipe import Recipe

RANGE_MARGIN = 0.10  # eval inputs beyond the calibration range by more than 10 % of it: warning


@dataclass
class Decision:
    recipe: Recipe
    reasons: list[str]
    artifact: bytes
    fidelity: dict[str, Any]
    sections: dict[str, Any] = field(default_factory=dict)  # report.json: budget, search, sensitivity
    warnings: list[str] = field(default_factory=list)
    candidates: list[search_mod.Candidate] = field(default_factory=list)


def artifact_for(prep, recipe: Recipe, timer=None) -> bytes:
    """Convert ``recipe`` once per build (shared across targets), from the shared calibration when
    the recipe allows it (see convert.calibrates_once)."""
    from hwquant.convert import converter as convert

    if recipe.name == "float32" and recipe.io_dtype == "float32":
        return prep.float_model
    if recipe in prep.converted:
        return prep.converted[recipe]
    forms = _forms(prep) if recipe.needs_data else None
    if convert.calibrates_once(recipe):  # byte-identical to a direct conversion, see convert.py
        _calibrated(prep, forms, timer)
        artifact = convert.quantize_calibrated(prep.loaded, prep.calibrated, recipe)
    else:
        artifact = convert.convert(prep.loaded, recipe, forms)
    prep.converted[recipe] = artifact
    return artifact


def _forms(prep):
    from hwquant.convert import converter as convert

    order = {s.key: [t.name for t in s.inputs] for s in prep.facts.signatures}
    return convert.representative_forms(prep.loaded, prep.calibration.samples, order)


def _calibrated(prep, forms=None, timer=None):
    from hwquant.convert import converter as convert

    if prep.calibrated is None:
        forms = forms if forms is not None else _forms(prep)
        if timer is not None:
            with timer.stage("calibrate"):
                prep.calibrated = convert.calibrate(prep.loaded, forms)
        else:
            prep.calibrated = convert.calibrate(prep.loaded, forms)
    return prep.calibrated


def sensitivity(prep) -> list[dict[str, Any]]:
    """Per-layer sensitivity of int8 quantization (computed once per build)."""
    from hwquant.convert import converter as convert

    if prep.sensitivity is None:
        if prep.calibration is None or prep.facts.multi_signature:
            prep.sensitivity = []
        else:
            forms = _forms(prep)
            prep.sensitivity = convert.layer_sensitivity(prep.loaded, _calibrated(prep, forms), forms)
    return prep.sensitivity


def validate_float_layers(prep, layers) -> None:
    names = {o.name for op in TfliteModel(prep.float_model, "float32 reference").ops for o in op.outputs[:1]}
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise UsageError(
            f"--float-layer names no op output of this model: {', '.join(unknown[:3])}",
            hint="use the tensor names of report.json's sensitivity section (hwquant build --sensitivity)",
        )


def budget_for(prep, options) -> budget_mod.Budget:
    return budget_mod.resolve(
        options.budget or {}, options.budget_source or "command line", prep.calibration, prep.evaluation
    )


def decide(
    prep, backend, options, recipe: Recipe, reasons: list[str], artifact: bytes, log: Callable[[str], None], timer=None
) -> Decision:
    """Measure the proposal; search when asked or when it misses the budget; apply the doctor."""
    from hwquant.choice import verify
    from hwquant.device.bench import host_latency_ms

    budget = budget_for(prep, options)
    auto = options.recipe == "auto"
    pinned = bool(options.recipe) and not auto

    def compare(a: bytes) -> dict[str, Any]:
        if prep.reference_outputs is None:
            prep.reference_outputs = verify.outputs(prep.float_model, prep.evaluation, prep.facts, "float32 reference")
        return verify.compare(prep.float_model, a, prep.evaluation, prep.facts, reference=prep.reference_outputs)

    fidelity = compare(artifact)
    faults = budget_mod.reference_faults(fidelity)
    if faults:
        raise InputError(
            "the float32 model itself outputs NaN or inf on the eval data (" + "; ".join(faults) + ")",
            hint="check the model and the data's preprocessing (e.g. log or sqrt of values <= 0)",
        )
    d = Decision(recipe, reasons, artifact, fidelity, {"budget": budget.to_dict()}, range_warnings(prep))
    misses = budget.misses(fidelity)
    if pinned or (not budget.applied and not auto) or (not misses and not auto):
        d.warnings += _doctor(fidelity, recipe, random_data=prep.calibration is None or prep.calibration.random)
        return d
    if not auto:
        log(f"{backend.name}: the rule's {recipe.label} misses the {budget.describe()}: {misses[0]}; searching")
    measurer = search_mod.Measurer(
        convert=lambda r: artifact_for(prep, r, timer),
        check=lambda m: [
            f"{v.op} ({', '.join(v.reasons)})" for v in backend.check(m, CheckRequest.of(options)).unsupported
        ],
        compare=compare,
        latency=(lambda a: host_latency_ms(a, num_threads=options.num_threads)["median"])
        if options.objective == "latency"
        else None,
        target=lambda a: backend.candidate_report(a, options),
    )
    allowed, extra_reasons = [], {}
    for name in backend.allowed_recipes:
        try:
            r, why = backend.choose_recipe(prep.facts, search_mod.options_for(options, name))
            extra_reasons[r] = [w for w in why if "requested with --recipe" not in w]
            if r.needs_data and prep.calibration is None:
                raise InputError("needs representative data")
            allowed.append((name, r, ""))
        except HwquantError as exc:
            allowed.append((name, None, exc.message))
    proposal = search_mod.Candidate(recipe, "rule proposal", artifact, fidelity)
    sens = (lambda: sensitivity(prep)) if prep.calibration is not None else None
    d.candidates = search_mod.search(
        proposal,
        allowed,
        measurer,
        budget,
        options.objective,
        sens,
        TfliteModel(prep.float_model, "float32 reference"),
        log,
    )
    chosen = search_mod.choose(d.candidates, options.objective)
    d.sections["search"] = {
        "objective": options.objective,
        "why": "--recipe auto" if auto else f"the rule's {recipe.label} missed the budget: {'; '.join(misses)}",
        "candidates": [c.to_dict() for c in d.candidates],
        "chosen": chosen.recipe.label if chosen else None,
    }
    if prep.sensitivity:
        d.sections["sensitivity"] = prep.sensitivity
    if chosen is None:
        return _nothing_fits(prep, backend, budget, d, misses or proposal.misses)
    if chosen.recipe != recipe:
        d.reasons = [
            *list(reasons),
            f"the rule proposed {recipe.label}"
            + (f", which missed the {budget.describe()}: {misses[0]}" if misses else "")
            + f"; the search chose {chosen.recipe.label}: "
            f"{'smallest' if options.objective == 'size' else 'fastest'} of "
            f"{sum(c.within for c in d.candidates)} candidate(s) within budget",
        ]
        d.reasons += [w for w in extra_reasons.get(replace(chosen.recipe, float_layers=()), []) if w not in d.reasons]
    elif auto:
        d.reasons = [
            *list(reasons),
            f"--recipe auto: {chosen.recipe.label} is the "
            f"{'smallest' if options.objective == 'size' else 'fastest'} within budget",
        ]
    d.recipe, d.artifact, d.fidelity = chosen.recipe, chosen.artifact, chosen.fidelity
    return d


def _doctor(fidelity: dict[str, Any], recipe: Recipe, random_data: bool) -> list[str]:
    """Fail a broken artifact (exit 5). A collapse after calibrating on random data is only a
    warning: such ranges are meaningless, and random data is for smoke tests."""
    findings = budget_mod.doctor_findings(fidelity, collapse=not random_data)
    if findings:
        raise GateError(
            f"the {recipe.label} artifact is broken: " + "; ".join(findings),
            hint="try another recipe (--recipe auto searches), or check the calibration data",
        )
    return [f"{line} (calibrated on random data)" for line in budget_mod.doctor_findings(fidelity)]


def _nothing_fits(prep, backend, budget, d: Decision, misses: list[str]) -> Decision:
    rows = sensitivity(prep) if any(c.recipe.activations == "int8" for c in d.candidates) else []
    if rows:
        d.sections["sensitivity"] = rows
    int16 = any(c.recipe.activations == "int16" and c.error is None for c in d.candidates)
    table = search_mod.table_lines(rows, int16)
    broken = budget_mod.doctor_findings(d.fidelity)
    if budget.is_default and not broken:
        d.warnings.append(
            f"no recipe allowed on {backend.name} meets the {budget.describe()}; kept the rule's "
            f"{d.recipe.label} ({misses[0] if misses else ''})"
        )
        return d
    not_tried = [
        f"{c.recipe.name} ({c.error.removeprefix('not possible: ')})"
        for c in d.candidates
        if c.error and c.error.startswith("not possible: ")
    ]
    raise GateError(
        f"no recipe allowed on {backend.name} meets the {budget.describe()} "
        f"(tried: {', '.join(_tried(c) for c in d.candidates if c.error is None)}); "
        + (misses[0] if misses else "")
        + "".join(f"\n  not tried: {n}" for n in not_tried)
        + ("\n  worst layers (channel SNR of int8):\n    " + "\n    ".join(table) if table else ""),
        hint="loosen the budget, or fix the layers named above; a target with float fallback (cpu; mcu with "
        "--mcu-allow-float on a board with an FPU) can keep them float",
    )


def _tried(c: search_mod.Candidate) -> str:
    extra = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.target.items())
    return c.recipe.label + (f" [{extra}]" if extra else "")


def range_warnings(prep) -> list[str]:
    """Eval inputs outside the calibration range by a clear margin (computed once per build)."""
    if prep.calibration is None or prep.calibration is prep.evaluation or prep.calibration.random:
        return []
    if prep.range_warnings is None:
        lo_hi: dict[str, list[float]] = {}
        for _, sample in prep.calibration.samples:
            for n, v in sample.items():
                r = lo_hi.setdefault(n, [np.inf, -np.inf])
                r[0], r[1] = min(r[0], float(np.min(v))), max(r[1], float(np.max(v)))
        out = []
        for n, (lo, hi) in lo_hi.items():
            ev = [s[n] for _, s in prep.evaluation.samples if n in s]
            if not ev:
                continue
            elo, ehi = min(float(np.min(v)) for v in ev), max(float(np.max(v)) for v in ev)
            margin = RANGE_MARGIN * max(hi - lo, 1e-12)
            if elo < lo - margin or ehi > hi + margin:
                out.append(
                    f"eval input {n!r} spans [{elo:.4g}, {ehi:.4g}], beyond the calibration range "
                    f"[{lo:.4g}, {hi:.4g}]: quantized activations will clip; calibrate with data like the "
                    "real inputs"
                )
        prep.range_warnings = out
    return prep.range_warnings


def plain_options(options):
    """The options with the search-only settings removed (for the rule's proposal)."""
    return replace(options, recipe=None) if options.recipe == "auto" else options
