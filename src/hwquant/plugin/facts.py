"""Plain data about a model and a build, passed between pipeline stages and to backends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]  # -1 marks a dynamic dimension
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class SignatureSpec:
    key: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def input(self, name: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.name == name), None)


@dataclass(frozen=True)
class ModelFacts:
    """What the load stage learnt about the model; backends choose recipes from this."""

    path: str
    format: str  # savedmodel | keras | h5
    loader: str  # how it was converted: tf2-saved-model, tf2-keras, tf1-saved-model
    signatures: tuple[SignatureSpec, ...]
    float_size_bytes: int
    op_counts: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def multi_signature(self) -> bool:
        return len(self.signatures) > 1

    def signature(self, key: str | None = None) -> SignatureSpec:
        if key is None:
            return self.signatures[0]
        return next(s for s in self.signatures if s.key == key)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["signatures"] = [
            {"key": s.key, "inputs": [t.to_dict() for t in s.inputs], "outputs": [t.to_dict() for t in s.outputs]}
            for s in self.signatures
        ]
        d["notes"] = list(self.notes)
        return d


# what an output is (hwquant.choice.kinds decides it from the graph; --output-kind / [outputs] override)
OUTPUT_KINDS = ("probabilities", "logits", "multi-label", "regression")


@dataclass
class BuildOptions:
    """Everything a user can ask of one build; the CLI and hwquant.build() fill it."""

    model: Path
    target: str = "cpu"
    data: str | None = None
    eval_data: str | None = None
    recipe: str | None = None
    io_dtype: str | None = None
    out: Path = Path("build")
    preflight_only: bool = False
    eval_fraction: float = 0.2
    max_eval_samples: int = 200
    max_samples: int | None = None  # per data source (--max-samples); None: HWQUANT_MAX_SAMPLES or 100,000
    image_size: tuple[int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    scale: float | None = None
    seed: int = 0
    verbose: bool = False
    trust_model: bool = False  # load Keras files with safe_mode=False (Lambda layers run their code)
    # The backend's options by key ({"board": ...}); several targets: {backend: {key: value}} (plugin/options.py)
    backend_options: dict[str, Any] = field(default_factory=dict)
    # the measured choice (hwquant/choice/decide.py): fidelity limits given by the user (else the
    # default budget), where they came from, what the search optimizes, layers pinned float
    budget: dict[str, float] | None = None
    budget_source: str | None = None
    objective: str = "size"
    num_threads: int = 1  # LiteRT CPU threads for host latency (search objective latency)
    float_layers: tuple[str, ...] = ()
    output_kinds: tuple[str, ...] = ()  # NAME=KIND overrides of the output kinds (hwquant.choice.kinds)
    sensitivity: bool = False  # run only the per-layer analysis
    input_shapes: tuple[str, ...] = ()  # NAME=1x96x96x3: static sizes for dynamic input dimensions (--input-shape)

    @property
    def has_data(self) -> bool:
        return self.data is not None

    @property
    def random_data(self) -> bool:
        return bool(self.data) and str(self.data).startswith("random:")


@dataclass(frozen=True)
class CheckRequest:
    """What a backend's ``check`` may read of the build: narrower than BuildOptions, so a caller
    with only a model (a test, a tool) writes ``CheckRequest()`` rather than faking a build.

    ``backend_options`` holds this backend's option values (parsed, defaults filled, keyed by
    ``BackendOption.key``) when the pipeline builds the request; read one with ``opt``.
    """

    recipe: str | None = None  # the recipe the user asked for (None: the backend's rule decides)
    io_dtype: str | None = None  # the IO dtype the user asked for
    backend_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    verbose: bool = False  # the user asked for the tools' own output (-v)

    @classmethod
    def of(cls, options: BuildOptions) -> CheckRequest:
        """The request for one target's build (its ``backend_options`` are that target's own)."""
        return cls(options.recipe, options.io_dtype, MappingProxyType(dict(options.backend_options)), options.verbose)

    def opt(self, key: str, default: Any = None) -> Any:
        """This backend's option ``key`` (dashes or underscores); ``default`` when not given."""
        v = self.backend_options.get(key.replace("-", "_"))
        return default if v is None else v
