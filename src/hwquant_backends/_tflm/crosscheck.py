"""Run the integer model in TFLM and in LiteRT on the same inputs; outputs agree within one step.

The gate compares TFLM with LiteRT's reference kernels (OpResolverType.BUILTIN_REF): both
implement the TFLite integer reference arithmetic, so more than one quantization step of
difference on any output is a real disagreement (a kernel bug, or a model TFLM interprets
differently) and fails the build. LiteRT's optimized builtin kernels and its default XNNPACK
path requantize with different rounding: a one-step difference inside the network grows through
later layers (on a MobileNetV2-0.35 with random weights: 0 steps against the reference kernels,
41 against the optimized ones, 53 against XNNPACK). The XNNPACK comparison is reported too, for
information, with the number of samples beyond the tolerance.

int16 outputs (the 16x8 recipe) are held to the same real-valued tolerance as an int8 output
of the same range: one 8-bit step, i.e. 256 int16 steps. A one-step rounding difference inside
the network (TFLM and LiteRT requantize 16x8 fully connected layers slightly differently) grows
through a following softmax to a few int16 steps, which is far below what int8 could resolve.

A model with float layers (mixed precision, --mcu-allow-float) is not bit-exact between runtimes:
TFLM's and LiteRT's float kernels may sum in another order, and a value one float ulp from a
requantization boundary then lands on the neighbouring int8 step, which the following integer
layers spread over a few output steps. Measured on the mixed-precision outlier classifier of
tests/helpers/models_search.py: 1 of 341 eval samples differed, by 2 steps of the int8 output. Such a model
is held to FLOAT_OPS_TOLERANCE_STEPS; a float output computed by DEQUANTIZE is measured in steps of
the int8 tensor it dequantizes (a 1e-5 relative step would call one int8 step a thousand).

Both interpreters run in the build's worker process (``hwquant.contain``): TFLM and LiteRT's
reference kernels abort on some models instead of failing cleanly (a softmax whose int8 input scale
is below 2**-26, see ``known_crashes``), and such a crash is exit 4 naming the interpreter, the step
and the op where it is known, never the end of hwquant.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from hwquant import TfliteModel, ToolchainError, contain
from hwquant import runtime as litert

from .arena import require_runtime
from .crashes import crash_about
from .settings import IoTensor, io_tensors, quantize

TOLERANCE_STEPS = 1  # of an 8-bit output; see tolerance()
FLOAT_OPS_TOLERANCE_STEPS = 4  # the same, for a model with float layers (see the module docstring)
_MOVERS = ("QUANTIZE", "DEQUANTIZE")


def tolerance(t: IoTensor, float_ops: bool = False) -> float:
    """Allowed difference, in steps of the output ``t``: one step at 8 bits over the same range."""
    bits = np.iinfo(t.dtype).bits if t.quantized else 8
    return float((FLOAT_OPS_TOLERANCE_STEPS if float_ops else TOLERANCE_STEPS) * 2 ** (bits - 8))


def has_float_ops(model: TfliteModel) -> bool:
    """Whether the model computes in float somewhere (not only converting its inputs and outputs)."""
    return any(op.dtype == "float32" and op.name not in _MOVERS for op in model.ops)


def dequantized_steps(model: TfliteModel) -> list[float | None]:
    """Per subgraph-0 output: the scale of the int8 tensor a DEQUANTIZE turns into it (else None)."""
    producer = {o.index: op for op in model.ops if op.subgraph == 0 for o in op.outputs}
    steps = []
    for t in model.io(0)[1]:
        op = producer.get(t.index)
        src = op.inputs[0] if op is not None and op.name == "DEQUANTIZE" and op.inputs else None
        steps.append(float(src.quant.scale[0]) if src is not None and src.quant is not None else None)
    return steps


def input_order(model: TfliteModel, key: str | None) -> list[str | None]:
    """For each subgraph-0 input position, the signature input name feeding it (None if unnamed)."""
    ins, _ = model.io(0)
    sigs = model.signatures
    sig = sigs.get(key) if key in sigs else (next(iter(sigs.values())) if sigs else None)
    if sig is None:
        return [t.name for t in ins]
    by_index = {t.index: name for name, t in sig["inputs"].items()}
    return [by_index.get(t.index) for t in ins]


def output_names(model: TfliteModel) -> list[str]:
    """A report name per subgraph-0 output: its signature name where there is one."""
    _, outs = model.io(0)
    sigs = model.signatures
    if not sigs:
        return [t.name for t in outs]
    by_index = {t.index: name for name, t in next(iter(sigs.values()))["outputs"].items()}
    return [by_index.get(t.index, t.name) for t in outs]


def sample_inputs(model: TfliteModel, sample: tuple[str, dict[str, np.ndarray]]) -> list[np.ndarray]:
    """The raw (quantized) input arrays, in subgraph-0 order, for one DataSet sample."""
    key, feeds = sample
    ins, _ = io_tensors(model)
    order = input_order(model, key)
    arrays = []
    for t, name in zip(ins, order):
        if name not in feeds:
            if len(feeds) == 1 and len(ins) == 1:
                name = next(iter(feeds))
            else:
                raise ToolchainError(f"sample has no input {name!r} (has {sorted(feeds)})")
        arrays.append(quantize(np.asarray(feeds[name]).reshape(t.shape), t))
    return arrays


class TflmRunner:
    """The TFLM Python interpreter for one model and arena, run in the build's worker process.

    Each ``run`` allocates a new interpreter there (no interpreter outlives its request)."""

    def __init__(self, model: bytes, arena: int, num_outputs: int):
        require_runtime()
        self.model, self.arena, self.num_outputs = model, arena, num_outputs

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return contain.call(
            _tflm_run,
            self.model,
            self.arena,
            self.num_outputs,
            inputs,
            stage="computing the model's outputs for the project",
            tool="the TFLM interpreter",
            about=lambda: crash_about(TfliteModel(self.model, "artifact")),
            capture=True,
        )


def _tflm_run(model: bytes, arena: int, num_outputs: int, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return _Tflm(model, arena, num_outputs).run(inputs)


class _Tflm:
    """The TFLM interpreter itself (in the worker)."""

    def __init__(self, model: bytes, arena: int, num_outputs: int):
        self.num_outputs = num_outputs
        runtime = require_runtime()
        contain.step("the TFLM interpreter", f"allocating the model in a {arena}-byte arena")
        try:
            self.it = runtime.Interpreter.from_bytes(model, arena_size=arena)
        except RuntimeError as exc:
            raise ToolchainError(f"TFLM could not allocate the model in {arena} bytes: {exc}") from exc

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        for i, x in enumerate(inputs):
            self.it.set_input(x, i)
        contain.step("the TFLM interpreter", "invoking the model")
        try:
            self.it.invoke()
        except RuntimeError as exc:
            raise ToolchainError(
                f"the TFLM interpreter failed to invoke the model: {exc}", hint="rerun with -v for TFLM's log"
            ) from exc
        return [np.array(self.it.get_output(i)) for i in range(self.num_outputs)]


class LiteRtRunner:
    """LiteRT's interpreter on subgraph 0, with raw (quantized) tensors in and out.

    ``reference`` runs LiteRT's reference kernels (no optimized kernels, no XNNPACK delegate).
    """

    def __init__(self, model: bytes, reference: bool):
        self.what = "LiteRT's reference kernels" if reference else "the LiteRT interpreter (XNNPACK)"
        contain.step(self.what, "allocating the model")
        self.it = litert.make_interpreter(model, source="mcu artifact", reference_kernels=reference)
        self.ins = self.it.get_input_details()
        self.outs = self.it.get_output_details()

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        for d, x in zip(self.ins, inputs):
            self.it.set_tensor(d["index"], x)
        contain.step(self.what, "invoking the model")
        self.it.invoke()
        return [self.it.get_tensor(d["index"]).copy() for d in self.outs]


def compare(model: TfliteModel, arena: int, samples: Iterable[tuple[str, dict[str, np.ndarray]]]) -> dict[str, Any]:
    """Per output: max difference in quantization steps, TFLM vs LiteRT reference kernels (the gate)
    and TFLM vs LiteRT's default XNNPACK path (reported). Runs in the build's worker process."""
    require_runtime()
    return contain.call(
        _compare_here,
        model.content,
        arena,
        list(samples),
        stage="cross-checking the model against LiteRT",
        tool="the TFLM interpreter or LiteRT",
        about=lambda: crash_about(model),
        capture=True,
    )


def _compare_here(content: bytes, arena: int, samples: Iterable[tuple[str, dict[str, np.ndarray]]]) -> dict[str, Any]:
    model = TfliteModel(content, "artifact")
    _, outs = io_tensors(model)
    names = output_names(model)
    tflm = _Tflm(model.content, arena, len(outs))
    ref, default = LiteRtRunner(model.content, True), LiteRtRunner(model.content, False)
    float_ops, deq = has_float_ops(model), dequantized_steps(model)
    worst = np.zeros(len(outs))
    worst_default = np.zeros(len(outs))
    beyond_default = np.zeros(len(outs), int)
    count = 0
    for sample in samples:
        x = sample_inputs(model, sample)
        got = tflm.run(x)
        for j, (a, b, c, t) in enumerate(zip(got, ref.run(x), default.run(x), outs)):
            worst[j] = max(worst[j], _steps(a, b, t, deq[j]))
            d = _steps(a, c, t, deq[j])
            worst_default[j] = max(worst_default[j], d)
            beyond_default[j] += d > tolerance(t, float_ops)
        count += 1
    per_output = {
        name: {
            "max_diff_steps": round(float(w), 6),
            "tolerance_steps": tolerance(t, float_ops),
            "agree": bool(w <= tolerance(t, float_ops)),
            "scale": t.scale or deq[j] or 0.0,
            "dtype": t.dtype,
            "vs_litert_xnnpack": {"max_diff_steps": round(float(wd), 6), "samples_beyond_tolerance": int(bd)},
        }
        for j, (name, w, wd, bd, t) in enumerate(zip(names, worst, worst_default, beyond_default, outs))
    }
    return {
        "runtimes": ["tflite-micro (Python interpreter)", "LiteRT reference kernels (BUILTIN_REF)"],
        "samples": count,
        "tolerance": (
            f"{FLOAT_OPS_TOLERANCE_STEPS} 8-bit quantization steps of each output's "
            "range: the model has float layers, which no two runtimes compute "
            "bit-exactly"
            if float_ops
            else "one 8-bit quantization step of each output's range"
        ),
        "outputs": per_output,
        "agree": all(o["agree"] for o in per_output.values()),
    }


def _steps(a: np.ndarray, b: np.ndarray, t: IoTensor, dequantized: float | None = None) -> float:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        a = a.reshape(b.shape)
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    if not diff.size:
        return 0.0
    if not t.quantized and dequantized:  # a DEQUANTIZE output: in steps of the int8 tensor it reads
        return float(diff.max() / dequantized)
    if not t.quantized:  # a float output: one "step" is 1e-5 relative to the value (at least 1e-5 absolute)
        return float(np.max(diff / (1e-5 * np.maximum(np.abs(b.astype(np.float64)), 1.0))))
    return float(diff.max())
