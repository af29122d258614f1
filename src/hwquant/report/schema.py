"""report.json as a type: :class:`TargetReport`, its sections, and the published JSON Schema.

Every section of one target's report.json is a declared, typed field here; ``report.schema.json``
(JSON Schema 2020-12, shipped in this package) is generated from these classes by
:mod:`hwquant.report.typed` (``python -m hwquant.report.schema`` rewrites it; a test fails when the
shipped file differs). The classes are plain dataclasses, not pydantic models: Recipe and
BuildOptions are dataclasses already, and the runtime-only install (``hwquant check`` in CI jobs,
``hwquant bench`` on a device) must stay small.

Versions (see CHANGELOG.md beside this file): ``schema_version`` 2 adds the typed ``measures``
section that the gates read. Reports of version 1 (and hand-written ones with no version) are still
read: :func:`upgrade` derives their ``measures`` from the target's own section (``tensor_arena.bytes``,
``estimates.inferences_per_second``), the only place that looks at those keys. A version this
hwquant does not know is bad input (exit 2, naming the version).
"""

# ruff: noqa: RUF009  (typed.fld returns a dataclasses.field with schema metadata, like field())
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwquant.report.typed import ReportTypeError, fld, json_schema, read, to_json

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")
SCHEMA_ID = "https://hwquant.dev/report.schema.json"
VALIDATE_ENV = "HWQUANT_VALIDATE_REPORTS"
ROUNDING = 1e-9  # a cosine of identical outputs computes to 1.0000000000000002


@dataclass
class RecipeSection:
    """The recipe the artifact was converted with, and why it was chosen."""

    name: str = fld(required=True, doc="preset name")
    label: str = fld(required=True, doc="name with any float layers noted")
    fields: dict[str, Any] = fld(required=True, doc="the recipe's fields (weights, activations, io_dtype ...)")
    reasons: list[str] = fld(required=True, doc="why this recipe")


@dataclass
class SizeBytes:
    """Sizes in bytes; ``deployed`` is what goes on the device when it is not the converted model."""

    original: int = fld(required=True, minimum=0, doc="the model file or folder as given")
    float32_tflite: int = fld(required=True, minimum=0)
    artifact: int = fld(required=True, minimum=0, doc="the converted model")
    ratio_to_float32: float = fld(required=True, minimum=0)
    deployed: int | None = fld(None, minimum=0, doc="ethos-u: Vela's compiled model")


@dataclass
class Measures:
    """What the backend measured or estimated for the device (PackageResult's fields); gates read these."""

    tensor_arena_bytes: int | None = fld(None, minimum=0, doc="tensor arena the runtime needs (with margin)")
    flash_bytes: int | None = fld(None, minimum=0, doc="flash footprint: model, runtime, allowance")
    ram_bytes: int | None = fld(None, minimum=0, doc="RAM footprint: arena, stack, allowance")
    estimated_inferences_per_second: float | None = fld(
        None, minimum=0, doc="an estimate (ethos-u: Vela's cycle model), never a measurement"
    )
    compiled_bytes: int | None = fld(None, minimum=0, doc="the compiled model (edgetpu, ethos-u)")
    deployed_bytes: int | None = fld(None, minimum=0, doc="what goes on the device when not the converted model")


@dataclass
class Accuracy:
    """Top-1 accuracy on labelled eval data, float model and artifact."""

    float_: float | None = fld(None, key="float", null=True, minimum=0, maximum=1)
    quantized: float | None = fld(None, null=True, minimum=0, maximum=1)
    delta_points: float | None = fld(None, minimum=-100, maximum=100, doc="quantized minus float, in points")


@dataclass
class MeasureVerdict:
    """One fidelity measure of one output with its 95 % interval, and the budget's limit and verdict."""

    value: float | None = fld(None, null=True, doc="the measure over all samples (null: not finite)")
    samples: int = fld(0, minimum=0, doc="eval samples it was measured on")
    low: float | None = fld(None, null=True, doc="95 % interval, lower end")
    high: float | None = fld(None, null=True, doc="95 % interval, upper end")
    method: str | None = fld(None, doc="wilson | mcnemar | bootstrap")
    p_value: float | None = fld(None, minimum=0, maximum=1, doc="mcnemar: exact p of the discordant samples")
    limit: float | None = fld(None, null=True, doc="the budget's limit (null: the budget does not read it)")
    verdict: str | None = fld(
        None, null=True, doc="pass | miss | undecided (the default budget: the interval reaches the limit)"
    )
    samples_to_decide: int | None = fld(None, minimum=0, doc="undecided: about how many eval samples would decide")
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class OutputFidelity:
    """One output of the artifact against the float model (null: NaN or infinite, see snr_db)."""

    kind: str | None = fld(None, doc="probabilities | logits | multi-label | regression: what the output is")
    kind_why: str | None = fld(None, doc="why it is that kind (the op that computes it, or --output-kind)")
    samples: int | None = fld(None, minimum=0)
    max_abs_error: float | None = fld(None, null=True, minimum=0)
    mean_abs_error: float | None = fld(None, null=True, minimum=0)
    snr_db: float | None = fld(None, null=True, doc="null with max_abs_error 0: identical outputs (infinite SNR)")
    cosine: float | None = fld(
        None, null=True, minimum=-1 - ROUNDING, maximum=1 + ROUNDING, doc="in [-1, 1] up to float rounding"
    )
    top1_agreement: float | None = fld(
        None, null_when="classifier", minimum=0, maximum=1, doc="present for class-score outputs only"
    )
    accuracy: Accuracy | None = fld(None, doc="labelled eval data on a class-score output")
    label_agreement: float | None = fld(
        None, minimum=0, maximum=1, doc="multi-label outputs: decisions at 0.5 that agree with float"
    )
    collapsed: bool | None = fld(None, doc="top-1 is one class for every sample")
    non_finite: int | None = fld(None, minimum=0)
    reference_non_finite: int | None = fld(None, minimum=0)
    measures: dict[str, MeasureVerdict] | None = fld(
        None, doc="per measure (top1_agreement, accuracy_drop_points, snr_db, cosine): interval and verdict"
    )
    classifier: bool = fld(False, internal=True, present="top1_agreement")
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class Fidelity:
    """The artifact's outputs against the float model's on the held-out samples."""

    outputs: dict[str, OutputFidelity] = fld(factory=dict)
    samples: int | None = fld(None, minimum=0)
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class Verify:
    """How fidelity was measured; the backend's own verification under its name."""

    runtime: str = fld(required=True)
    samples: int = fld(required=True, minimum=0)
    eval_source: str = fld(required=True)
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class Latency:
    """Host latency of the artifact (LiteRT CPU interpreter), in milliseconds."""

    mean: float = fld(required=True, minimum=0)
    median: float | None = fld(None, minimum=0)
    runs: int | None = fld(None, minimum=0)
    runtime: str | None = None
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class Cache:
    """Whether this folder was restored from the build cache, and its key."""

    hit: bool = fld(required=True)
    key: str = fld(required=True)
    built_timings_s: dict[str, float] | None = fld(None, doc="the timings of the build that made the entry")


@dataclass
class Ops:
    """Per-op placement: what runs on the target, what falls back, what is unsupported."""

    target: str = fld(required=True)
    counts: dict[str, int] = fld(factory=dict)
    table: list[dict[str, Any]] = fld(factory=list)
    ops: list[dict[str, Any]] = fld(factory=list)
    notes: list[str] = fld(factory=list)


@dataclass
class Tensor:
    """A model input or output: name, shape (-1: any size) and dtype."""

    name: str = fld(required=True)
    shape: list[int] = fld(required=True)
    dtype: str = fld(required=True)


@dataclass
class Signature:
    """A signature of the model: its key and tensors."""

    key: str = fld(required=True)
    inputs: list[Tensor] = fld(factory=list)
    outputs: list[Tensor] = fld(factory=list)


@dataclass
class ModelSection:
    """What the load stage learnt about the float model."""

    path: str = fld(required=True)
    format: str = fld(required=True, doc="savedmodel | keras | h5")
    loader: str = fld(required=True, doc="how it was converted")
    float_size_bytes: int = fld(required=True, minimum=0)
    signatures: list[Signature] = fld(factory=list)
    op_counts: dict[str, int] = fld(factory=dict)
    notes: list[str] = fld(factory=list)
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class ModelInput:
    """The model file or folder and its content hash."""

    path: str = fld(required=True)
    sha256: str | None = fld(None, null=True)
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class DataInput:
    """A data set the build read (calibration or evaluation)."""

    source: str = fld(required=True)
    kind: str = fld(required=True)
    samples: int = fld(required=True, minimum=0)
    sha256: str | None = fld(None, null=True, doc="null: data from module:function")
    random: bool = fld(False)
    labelled: bool = fld(False)
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class Inputs:
    """What the build read, hashed (the cache key is made of these)."""

    model: ModelInput = fld(required=True)
    data: DataInput | None = None
    eval_data: DataInput | None = None
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class Budget:
    """The accuracy budget the artifact was held to: limits by gate key (see the gate table)."""

    source: str = fld(required=True, doc="default | command line | manifest")
    applied: bool = fld(required=True)
    limits: dict[str, float] = fld(factory=dict)
    scope: dict[str, str] | None = fld(None, doc="the default budget: which outputs each limit reads")
    why_not_applied: str | None = None
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class GateRecord:
    """The CI gates the build was held to (the manifest's [gates] under the command line's) and what they
    found; `hwquant check` applies them again to this report."""

    limits: dict[str, Any] = fld(required=True, doc="limits by gate key (see the gate table)")
    verdict: str = fld(required=True, doc="pass | fail")
    fails: list[str] = fld(factory=list, doc="one line per failed gate")


@dataclass
class LatestFailure:
    """The latest build of this target failed: the folder still holds the earlier build, which this report
    describes; `hwquant check` reports it as a failure."""

    exit_code: int = fld(required=True, minimum=1)
    message: str = fld(required=True)
    hint: str | None = None


@dataclass
class Candidate:
    """One recipe the search measured."""

    recipe: str = fld(required=True)
    label: str = fld(required=True)
    io_dtype: str | None = fld(None, null=True)
    float_layers: list[str] = fld(factory=list)
    origin: str | None = fld(None, null=True)
    size_bytes: int | None = fld(None, null=True, minimum=0)
    latency_ms: float | None = fld(None, null=True, minimum=0)
    snr_db: float | None = fld(None, null=True)
    cosine: float | None = fld(None, null=True, minimum=-1 - ROUNDING, maximum=1 + ROUNDING)
    top1_agreement: float | None = fld(None, null=True, minimum=0, maximum=1)
    accuracy: float | None = fld(None, null=True, minimum=0, maximum=1)
    accuracy_delta_points: float | None = fld(None, null=True, minimum=-100, maximum=100)
    target: dict[str, Any] = fld(factory=dict, doc="what the backend measured (e.g. tensor_arena_bytes)")
    within_budget: bool = fld(False)
    why_not: list[str] = fld(factory=list)
    chosen: bool = fld(False)
    needs: str | None = fld(None, doc="'needs --io-dtype X': IO other than the artifact's; never chosen")
    quantized_fraction: float | None = fld(None, minimum=0, maximum=1, doc="share of weight bytes quantized")
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class Quantized:
    """What the artifact actually quantized, counted from its .tflite (not inferred from the recipe)."""

    weight_bytes: dict[str, int] = fld(factory=dict, doc="bytes of constant tensors by dtype")
    ops: dict[str, int] = fld(factory=dict, doc="ops by compute dtype")
    quantized_fraction: float = fld(0.0, minimum=0, maximum=1, doc="share of weight bytes narrower than float32")
    float_ops: list[str] = fld(factory=list, doc="float32 ops, in execution order")
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class Search:
    """The measured recipe choice: every candidate, and the one chosen."""

    objective: str = fld(required=True, doc="size | latency")
    why: str | None = None
    candidates: list[Candidate] = fld(factory=list)
    chosen: str | None = fld(None, null=True)
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class SensitivityRow:
    """One op's int8 sensitivity (TF's QuantizationDebugger)."""

    tensor: str = fld(required=True)
    op: str = fld(required=True)
    channel_snr_db: float | None = fld(None, null=True, doc="null: exact, or a constant float output")
    rmse_over_scale: float | None = fld(None, null=True)
    range: list[float] = fld(factory=list)
    extra: dict[str, Any] = fld(factory=dict, flatten=True)


@dataclass
class TargetReport:
    """One target's report.json. Keys not declared here are backend sections (objects), e.g. ``mcu``."""

    schema_version: int = fld(required=True)
    target: str = fld(required=True, doc="backend name")
    preflight_only: bool = fld(False)
    sensitivity_only: bool | None = fld(None, doc="`--sensitivity`: the analysis only, no artifact")
    recipe: RecipeSection | None = None
    model: ModelSection | None = None
    ops: Ops | None = None
    inputs: Inputs | None = None
    versions: dict[str, Any] = fld(factory=dict)
    folder: str | None = fld(None, doc="output folder when it is not the target name (manifest tables)")
    job: str | None = fld(None, doc="workspace job id")
    cache: Cache | None = None
    warnings: list[str] | None = None
    budget: Budget | None = None
    gates: GateRecord | None = fld(None, doc="the CI gates the build applied, and their verdict")
    latest_failure: LatestFailure | None = fld(
        None, doc="a later build of this target failed; this folder holds the earlier build"
    )
    quantized: Quantized | None = fld(None, doc="what the artifact quantized (weights and ops by dtype)")
    search: Search | None = None
    sensitivity: list[SensitivityRow] | None = None
    latency_ms: Latency | None = None
    artifact_name: str | None = fld(None, doc="the converted model's file among the artifacts")
    artifacts: list[str] = fld(factory=list)
    size_bytes: SizeBytes | None = None
    fidelity: Fidelity | None = None
    verify: Verify | None = None
    measures: Measures | None = None
    timings_s: dict[str, float] = fld(factory=dict)
    timings_shared: list[str] | None = fld(None, doc="stages done once for all targets of the build")
    sections: dict[str, dict[str, Any]] = fld(factory=dict, flatten=True)

    @property
    def backend_section(self) -> dict[str, Any]:
        """The backend's own section (``report[target]``)."""
        return self.sections.get(self.target, {})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = to_json(self)
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "report") -> TargetReport:
        """Read (and upgrade) a report; ReportTypeError on a wrong type or range, UnknownVersion on a version."""
        report: TargetReport = read(cls, upgrade(data, where), where)
        return report


class UnknownVersion(ValueError):
    """A report's schema_version that this hwquant cannot read."""


def version_of(data: dict[str, Any], where: str = "report") -> int:
    """The report's schema_version (1 when absent: hand-written reports and version 1)."""
    v = data.get("schema_version", 1)
    if isinstance(v, bool) or not isinstance(v, int) or v not in READABLE_VERSIONS:
        raise UnknownVersion(
            f"{where}: report schema_version {v!r} is not one this hwquant reads "
            f"({', '.join(map(str, READABLE_VERSIONS))})"
        )
    return v


def upgrade(data: Any, where: str = "report") -> Any:
    """A version-1 report as version 2: ``measures`` from the target's own section. Others unchanged."""
    if not isinstance(data, dict) or version_of(data, where) >= 2 or "measures" in data:
        return data
    own = data.get(data.get("target")) if isinstance(data.get("target"), str) else None
    if not isinstance(own, dict):
        return {**data, "schema_version": 2}
    measures: dict[str, Any] = {}
    arena, est = own.get("tensor_arena"), own.get("estimates")
    if isinstance(arena, dict) and "bytes" in arena:
        measures["tensor_arena_bytes"] = arena["bytes"]
    elif "tensor_arena" in own:
        raise ReportTypeError(f"{where}: {data['target']}.tensor_arena", "an object with bytes", arena)
    if isinstance(est, dict) and "inferences_per_second" in est:
        measures["estimated_inferences_per_second"] = est["inferences_per_second"]
    return {**data, "schema_version": 2, **({"measures": measures} if measures else {})}


def generate() -> dict[str, Any]:
    """The JSON Schema of report.json, from :class:`TargetReport`."""
    schema = json_schema(
        TargetReport,
        schema_id=SCHEMA_ID,
        title="hwquant report.json",
        description=f"One target's build report, schema_version {SCHEMA_VERSION}. Generated from "
        "hwquant.report.schema.TargetReport; see CHANGELOG.md in the hwquant.report package.",
    )
    schema["properties"]["schema_version"]["enum"] = [SCHEMA_VERSION]
    schema["additionalProperties"] = {"type": "object", "description": "a backend's own section"}
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def shipped() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return loaded


def validation_errors(report: Any) -> list[str]:
    """Every place ``report`` (JSON data) breaks the shipped schema (needs the jsonschema package)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(shipped())
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in sorted(validator.iter_errors(report), key=lambda e: list(map(str, e.absolute_path)))
    ]


def validate_if_asked(report: Any, where: str) -> None:
    """With HWQUANT_VALIDATE_REPORTS=1 (the test suite sets it), a report that breaks the schema raises."""
    if os.environ.get(VALIDATE_ENV) != "1":
        return
    errors = validation_errors(report)
    if errors:
        raise AssertionError(f"{where} breaks report.schema.json:\n  " + "\n  ".join(errors[:20]))


if __name__ == "__main__":  # pragma: no cover - `python -m hwquant.report.schema` rewrites the shipped file
    SCHEMA_FILE.write_text(render(generate()))
    print(f"wrote {SCHEMA_FILE}")
