"""The work every target of one build shares: load the model once, convert it to float32 once (the
reference), read and split the data once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwquant.common import progress
from hwquant.common.errors import UsageError
from hwquant.common.hashing import tree_sha256
from hwquant.common.interrupts import checkpoint
from hwquant.config import data as data_mod
from hwquant.device.tflite_model import Tensor, TfliteModel
from hwquant.plugin.backend import Backend
from hwquant.plugin.facts import BuildOptions, ModelFacts, SignatureSpec, TensorSpec
from hwquant.plugin.manager import registry
from hwquant.plugin.recipe import Recipe, preset

if TYPE_CHECKING:
    from hwquant.choice.shared import StageTimer
    from hwquant.choice.verify import Comparison
    from hwquant.convert.converter import Calibrated, LoadedModel


# what the progress display calls a timed stage (the others draw their own, more specific line)
STAGE_LINES = {
    "load": "loading the model",
    "data": "reading the data",
    "plan": "choosing the recipe",
    "convert": "converting",
    "check": "checking the ops",
    "verify": "verifying",
    "package": "packaging",
}


class Timer:
    """Collects wall time per named stage (and shows the stage on the progress display)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            with progress.stage(STAGE_LINES[name]) if name in STAGE_LINES else contextlib.nullcontext():
                yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - t0, 4)


class Prepared:
    """What every target of one build shares, and the steps it computes once for all of them.

    Inputs, set by ``prepare()``: ``options``, ``loaded`` (the converter's LoadedModel), ``float_model``
    (the float32 reference), ``facts``, ``calibration`` and ``evaluation`` data, ``timings`` of the
    shared stages, ``inputs`` (report.json's inputs section).

    Settings of the caller (``build_many``), before any target builds: ``cache_keys`` (target folder ->
    cache key, recorded in the report) and ``measure_latency`` (host latency in the report).

    Memoized steps, each computed on first use and shared by every target: ``artifact(recipe)``,
    ``calibration_result()``, ``reference()``, ``sensitivity()``, ``range_warnings()``; ``compare()``
    measures an artifact against the shared reference. Their memos are private: nothing outside
    assigns them (``calibrated`` and ``calibration_fallback`` read the calibration memo without
    computing it). Assigning anything but the two settings raises AttributeError.
    """

    def __init__(
        self,
        options: BuildOptions,
        loaded: LoadedModel,
        float_model: bytes,
        facts: ModelFacts,
        calibration: data_mod.DataSet | None,
        evaluation: data_mod.DataSet,
        timings: dict[str, float],
        inputs: dict[str, Any] | None = None,
    ) -> None:
        self.options = options
        self.loaded = loaded
        self.float_model = float_model
        self.facts = facts
        self.calibration = calibration
        self.evaluation = evaluation
        self.timings = timings
        self.inputs: dict[str, Any] = inputs if inputs is not None else {}
        self.cache_keys: dict[str, str] = {}
        self.measure_latency = False
        self._artifacts: dict[Recipe, bytes] = {}
        self._calibrated: Calibrated | None = None
        self._reference: dict[str, np.ndarray] | None = None
        self._sensitivity: list[dict[str, Any]] | None = None
        self._range_warnings: list[str] | None = None
        self._sealed = True

    _SETTINGS = frozenset({"cache_keys", "measure_latency"})

    def __setattr__(self, name: str, value: Any) -> None:
        """After ``__init__`` only the caller's settings may be assigned; the inputs are fixed and the
        memos (private) belong to the methods that compute them."""
        if getattr(self, "_sealed", False) and not name.startswith("_") and name not in self._SETTINGS:
            raise AttributeError(
                f"Prepared.{name} is fixed once prepared (settable: {', '.join(sorted(self._SETTINGS))})"
            )
        object.__setattr__(self, name, value)

    @property
    def calibrated(self) -> Calibrated | None:
        """The shared calibration if a recipe needed it so far (None otherwise); never computes it."""
        return self._calibrated

    def artifact(self, recipe: Recipe, timer: StageTimer | None = None) -> bytes:
        """``recipe`` converted, once per build; from the shared calibration when the recipe allows it
        (byte-identical to a direct conversion, see convert.calibrates_once)."""
        from hwquant.convert import converter as convert

        if recipe.name == "float32" and recipe.io_dtype == "float32":
            return self.float_model
        if recipe not in self._artifacts:
            if convert.calibrates_once(recipe):
                artifact = convert.quantize_calibrated(self.loaded, self.calibration_result(timer), recipe)
            else:
                artifact = convert.convert(self.loaded, recipe, self._forms() if recipe.needs_data else None)
            self._artifacts[recipe] = artifact
        return self._artifacts[recipe]

    def calibration_result(self, timer: StageTimer | None = None) -> Calibrated:
        """One calibration on the representative data for every int8-family recipe of the build."""
        from hwquant.convert import converter as convert

        if self._calibrated is None:
            forms = self._forms()
            with (
                timer.stage("calibrate") if timer is not None else contextlib.nullcontext(),
                progress.stage(f"calibrating on {len(forms)} sample{'s' if len(forms) != 1 else ''}"),
            ):
                self._calibrated = convert.calibrate(self.loaded, forms)
        return self._calibrated

    def reference(self) -> dict[str, np.ndarray]:
        """The float model's outputs on the evaluation set."""
        from hwquant.choice import verify

        if self._reference is None:
            self._reference = verify.outputs(self.float_model, self.evaluation, self.facts, "float32 reference")
        return self._reference

    def compare(self, artifact: bytes) -> Comparison:
        """``artifact`` against the shared float reference on the evaluation set (not memoized)."""
        from hwquant.choice import verify

        return verify.compare(
            self.float_model,
            artifact,
            self.evaluation,
            self.facts,
            reference=self.reference(),
            output_kinds=self.options.output_kinds,
        )

    def sensitivity(self) -> list[dict[str, Any]]:
        """Per-layer sensitivity of int8 quantization; empty without calibration data or with several
        signatures."""
        from hwquant.convert import converter as convert

        if self._sensitivity is None:
            if self.calibration is None or self.facts.multi_signature:
                self._sensitivity = []
            else:
                forms = self._forms()
                with progress.stage("measuring each layer's int8 sensitivity"):
                    self._sensitivity = convert.layer_sensitivity(self.loaded, self.calibration_result(), forms)
        return self._sensitivity

    @property
    def calibration_fallback(self) -> str | None:
        """Why the shared calibration fell back to direct conversion (TensorFlow's internals failed)."""
        return self._calibrated.fallback if self._calibrated is not None else None

    @property
    def sensitivity_computed(self) -> bool:
        """Whether some target of this build computed the sensitivity rows (never computes them)."""
        return bool(self._sensitivity)

    def range_warnings(self) -> list[str]:
        """Eval inputs beyond the calibration range by a clear margin (empty when the eval set is the
        calibration set or the calibration data is random)."""
        from hwquant.choice.decide import input_range_warnings

        if self._range_warnings is None:
            self._range_warnings = input_range_warnings(self.calibration, self.evaluation)
        return self._range_warnings

    def _forms(self) -> list[Any]:
        """The calibration samples in the converter's representative_dataset form."""
        from hwquant.convert import converter as convert

        if self.calibration is None:
            raise UsageError("this recipe needs representative data", hint="pass --data")
        order = {s.key: [t.name for t in s.inputs] for s in self.facts.signatures}
        return convert.representative_forms(self.loaded, self.calibration.samples, order)


def facts_from(float_model: bytes, loaded: LoadedModel) -> ModelFacts:
    """Model facts read off the float32 conversion (names and shapes the converter kept)."""
    m = TfliteModel(float_model, "float32 reference")
    sigs = []

    def spec(name: str, t: Tensor) -> TensorSpec:
        return TensorSpec(name, t.shape_signature, t.dtype)

    if m.signatures:
        for key, s in m.signatures.items():
            sigs.append(
                SignatureSpec(
                    key,
                    tuple(spec(n, t) for n, t in s["inputs"].items()),
                    tuple(spec(n, t) for n, t in s["outputs"].items()),
                )
            )
    else:  # TF1 converter output without a SignatureDef: tensor names, in input order
        ins, outs = m.io(0)
        sigs.append(
            SignatureSpec(
                loaded.signature_keys[0], tuple(spec(t.name, t) for t in ins), tuple(spec(t.name, t) for t in outs)
            )
        )
    return ModelFacts(
        str(loaded.path),
        loaded.format,
        loaded.loader,
        tuple(sigs),
        len(float_model),
        dict(m.op_counts()),
        tuple(loaded.notes),
    )


def resolve_backends(options: BuildOptions) -> list[Backend]:
    names = [t.strip() for t in str(options.target).split(",") if t.strip()]
    if not names:
        raise UsageError("no target given", hint="--target cpu (see `hwquant targets`)")
    backends = [registry().get(n) for n in names]
    if options.recipe and options.recipe != "auto":
        preset(options.recipe)  # unknown names fail before any loading
        for b in backends:
            if options.recipe not in b.allowed_recipes:
                raise b.refused(options.recipe)
    return backends


def prepare(options: BuildOptions, log: Callable[[str], None] = print) -> Prepared:
    from hwquant.convert import converter as convert

    timer = Timer()
    with timer.stage("load"):  # includes the float32 conversion, which proves the loader works
        loaded = convert.load(options.model, options.verbose, options.trust_model, tuple(options.input_shapes))
    try:
        checkpoint()
        float_model = loaded.float_model
        facts = facts_from(float_model, loaded)
        with timer.stage("data"):
            calib = data_mod.load(options.data, facts, options) if options.data else None
            eval_src = data_mod.load(options.eval_data, facts, options, role="eval") if options.eval_data else None
            if calib is not None:
                calib, evaluation = data_mod.split(calib, eval_src, options)
            elif eval_src is not None:
                evaluation = eval_src
            else:
                evaluation = data_mod.load("random:8", facts, options)
                evaluation.source = "random:8 (no data given: verification only checks that the artifact runs)"
        checkpoint()
    except BaseException:
        loaded.cleanup()
        raise
    for w in loaded.warnings:  # e.g. a recurrent layer unrolled, and what it costs in size
        log(f"warning: {w}")
    for ds in (calib, eval_src if options.eval_data else None):
        for w in ds.warnings if ds is not None else []:
            log(f"warning: {w}")
    inputs = {"model": {"path": str(options.model), "sha256": tree_sha256(Path(options.model))}}
    if calib is not None:
        inputs["data"] = calib.describe()
    inputs["eval_data"] = evaluation.describe()
    return Prepared(options, loaded, float_model, facts, calib, evaluation, timer.timings, inputs)
