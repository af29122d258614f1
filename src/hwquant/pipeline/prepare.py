"""The work every target of one build shares: load the model once, convert it to float32 once (the
reference), read and split the data once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwquant.common.errors import UsageError
from hwquant.common.hashing import tree_sha256
from hwquant.common.interrupts import checkpoint
from hwquant.config import data as data_mod
from hwquant.device.tflite_model import TfliteModel
from hwquant.plugin.backend import Backend
from hwquant.plugin.facts import BuildOptions, ModelFacts, SignatureSpec, TensorSpec
from hwquant.plugin.manager import registry
from hwquant.plugin.recipe import preset


class Timer:
    """Collects wall time per named stage."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - t0, 4)


@dataclass
class Prepared:
    """What every target of one build shares."""

    options: BuildOptions
    loaded: Any  # hwquant.convert.LoadedModel
    float_model: bytes
    facts: ModelFacts
    calibration: data_mod.DataSet | None
    evaluation: data_mod.DataSet
    timings: dict[str, float]
    inputs: dict[str, Any] = field(default_factory=dict)
    converted: dict[Any, bytes] = field(default_factory=dict)  # recipe -> artifact, shared across targets
    calibrated: Any = None  # hwquant.convert.Calibrated: one calibration for every int8-family recipe
    cache_keys: dict[str, str] = field(default_factory=dict)  # target -> cache key (recorded in the report)
    measure_latency: bool = False  # host latency in the report (for --max-latency-ms)
    reference_outputs: Any = None  # the float model's outputs on the evaluation set, computed once
    sensitivity: Any = None  # per-layer int8 sensitivity (choice.sensitivity), computed once
    range_warnings: Any = None  # eval inputs beyond the calibration range (choice.range_warnings)


def facts_from(float_model: bytes, loaded) -> ModelFacts:
    """Model facts read off the float32 conversion (names and shapes the converter kept)."""
    m = TfliteModel(float_model, "float32 reference")
    sigs = []
    spec = lambda name, t: TensorSpec(name, t.shape_signature, t.dtype)  # noqa: E731
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
        loaded = convert.load(options.model, options.verbose, options.trust_model)
    try:
        checkpoint()
        float_model = loaded.float_model
        facts = facts_from(float_model, loaded)
        with timer.stage("data"):
            calib = data_mod.load(options.data, facts, options) if options.data else None
            eval_src = data_mod.load(options.eval_data, facts, options) if options.eval_data else None
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
    for ds in (calib, eval_src if options.eval_data else None):
        for w in ds.warnings if ds is not None else []:
            log(f"warning: {w}")
    inputs = {"model": {"path": str(options.model), "sha256": tree_sha256(Path(options.model))}}
    if calib is not None:
        inputs["data"] = calib.describe()
    inputs["eval_data"] = evaluation.describe()
    return Prepared(options, loaded, float_model, facts, calib, evaluation, timer.timings, inputs)
