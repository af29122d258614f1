"""What the Edge TPU runs, as data: Coral's supported-operations table and its limits.

Source: Coral, "TensorFlow models on the Edge TPU" (coral.ai/docs/edgetpu/models-intro),
sections "Model requirements" and "Supported operations". That page's current table (with its
runtime-version column) could not be retrieved where this table was last re-checked, so each row
carries a citation (``CITATIONS``) naming what it was checked against instead: Coral's 2019 table
(before runtime versions), Axis's ARTPEC-7 copy of Coral's current limitations, and the real
compiler logs in ../shared/fixtures/edgetpu; rows nothing here confirms say so. Each constraint below is a function
``(op, consts) -> (ok, reason)`` whose docstring states the rule; ``consts`` maps an input
position to the values of a small constant input tensor (axes, strides, paddings) when the
preflight could read them. Each constraint also names the status string the compiler prints
when it refuses an op for that reason (``STATUS_OF``), so a preflight table reads like
``edgetpu_compiler -s``.

Rules Coral states but a preflight cannot decide from the model alone are kept as notes
(``UNPREDICTABLE``): the compiler may still decline such ops ("Operation is otherwise
supported, but not mapped due to some unspecified limitation"); the build compares the
compiler's own table with the prediction and reports every disagreement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hwquant import Op, OpSupport

# -- status strings the compiler prints in its operation table (seen in published logs) ----------
MAPPED = "Mapped to Edge TPU"
NOT_SUPPORTED = "Operation not supported"
VERSION_NOT_SUPPORTED = "Operation version not supported"
UNSUPPORTED_DTYPE = "Operation is working on an unsupported data type"
UNSUPPORTED_RANK = "Tensor has unsupported rank (up to 3 innermost dimensions mapped)"
STRIDED_SLICE_STRIDES = "Only Strided-Slice with unitary strides supported"
UNSPECIFIED = "Operation is otherwise supported, but not mapped due to some unspecified limitation"
AFTER_PARTITION = "More than one subgraph is not supported"
# hwquant's own wording where the compiler refuses the whole model instead of one op.
MODEL_REJECTED = "Model rejected by the compiler"

# The runtime version the compiler targets unless -m/--min_runtime_version says otherwise
# (edgetpu_compiler 15.0 and 16.0 emit models for runtime 14 by default).
DEFAULT_RUNTIME = 14

# Operation -> lowest Edge TPU runtime that maps it ("All" in Coral's table is 10 here).
# LSTM is unidirectional only: BIDIRECTIONAL_SEQUENCE_LSTM is absent, so it is not supported.
RUNTIME_OF: dict[str, int] = {
    "ADD": 10,
    "AVERAGE_POOL_2D": 10,
    "CONCATENATION": 10,
    "CONV_2D": 10,
    "DEPTHWISE_CONV_2D": 10,
    "EXPAND_DIMS": 13,
    "FULLY_CONNECTED": 10,
    "L2_NORMALIZATION": 10,
    "LOGISTIC": 10,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": 14,
    "MAXIMUM": 10,
    "MAX_POOL_2D": 10,
    "MEAN": 10,
    "MINIMUM": 10,
    "MUL": 10,
    "PACK": 13,
    "PAD": 10,
    "PRELU": 13,
    "QUANTIZE": 13,
    "REDUCE_MAX": 14,
    "REDUCE_MIN": 14,
    "RELU": 10,
    "RELU6": 10,
    "RELU_N1_TO_1": 10,
    "RESHAPE": 10,
    "RESIZE_BILINEAR": 10,
    "RESIZE_NEAREST_NEIGHBOR": 10,
    "RSQRT": 14,
    "SLICE": 10,
    "SOFTMAX": 10,
    "SPACE_TO_DEPTH": 10,
    "SPLIT": 10,
    "SQUARED_DIFFERENCE": 14,
    "SQUEEZE": 10,
    "STRIDED_SLICE": 10,
    "SUB": 10,
    "SUM": 13,
    "TANH": 10,
    "TRANSPOSE": 14,
    "TRANSPOSE_CONV": 13,
}

# Builtin op versions the compiler's bundled TFLite cannot parse: the whole compile fails with
# "Didn't find op for builtin opcode ..." (edgetpu_compiler 16.0, fixture 16: TRANSPOSE_CONV v4).
UNPARSEABLE_FROM_VERSION: dict[str, int] = {"TRANSPOSE_CONV": 4}

QUANTIZED = ("int8", "uint8")
_INDEX = ("int32", "int64")  # shape / axis / bias tensors may be int32 (int64 for some axes)
SOFTMAX_MAX_ELEMENTS = 16000

# (ops it concerns, or () for every model) -> a limit only the compiler can decide.
UNPREDICTABLE: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"),
        "resize ops: depending on input/output size the compiler may refuse them to avoid loss of precision",
    ),
    (("RESHAPE",), "RESHAPE: certain reshapes might not be mapped for large tensor sizes"),
    (
        (),
        (
            "parameters beyond the on-chip cache (about 8 MiB) are streamed from host memory; only the "
            "compiler knows the split, and it may decline an op for an 'unspecified limitation'"
        ),
    ),
)


def _non_unit_outer(shape: tuple[int, ...]) -> bool:
    return len(shape) > 3 and any(d != 1 for d in shape[:-3])


def _reduced_axes(op: Op, consts: dict[int, np.ndarray] | None, axis_input: int = 1) -> set[int] | None:
    """Axes a reduction works on, from its constant axis tensor (negative axes normalised)."""
    if not consts or axis_input not in consts or not op.inputs:
        return None
    rank = len(op.inputs[0].shape)
    return {int(a) % rank for a in np.ravel(consts[axis_input])} if rank else set()


# -- generic constraints (every op) -----------------------------------------------------------


def quantized_tensors(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """Every activation tensor is 8-bit quantized (int8 or uint8).

    The Edge TPU computes in 8-bit fixed point only; constant int32 biases and shape/axis
    tensors are allowed. A float or int16 tensor keeps the op on the CPU.
    """
    bad = [
        t for t in [*op.inputs, *op.outputs] if t.dtype not in QUANTIZED and not (t.is_constant and t.dtype in _INDEX)
    ]
    if bad:
        return False, "tensor(s) not 8-bit quantized: " + ", ".join(f"{t.name or t.index} ({t.dtype})" for t in bad[:3])
    return True, ""


def static_shapes(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """Tensor sizes are constant at compile time (no dynamic dimensions, so batch size 1).

    The compiler refuses the whole model otherwise: "Attempting to use a delegate that only
    supports static-sized tensors with a graph that has dynamic-sized tensors."
    """
    dyn = [t for t in [*op.inputs, *op.outputs] if t.is_dynamic]
    if dyn:
        t = dyn[0]
        return False, f"tensor {t.name or t.index} has a dynamic dimension (shape signature {list(t.shape_signature)})"
    return True, ""


def constant_parameters(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """Model parameters (weights and biases) are constant at compile time.

    Applies to the filter and bias inputs of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and
    TRANSPOSE_CONV.
    """
    params = {"CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2), "TRANSPOSE_CONV": (1, 3)}
    for i in params.get(op.name, ()):
        if i < len(op.inputs) and not op.inputs[i].is_constant:
            return False, f"{op.name} parameter input {i} ({op.inputs[i].name}) is not a constant"
    return True, ""


def three_innermost_dims(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """Tensors have at most 3 dimensions larger than 1, and those are the 3 innermost.

    A tensor with more than 3 dimensions maps only when every dimension outside the innermost
    3 has size 1 (so a 4-D NHWC tensor needs batch 1).
    """
    for t in [*op.inputs, *op.outputs]:
        if not t.is_constant and _non_unit_outer(t.shape):
            return False, (
                f"tensor {t.name or t.index} has shape {list(t.shape)}: only the 3 innermost dims may exceed 1"
            )
    return True, ""


# -- per-op constraints ------------------------------------------------------------------------


def same_dilation(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """Convolutions use the same dilation in x and y."""
    h, w = op.option("dilationHFactor", 1), op.option("dilationWFactor", 1)
    return (h == w), f"dilation differs in x and y ({w} vs {h})"


def no_fused_activation(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """No fused activation function (pooling and concatenation)."""
    act = op.fused_activation
    return act in ("NONE", "0"), f"fused activation {act}"


def concat_constant_inputs(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """If any input is a compile-time constant, there are exactly 2 inputs and the constant is all zeros.

    That is, a constant input is allowed only as zero padding.
    """
    const = [i for i, t in enumerate(op.inputs) if t.is_constant]
    if not const:
        return True, ""
    if len(op.inputs) != 2:
        return False, f"{len(op.inputs)} inputs with a constant one (only 2 allowed)"
    vals = (consts or {}).get(const[0])
    q = op.inputs[const[0]].quant
    zero = int(q.zero_point.ravel()[0]) if q is not None and q.zero_point.size else 0
    if vals is not None and np.any(np.asarray(vals, np.int64) != zero):
        return False, "constant input is not all zeros"
    return True, ""


def fc_default_format(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """Fully-connected weights use the default format, and the output is one-dimensional.

    One-dimensional: at most one output dimension is larger than 1.
    """
    if op.option("weightsFormat", 0) != 0:
        return False, "weights are not in the default format"
    out = op.outputs[0].shape if op.outputs else ()
    if sum(1 for d in out if d != 1) > 1:
        return False, f"output shape {list(out)} is not one-dimensional"
    return True, ""


def no_batch_reduction(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """No reduction in (or operation on) the batch dimension (axis 0 of a 4-D tensor)."""
    axes = _reduced_axes(op, consts)
    if axes is not None and len(op.inputs[0].shape) == 4 and 0 in axes:
        return False, "reduces the batch dimension"
    return True, ""


def mean_z_multiple_of_4(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """If MEAN reduces the z (innermost, channel) dimension, its size is a multiple of 4."""
    axes = _reduced_axes(op, consts)
    shape = op.inputs[0].shape if op.inputs else ()
    if axes and shape and (len(shape) - 1) in axes and shape[-1] % 4:
        return False, f"z-reduction over {shape[-1]} channels (not a multiple of 4)"
    return True, ""


def no_batch_padding(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """No padding in the batch dimension."""
    pads = (consts or {}).get(1)
    if pads is not None and np.asarray(pads).ndim == 2 and len(op.inputs[0].shape) == 4 and np.any(pads[0] != 0):
        return False, "pads the batch dimension"
    return True, ""


def no_batch_pack(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """No packing in the batch dimension (axis 0)."""
    return op.option("axis", 0) != 0, "packs along axis 0 (batch)"


def no_batch_split(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """No splitting in the batch dimension (SPLIT's constant axis is not 0 of a 4-D tensor)."""
    axis = (consts or {}).get(0)
    if axis is not None and len(op.inputs) > 1 and len(op.inputs[1].shape) == 4 and int(np.ravel(axis)[0]) % 4 == 0:
        return False, "splits the batch dimension"
    return True, ""


def softmax_1d(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """SOFTMAX input is a 1-D tensor (one dimension larger than 1) with at most 16,000 elements."""
    shape = op.inputs[0].shape if op.inputs else ()
    n = int(np.prod(shape)) if shape else 1
    if sum(1 for d in shape if d != 1) > 1:
        return False, f"input shape {list(shape)} is not 1-D"
    if n > SOFTMAX_MAX_ELEMENTS:
        return False, f"{n} elements (max {SOFTMAX_MAX_ELEMENTS})"
    return True, ""


def unit_strides(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """STRIDED_SLICE has all strides 1 (effectively a SLICE), ellipsis_mask 0 and new_axis_mask 0."""
    if op.option("ellipsisMask", 0) or op.option("newAxisMask", 0):
        return False, "ellipsis_mask or new_axis_mask is set"
    strides = (consts or {}).get(3)
    if strides is not None and np.any(np.asarray(strides) != 1):
        return False, f"strides {np.asarray(strides).tolist()} are not all 1"
    return True, ""


def squeeze_leading_ones(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """SQUEEZE removes only leading 1s (no relayout): [1, 5, 10] -> [5, 10] maps, [5, 1, 10] does not."""
    shape = list(op.inputs[0].shape) if op.inputs else []
    dims = op.option("squeezeDims", None)
    axes = (
        [int(a) % len(shape) for a in dims]
        if dims is not None and len(dims) and shape
        else [i for i, d in enumerate(shape) if d == 1]
    )
    first_big = next((i for i, d in enumerate(shape) if d != 1), len(shape))
    bad = [a for a in axes if a > first_big]
    return (not bad), f"squeezes axis {bad[0] if bad else ''} after a dimension larger than 1 (needs a relayout)"


def three_d_resize(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """Resize input and output are 3-dimensional tensors (batch 1)."""
    return three_innermost_dims(op)


def prelu_alpha(op: Op, consts: dict[int, np.ndarray] | None = None) -> tuple[bool, str]:
    """PRELU alpha is constant and 1-dimensional (only the innermost dimension may exceed 1).

    With Keras PReLU on 4-D input use shared_axes=[1, 2] so each channel has one parameter.
    """
    if len(op.inputs) > 1:
        a = op.inputs[1]
        if not a.is_constant:
            return False, "alpha is not a constant"
        if sum(1 for d in a.shape[:-1] if d != 1):
            return False, f"alpha shape {list(a.shape)} is not 1-D"
    return True, ""


GENERIC = [quantized_tensors, static_shapes, constant_parameters, three_innermost_dims]
SPECIFIC: dict[str, list[Callable[..., tuple[bool, str]]]] = {
    "AVERAGE_POOL_2D": [no_fused_activation],
    "MAX_POOL_2D": [no_fused_activation],
    "CONCATENATION": [no_fused_activation, concat_constant_inputs],
    "CONV_2D": [same_dilation],
    "DEPTHWISE_CONV_2D": [same_dilation],
    "FULLY_CONNECTED": [fc_default_format],
    "MEAN": [no_batch_reduction, mean_z_multiple_of_4],
    "SUM": [no_batch_reduction],
    "REDUCE_MAX": [no_batch_reduction],
    "REDUCE_MIN": [no_batch_reduction],
    "PAD": [no_batch_padding],
    "PACK": [no_batch_pack],
    "SPLIT": [no_batch_split],
    "SOFTMAX": [softmax_1d],
    "STRIDED_SLICE": [unit_strides],
    "RESIZE_BILINEAR": [three_d_resize],
    "RESIZE_NEAREST_NEIGHBOR": [three_d_resize],
    "PRELU": [prelu_alpha],
    "SQUEEZE": [squeeze_leading_ones],
}

# -- where each row was checked -------------------------------------------------------------------
SOURCES = {
    "coral-2019": "Coral's supported-operations table as published in 2019, before runtime versions "
    "(copy: github.com/dgist-datalab/Datalab_Intern, Edge_TPU/convert_model_for_Edge_TPU.md)",
    "axis-artpec7": "Axis, ARTPEC-7 (an Edge TPU) supported ops: Coral's current limitations without the "
    "runtime column (developer.axis.com/computer-vision/on-device/system-on-chip/artpec-7/"
    "supported-ops/); the copy read here ends at ResizeBilinear",
    "logs": "real edgetpu_compiler logs in ../shared/fixtures/edgetpu (file prefix: NN), 'Mapped to Edge TPU'",
}
_C19 = "coral-2019"
_AX = "axis-artpec7"
# op -> (sources listing it, fixture logs mapping it, runtime-version verdict)
#   runtime "consistent": the runtime in RUNTIME_OF agrees with the evidence (listed in 2019 = from the
#   first runtime; mapped by compiler 16.0, which targets runtime 14 by default); "unconfirmed": no
#   source here states it.
CITATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "ADD": ((_C19, _AX), ("05", "10", "22"), "consistent"),
    "AVERAGE_POOL_2D": ((_C19, _AX), (), "consistent"),
    "CONCATENATION": ((_C19, _AX), ("05", "10", "22"), "consistent"),
    "CONV_2D": ((_C19, _AX), ("03", "05", "07", "22"), "consistent"),
    "DEPTHWISE_CONV_2D": ((_C19, _AX), (), "consistent"),
    "EXPAND_DIMS": ((_AX,), (), "unconfirmed"),
    "FULLY_CONNECTED": ((_C19, _AX), ("03",), "consistent"),
    "L2_NORMALIZATION": ((_C19, _AX), (), "consistent"),
    "LOGISTIC": ((_C19, _AX), ("05", "22"), "consistent"),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": ((_AX,), (), "unconfirmed"),
    "MAXIMUM": ((_C19, _AX), (), "consistent"),
    "MAX_POOL_2D": ((_C19, _AX), ("03", "05", "22"), "consistent"),
    "MEAN": ((_C19, _AX), (), "consistent"),
    "MINIMUM": ((_C19, _AX), (), "consistent"),
    "MUL": ((_C19, _AX), ("05", "22"), "consistent"),
    "PACK": ((_AX,), (), "unconfirmed"),
    "PAD": ((_C19, _AX), ("05", "22"), "consistent"),
    "PRELU": ((_AX,), (), "unconfirmed"),
    "QUANTIZE": ((_AX,), ("03", "05", "07", "22"), "consistent"),
    "REDUCE_MAX": ((_AX,), (), "unconfirmed"),
    "REDUCE_MIN": ((_AX,), (), "unconfirmed"),
    "RELU": ((_C19, _AX), (), "consistent"),
    "RELU6": ((_C19, _AX), (), "consistent"),
    "RELU_N1_TO_1": ((_C19, _AX), (), "consistent"),
    "RESHAPE": ((_C19, _AX), ("03", "05", "22"), "consistent"),
    "RESIZE_BILINEAR": ((_C19, _AX), (), "consistent"),
    "RESIZE_NEAREST_NEIGHBOR": ((_C19,), ("05", "22"), "consistent"),
    "RSQRT": ((), (), "unconfirmed"),
    "SLICE": ((_C19,), (), "consistent"),
    "SOFTMAX": ((_C19,), ("03", "22"), "consistent"),
    "SPACE_TO_DEPTH": ((_C19,), (), "consistent"),
    "SPLIT": ((_C19,), (), "consistent"),
    "SQUARED_DIFFERENCE": ((), (), "unconfirmed"),
    "SQUEEZE": ((_C19,), (), "consistent"),
    "STRIDED_SLICE": ((_C19,), ("05", "22"), "consistent"),
    "SUB": ((_C19,), ("05", "22"), "consistent"),
    "SUM": ((), (), "unconfirmed"),
    "TANH": ((_C19,), (), "consistent"),
    "TRANSPOSE": ((), ("05", "22"), "consistent"),
    "TRANSPOSE_CONV": ((), (), "unconfirmed"),
}


def citation(op: str) -> str:
    """One line: what the row for ``op`` was checked against, and whether its runtime version was."""
    listed, logs, runtime = CITATIONS[op]
    parts = [*listed, *(f"log {n}" for n in logs)] or ["no source available here confirms this row"]
    return f"{', '.join(parts)}; runtime {RUNTIME_OF[op]}: {runtime}"


# Which compiler status a failed constraint produces; anything not listed reads UNSPECIFIED.
STATUS_OF: dict[Callable[..., tuple[bool, str]], str] = {
    quantized_tensors: UNSUPPORTED_DTYPE,
    three_innermost_dims: UNSUPPORTED_RANK,
    three_d_resize: UNSUPPORTED_RANK,
    unit_strides: STRIDED_SLICE_STRIDES,
    static_shapes: MODEL_REJECTED,
}

SUPPORT = OpSupport(
    ops={name: frozenset(QUANTIZED) for name in RUNTIME_OF},
    generic=GENERIC,
    specific=SPECIFIC,
)


def evaluate(op: Op, consts: dict[int, Any] | None = None, runtime: int = DEFAULT_RUNTIME) -> list[tuple[str, str]]:
    """Every reason the Edge TPU would not run ``op``, each as (compiler status, reason)."""
    if op.custom:
        return [(NOT_SUPPORTED, f"custom op {op.name!r} is not an Edge TPU operation")]
    out = []
    ok, why = quantized_tensors(op, consts)
    if not ok:  # the compiler names the data type first (e.g. DEQUANTIZE to float)
        out.append((UNSUPPORTED_DTYPE, why))
    if op.name not in RUNTIME_OF:
        return [*out, (NOT_SUPPORTED, f"{op.name} is not in the Edge TPU's supported operations")]
    if RUNTIME_OF[op.name] > runtime:
        out.append((NOT_SUPPORTED, f"{op.name} needs Edge TPU runtime {RUNTIME_OF[op.name]}+ (targeting {runtime})"))
    for c in [*GENERIC, *SPECIFIC.get(op.name, [])]:
        if c is quantized_tensors:
            continue
        ok, why = c(op, consts)
        if not ok:
            out.append((STATUS_OF.get(c, UNSPECIFIED), why))
    return out


def model_blockers(op: Op) -> list[str]:
    """Reasons the compiler refuses the whole model because of this op (not just maps it to CPU)."""
    out = []
    limit = UNPARSEABLE_FROM_VERSION.get(op.name)
    if limit is not None and op.version >= limit:
        out.append(
            f"{op.name} version {op.version}: edgetpu_compiler 16.0 cannot parse it "
            f"(\"Didn't find op for builtin opcode '{op.name}' version '{op.version}'\")"
        )
    ok, why = static_shapes(op)
    if not ok:
        out.append(why)
    return out
