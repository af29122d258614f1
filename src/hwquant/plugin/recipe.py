"""Quantization recipes as values.

A recipe is a frozen dataclass that validates itself and round-trips to a dict. The
converter (hwquant.convert) applies it; the report records it with the reasons a backend
chose it. Preset names follow the scheme `<activations>[x<weights>][-<fallback>]`:

  float32                  no quantization, float32 everywhere
  dynamic-int8             dynamic range: int8 weights, float activations, no data needed
  int8-float-fallback      full integer, ops without int8 kernels stay float, float IO
  int8-only                integer only: every op int8, IO int8 (or uint8 / float32)
  float16                  float16 weights, dequantized to float32 on CPU kernels
  int16x8                  int16 activations, int8 weights, every op 16x8
  int16x8-float-fallback   16x8 where a kernel exists, float elsewhere
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hwquant.common.errors import UsageError

OPS_BUILTINS = "TFLITE_BUILTINS"
OPS_INT8 = "TFLITE_BUILTINS_INT8"
OPS_16X8 = "EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8"
_KNOWN_OPS = {OPS_BUILTINS, OPS_INT8, OPS_16X8, "SELECT_TF_OPS"}
_DTYPES = {"float32", "float16", "int8", "uint8", "int16"}


@dataclass(frozen=True)
class Recipe:
    """How the converter is configured. Fields mirror TFLiteConverter settings."""

    name: str
    weights: str  # storage dtype of weights: float32 | float16 | int8
    activations: str  # float32 | int8 | int16 (int8 with float fallback still reads int8)
    io_dtype: str = "float32"  # dtype of the model's inputs and outputs
    optimize: bool = False  # tf.lite.Optimize.DEFAULT
    needs_data: bool = False  # needs a representative dataset
    supported_ops: tuple[str, ...] = (OPS_BUILTINS,)
    supported_types: tuple[str, ...] = ()  # target_spec.supported_types, e.g. ("float16",)
    float_fallback: bool = False  # ops may stay float where no integer kernel exists
    # mixed precision: ops (named by their output tensor, as TF's quantizer denylist takes them)
    # kept float although they have integer kernels
    float_layers: tuple[str, ...] = ()
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for attr in ("weights", "activations", "io_dtype"):
            if getattr(self, attr) not in _DTYPES:
                raise UsageError(
                    f"recipe {self.name!r}: {attr}={getattr(self, attr)!r} is not one of {sorted(_DTYPES)}"
                )
        object.__setattr__(self, "supported_ops", tuple(self.supported_ops))
        object.__setattr__(self, "supported_types", tuple(self.supported_types))
        object.__setattr__(self, "float_layers", tuple(self.float_layers))
        if self.float_layers and not (self.float_fallback and self.activations == "int8"):
            raise UsageError(
                f"recipe {self.name!r} cannot keep layers float",
                hint="float layers need a recipe with int8 activations and float fallback (int8-float-fallback)",
            )
        unknown = set(self.supported_ops) - _KNOWN_OPS
        if unknown:
            raise UsageError(f"recipe {self.name!r}: unknown ops set(s) {sorted(unknown)}")
        if self.activations in ("int8", "int16") and not self.needs_data:
            raise UsageError(f"recipe {self.name!r}: integer activations need representative data")
        allowed_io = {"float32"}
        if self.activations == "int8" and not self.float_fallback:
            allowed_io |= {"int8", "uint8"}
        if self.activations == "int16" and not self.float_fallback:
            allowed_io |= {"int16"}
        if self.io_dtype not in allowed_io:
            raise UsageError(
                f"recipe {self.name!r} cannot have {self.io_dtype} inputs/outputs",
                hint=f"allowed IO dtypes for this recipe: {', '.join(sorted(allowed_io))}",
            )

    @property
    def is_integer(self) -> bool:
        return self.activations in ("int8", "int16")

    def with_io(self, io_dtype: str | None) -> Recipe:
        return self if io_dtype is None else replace(self, io_dtype=io_dtype)

    def with_float_layers(self, layers: Iterable[str]) -> Recipe:
        return replace(self, float_layers=tuple(sorted(set(layers))))

    @property
    def label(self) -> str:
        """The name, with the float layer count of a mixed-precision variant."""
        n = len(self.float_layers)
        return self.name + (f" + {n} float layer{'s' if n > 1 else ''}" if n else "")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["supported_ops"] = list(self.supported_ops)
        d["supported_types"] = list(self.supported_types)
        d["float_layers"] = list(self.float_layers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        known = set(cls.__dataclass_fields__)
        extra = set(d) - known
        if extra:
            raise UsageError(f"recipe has unknown field(s) {sorted(extra)}")
        return cls(**d)


PRESETS: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("float32", "float32", "float32", description="float conversion, no quantization"),
        Recipe(
            "dynamic-int8",
            "int8",
            "float32",
            optimize=True,
            description="dynamic range: int8 weights, float activations (no data needed)",
        ),
        Recipe(
            "int8-float-fallback",
            "int8",
            "int8",
            optimize=True,
            needs_data=True,
            float_fallback=True,
            description="full integer with float fallback for ops lacking int8 kernels; float IO",
        ),
        Recipe(
            "int8-only",
            "int8",
            "int8",
            io_dtype="int8",
            optimize=True,
            needs_data=True,
            supported_ops=(OPS_INT8,),
            description="integer only: every op int8, int8/uint8 IO",
        ),
        Recipe(
            "float16",
            "float16",
            "float32",
            optimize=True,
            supported_types=("float16",),
            description="float16 weights; CPU kernels dequantize to float32",
        ),
        Recipe(
            "int16x8",
            "int8",
            "int16",
            optimize=True,
            needs_data=True,
            supported_ops=(OPS_16X8,),
            description="int16 activations, int8 weights, every op 16x8",
        ),
        Recipe(
            "int16x8-float-fallback",
            "int8",
            "int16",
            optimize=True,
            needs_data=True,
            float_fallback=True,
            supported_ops=(OPS_16X8, OPS_BUILTINS),
            description="int16 activations, int8 weights where a 16x8 kernel exists, float elsewhere",
        ),
    )
}


def preset(name: str, io_dtype: str | None = None) -> Recipe:
    """The named preset, with its IO dtype changed when asked."""
    try:
        base = PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown recipe {name!r}", hint=f"choose one of: {', '.join(PRESETS)}") from None
    return base.with_io(io_dtype)
