"""model_settings.h: what firmware needs to know about the model's inputs and outputs.

Shapes, dtypes, scale and zero point per input/output tensor, the tensor arena size, and inline
helpers that quantize a float input and dequantize an output with the tensor's parameters.
Rounding is half away from zero (C's ``roundf``), the same rule ``quantize`` below applies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwquant import IncompatibleError, Tensor, TfliteModel

from .carray import banner
from .codegen import c_comment

C_TYPES = {
    "int8": "int8_t",
    "int16": "int16_t",
    "uint8": "uint8_t",
    "int32": "int32_t",
    "float32": "float",
    "bool": "bool",
}


@dataclass(frozen=True)
class IoTensor:
    """One input or output of subgraph 0, as firmware sees it."""

    role: str  # "Input" | "Output"
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float  # 0.0 for a float tensor
    zero_point: int

    @property
    def prefix(self) -> str:
        return f"k{self.role}{self.index}"

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def ctype(self) -> str:
        return C_TYPES[self.dtype]

    @property
    def quantized(self) -> bool:
        return self.dtype != "float32" and self.scale > 0

    @classmethod
    def of(cls, role: str, index: int, t: Tensor) -> IoTensor:
        if t.dtype not in C_TYPES:
            raise IncompatibleError(
                f"{role.lower()} {t.name!r} has dtype {t.dtype}, which TFLM firmware cannot feed",
                hint="use int8 (or int16) model inputs and outputs",
            )
        if t.quant is not None and t.quant.per_axis:
            raise IncompatibleError(
                f"{role.lower()} {t.name!r} is quantized per axis",
                hint="model inputs and outputs need per-tensor quantization",
            )
        scale = float(t.quant.scale[0]) if t.quant is not None else 0.0
        zp = int(t.quant.zero_point[0]) if t.quant is not None else 0
        return cls(role, index, t.name, tuple(int(d) for d in t.shape), t.dtype, scale, zp)


def io_tensors(model: TfliteModel) -> tuple[list[IoTensor], list[IoTensor]]:
    ins, outs = model.io(0)
    return [IoTensor.of("Input", i, t) for i, t in enumerate(ins)], [
        IoTensor.of("Output", i, t) for i, t in enumerate(outs)
    ]


def quantize(values: np.ndarray, t: IoTensor) -> np.ndarray:
    """Float values to the tensor's dtype, exactly as the generated C helper does it."""
    v = np.asarray(values, np.float32)
    if not t.quantized:
        return v.astype(t.dtype)
    x = v / np.float32(t.scale)  # float32 division, like the C helper
    a = np.abs(x)
    r = np.floor(a)
    r = r + (a - r >= 0.5)  # roundf: half away from zero
    q = np.sign(x) * r + t.zero_point
    info = np.iinfo(t.dtype)
    out: np.ndarray = np.clip(q, info.min, info.max).astype(t.dtype)
    return out


def dequantize(values: np.ndarray, t: IoTensor) -> np.ndarray:
    v = np.asarray(values)
    if not t.quantized:
        return v.astype(np.float32)
    return ((v.astype(np.int32) - t.zero_point) * np.float32(t.scale)).astype(np.float32)


def _flt(x: float) -> str:
    return f"{np.float32(x):.9g}f" if np.isfinite(x) else "0.0f"


def _tensor_block(t: IoTensor) -> str:
    p, fn = t.prefix, f"{t.role}{t.index}"
    dims = ", ".join(str(d) for d in t.shape) or "1"
    lines = [
        f'// {t.role.lower()} {t.index}: "{c_comment(t.name)}", {t.dtype} {list(t.shape)}',
        f"typedef {t.ctype} {t.role.lower()}{t.index}_t;",
        f"constexpr int {p}Rank = {len(t.shape)};",
        f"constexpr int {p}Dims[] = {{{dims}}};",
        f"constexpr int {p}Size = {t.size};  // elements",
        f"constexpr float {p}Scale = {_flt(t.scale)};",
        f"constexpr int {p}ZeroPoint = {t.zero_point};",
    ]
    if t.quantized:
        lo, hi = np.iinfo(t.dtype).min, np.iinfo(t.dtype).max
        lines += [
            f"inline {t.ctype} Quantize{fn}(float x) {{",
            f"  int32_t q = static_cast<int32_t>(roundf(x / {p}Scale)) + {p}ZeroPoint;",
            f"  return static_cast<{t.ctype}>(q < {lo} ? {lo} : (q > {hi} ? {hi} : q));",
            "}",
            f"inline float Dequantize{fn}({t.ctype} q) {{",
            f"  return (static_cast<int32_t>(q) - {p}ZeroPoint) * {p}Scale;",
            "}",
        ]
    else:
        lines += [
            f"inline {t.ctype} Quantize{fn}(float x) {{ return static_cast<{t.ctype}>(x); }}",
            f"inline float Dequantize{fn}({t.ctype} q) {{ return static_cast<float>(q); }}",
        ]
    return "\n".join(lines) + "\n"


MEASURED_ARENA_NOTE = """// Tensor arena: the smallest size that allocated and ran the model in the tflite-micro Python
// interpreter (kTensorArenaExact, measured on a 64-bit host, which needs at least as much as a
// 32-bit MCU), plus the --mcu-arena-margin."""


def render(
    model: TfliteModel,
    model_sha: str,
    source_name: str,
    arena_exact: int,
    arena_size: int,
    arena_note: str = MEASURED_ARENA_NOTE,
    target: str = "mcu",
) -> str:
    """The header for ``model`` (the mcu int8 model, or the ethos-u Vela model: same inputs and outputs);
    ``arena_note`` says where the arena figure comes from."""
    ins, outs = io_tensors(model)
    return render_io(ins, outs, model_sha, source_name, arena_exact, arena_size, arena_note, target)


def render_io(
    ins: list[IoTensor],
    outs: list[IoTensor],
    model_sha: str,
    source_name: str,
    arena_exact: int,
    arena_size: int,
    arena_note: str = MEASURED_ARENA_NOTE,
    target: str = "mcu",
) -> str:
    """``render`` for given input and output tensors."""
    blocks = "\n".join(_tensor_block(t) for t in [*ins, *outs])
    return (
        banner("Model input/output settings and quantization helpers.", model_sha, source_name, target)
        + f"""
#ifndef HWQUANT_MODEL_SETTINGS_H_
#define HWQUANT_MODEL_SETTINGS_H_

#include <math.h>
#include <stdint.h>

constexpr int kNumInputs = {len(ins)};
constexpr int kNumOutputs = {len(outs)};

{arena_note}
constexpr int kTensorArenaExact = {arena_exact};
constexpr int kTensorArenaSize = {arena_size};

{blocks}
#endif  // HWQUANT_MODEL_SETTINGS_H_
"""
    )
