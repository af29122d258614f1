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
from hwquant.choice import census as census_mod
from hwquant.choice import search as search_mod
from hwquant.choice.shared import SharedBuild, StageTimer
from hwquant.choice.verify import Comparison
from hwquant.common.errors import GateError, HwquantError, InputError, UsageError
from hwquant.config.data import DataSet
from hwquant.device.tflite_model import TfliteModel
from hwquant.plugin.backend import Backend
from hwquant.plugin.facts import BuildOptions, CheckRequest
from hwquant.plugin.recipe import Recipe

RANGE_MARGIN = 0.10  # eval inputs beyond the calibration range by more than 10 % of it: warning


@dataclass
class SearchSummary:
    """report.json's ``search`` section: why the search ran, every candidate, the one chosen."""

    objective: str
    why: str
    candidates: list[search_mod.Candidate]
    chosen: str | None  # the chosen candidate's recipe label; None when none is within budget

    def to_dict(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "why": self.why,
            "candidates": [c.to_dict() for c in self.candidates],
            "chosen": self.chosen,
        }


@dataclass
class Decision:
    """The measured choice for one target: the recipe, its artifact and how it compares with float."""

    recipe: Recipe
    reasons: list[str]
    artifact: bytes
    comparison: Comparison
    budget: budget_mod.Budget
    warnings: list[str] = field(default_factory=list)
    candidates: list[search_mod.Candidate] = field(default_factory=list)
    search: SearchSummary | None = None  # when the search ran
    census: census_mod.Census | None = None  # what the final artifact quantized
    sensitivity: list[dict[str, Any]] | None = None  # per-layer rows, when computed for this build

    @property
    def fidelity(self) -> dict[str, Any]:
        """report.json's ``fidelity`` section: each measure with its interval, limit and verdict."""
        return self.budget.judged_fidelity(self.comparison)

    @property
    def sections(self) -> dict[str, Any]:
        """report.json's sections from the choice: budget, and search and sensitivity when they ran."""
        d: dict[str, Any] = {"budget": self.budget.to_dict()}
        if self.census is not None:
            d["quantized"] = self.census.to_dict()
        if self.search is not None:
            d["search"] = self.search.to_dict()
        if self.sensitivity:
            d["sensitivity"] = self.sensitivity
        return d


def artifact_for(prep: SharedBuild, recipe: Recipe, timer: StageTimer | None = None) -> bytes:
    """``prep.artifact(recipe, timer)``: kept for pipeline.target's call site."""
    return prep.artifact(recipe, timer)


def sensitivity(prep: SharedBuild) -> list[dict[str, Any]]:
    """``prep.sensitivity()``: kept for pipeline.target's call site."""
    return prep.sensitivity()


def validate_float_layers(prep: SharedBuild, layers: tuple[str, ...] | list[str]) -> None:
    names = {o.name for op in TfliteModel(prep.float_model, "float32 reference").ops for o in op.outputs[:1]}
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise UsageError(
            f"--float-layer names no op output of this model: {', '.join(unknown[:3])}",
            hint="use the tensor names of report.json's sensitivity section (hwquant build --sensitivity)",
        )


def budget_for(prep: SharedBuild, options: BuildOptions) -> budget_mod.Budget:
    return budget_mod.resolve(
        options.budget or {}, options.budget_source or "command line", prep.calibration, prep.evaluation
    )


def decide(
    prep: SharedBuild,
    backend: Backend,
    options: BuildOptions,
    recipe: Recipe,
    reasons: list[str],
    artifact: bytes,
    log: Callable[[str], None],
    timer: StageTimer | None = None,
) -> Decision:
    """Measure the proposal; search when asked or when it misses the budget; apply the doctor; then
    count what the final artifact quantized, so its label is true (:func:`honest`)."""
    return honest(prep, backend, _decide(prep, backend, options, recipe, reasons, artifact, log, timer), timer)


def honest(prep: SharedBuild, backend: Backend, d: Decision, timer: StageTimer | None = None) -> Decision:
    """A quantized recipe whose artifact quantized nothing is rebuilt and reported as float32 (where the
    target allows float32; otherwise a warning says so); float ops left in an integer recipe are listed."""
    d.census = census_mod.of(d.artifact, f"{backend.name} artifact")
    hollow = census_mod.hollow(d.recipe, d.census)
    if hollow and "float32" in backend.allowed_recipes:
        from hwquant.plugin.recipe import preset

        was = d.recipe
        d.recipe = preset("float32").with_io(was.io_dtype if was.io_dtype != "float32" else None)
        d.artifact = prep.artifact(d.recipe, timer)
        d.comparison = prep.compare(d.artifact)
        d.census = census_mod.of(d.artifact, f"{backend.name} artifact")
        d.reasons = [
            *[f"the rule's proposal ({was.label}): {r}" for r in d.reasons],
            f"{hollow}; built and reported as float32, which it is",
        ]
        d.warnings.append(f"{hollow}: the artifact is float32 and is reported so")
    elif hollow:
        d.warnings.append(hollow)
    if census_mod.integer_recipe(d.recipe) and d.census.float_ops:
        d.warnings.append(f"{d.census.float_ops_line()} in the {d.recipe.label} artifact")
    return d


def _decide(
    prep: SharedBuild,
    backend: Backend,
    options: BuildOptions,
    recipe: Recipe,
    reasons: list[str],
    artifact: bytes,
    log: Callable[[str], None],
    timer: StageTimer | None = None,
) -> Decision:
    from hwquant.device.bench import host_latency_ms

    budget = budget_for(prep, options)
    auto = options.recipe == "auto"
    pinned = bool(options.recipe) and not auto

    comparison = prep.compare(artifact)
    faults = budget_mod.reference_faults(comparison)
    if faults:
        raise InputError(
            "the float32 model itself outputs NaN or inf on the eval data (" + "; ".join(faults) + ")",
            hint="check the model and the data's preprocessing (e.g. log or sqrt of values <= 0)",
        )
    d = Decision(recipe, reasons, artifact, comparison, budget, list(prep.range_warnings()))
    misses = budget.misses(comparison)
    if not pinned:  # the default budget's undecided measures: the proposal is kept, the report says why
        d.warnings += budget.undecided(comparison)
    if pinned or (not budget.applied and not auto) or (not misses and not auto):
        d.warnings += _doctor(comparison, recipe, random_data=prep.calibration is None or prep.calibration.random)
        return d
    if not auto:
        log(f"{backend.name}: the rule's {recipe.label} misses the {budget.describe()}: {misses[0]}; searching")
    measurer = search_mod.Measurer(
        convert=lambda r: prep.artifact(r, timer),
        check=lambda m: [
            f"{v.op} ({', '.join(v.reasons)})" for v in backend.check(m, CheckRequest.of(options)).unsupported
        ],
        compare=prep.compare,
        latency=(lambda a: host_latency_ms(a, num_threads=options.num_threads)["median"])
        if options.objective == "latency"
        else None,
        target=lambda a: backend.candidate_report(a, options),
    )
    allowed: list[tuple[str, Recipe | None, str]] = []
    extra_reasons: dict[Recipe, list[str]] = {}
    for name in backend.allowed_recipes:
        try:
            r, why = backend.choose_recipe(prep.facts, search_mod.options_for(options, name))
            extra_reasons[r] = [w for w in why if "requested with --recipe" not in w]
            if r.needs_data and prep.calibration is None:
                raise InputError("needs representative data")
            allowed.append((name, r, ""))
        except HwquantError as exc:
            allowed.append((name, None, exc.message))
    proposal = search_mod.Candidate(recipe, "rule proposal", artifact, comparison)
    sens = prep.sensitivity if prep.calibration is not None else None
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
    contract_io = options.io_dtype or recipe.io_dtype  # the user's --io-dtype, else the rule's (target default)
    search_mod.keep_io_contract(d.candidates, contract_io, tuple(backend.io_dtypes or ()))
    chosen = search_mod.choose(d.candidates, options.objective, budget)
    d.search = SearchSummary(
        options.objective,
        "--recipe auto" if auto else f"the rule's {recipe.label} missed the budget: {'; '.join(misses)}",
        d.candidates,
        chosen.recipe.label if chosen else None,
    )
    if prep.sensitivity_computed:  # rows any target of this build computed: shown with every search
        d.sensitivity = prep.sensitivity()
    if chosen is None:
        return _nothing_fits(prep, backend, budget, d, misses or proposal.misses)
    if chosen.recipe != recipe:
        d.reasons = [  # two parts: the rule's proposal (attributed to it), then the measured choice
            *[f"the rule's proposal ({recipe.label}): {r}" for r in reasons],
            f"the rule proposed {recipe.label}"
            + (f", which missed the {budget.describe()}: {misses[0]}" if misses else "")
            + f"; the search chose {chosen.recipe.label}: "
            f"{'smallest' if options.objective == 'size' else 'fastest'} of "
            f"{sum(c.within and not c.needs for c in d.candidates)} candidate(s) within budget",
        ]
        d.reasons += [w for w in extra_reasons.get(replace(chosen.recipe, float_layers=()), []) if w not in d.reasons]
    elif auto:
        d.reasons = [
            *list(reasons),
            f"--recipe auto: {chosen.recipe.label} is the "
            f"{'smallest' if options.objective == 'size' else 'fastest'} within budget",
        ]
    if chosen.recipe.io_dtype != contract_io:
        d.warnings.append(
            f"{chosen.recipe.label} takes {chosen.recipe.io_dtype} inputs and outputs, not the target's "
            f"{contract_io}: float fallback converts only with float IO; the firmware must feed float32"
        )
    assert chosen.artifact is not None and chosen.fidelity is not None  # a candidate within budget has both
    d.recipe, d.artifact, d.comparison = chosen.recipe, chosen.artifact, chosen.fidelity
    return d


def _doctor(fidelity: Comparison, recipe: Recipe, random_data: bool) -> list[str]:
    """Fail a broken artifact (exit 5). A collapse after calibrating on random data is only a
    warning: such ranges are meaningless, and random data is for smoke tests."""
    findings = budget_mod.doctor_findings(fidelity, collapse=not random_data)
    if findings:
        raise GateError(
            f"the {recipe.label} artifact is broken: " + "; ".join(findings),
            hint="try another recipe (--recipe auto searches), or check the calibration data",
        )
    return [f"{line} (calibrated on random data)" for line in budget_mod.doctor_findings(fidelity)]


def _nothing_fits(
    prep: SharedBuild, backend: Backend, budget: budget_mod.Budget, d: Decision, misses: list[str]
) -> Decision:
    rows = prep.sensitivity() if any(c.recipe.activations == "int8" for c in d.candidates) else []
    if rows:
        d.sensitivity = rows
    int16 = any(c.recipe.activations == "int16" and c.error is None for c in d.candidates)
    table = search_mod.table_lines(rows, int16)
    broken = budget_mod.doctor_findings(d.comparison)
    other_io = [c for c in d.candidates if c.needs and c.within]
    opt_in = (
        f"; {other_io[0].recipe.label} meets it but changes the IO: rebuild with {other_io[0].needs} if the "
        "firmware can feed it"
        if other_io
        else ""
    )
    if budget.is_default and not broken:
        d.warnings.append(
            f"no recipe allowed on {backend.name} meets the {budget.describe()} with {d.recipe.io_dtype} IO; "
            f"kept the rule's {d.recipe.label} ({misses[0] if misses else ''}){opt_in}"
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
        hint=(f"{opt_in.removeprefix('; ')}; or " if opt_in else "")
        + "loosen the budget, or fix the layers named above; a target with float fallback (cpu; mcu with "
        "--mcu-allow-float on a board with an FPU) can keep them float",
    )


def _tried(c: search_mod.Candidate) -> str:
    extra = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.target.items())
    return c.recipe.label + (f" [{extra}]" if extra else "")


def input_range_warnings(calibration: DataSet | None, evaluation: DataSet) -> list[str]:
    """Eval inputs outside the calibration range by a clear margin (Prepared.range_warnings memoizes it)."""
    if calibration is None or calibration is evaluation or calibration.random:
        return []
    lo_hi: dict[str, list[float]] = {}
    for _, sample in calibration.samples:
        for n, v in sample.items():
            r = lo_hi.setdefault(n, [np.inf, -np.inf])
            r[0], r[1] = min(r[0], float(np.min(v))), max(r[1], float(np.max(v)))
    out = []
    for n, (lo, hi) in lo_hi.items():
        ev = [s[n] for _, s in evaluation.samples if n in s]
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
    return out


def plain_options(options: BuildOptions) -> BuildOptions:
    """The options with the search-only settings removed (for the rule's proposal)."""
    return replace(options, recipe=None) if options.recipe == "auto" else options
