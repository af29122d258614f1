"""What LiteRT's GPU delegate runs, as data: ops, dtypes, and per-op constraints.

Source: tensorflow/lite/tools/versioning/gpu_compatibility.cc (the checks the GPU delegate's
model builder applies) and the TFLite GPU delegate guide. The delegate computes in float16
(or float32 when forced); ops it cannot take fall back to the CPU kernels, which costs a
GPU<->CPU synchronisation per partition. Each constraint returns (ok, reason); its docstring's
first paragraph is the rule printed by ``hwquant targets gpu --ops``.
"""
from __future__ import annotations

from hwquant import OpSupport, Op

FLOAT = frozenset({"float32", "float16"})
# Quantized ops are accepted: the delegate dequantizes int8/uint8 tensors and computes in float.
# int16 (16x8) graphs have no GPU path at all.
QUANT = frozenset({"int8", "uint8"})

# Ops the GPU delegate's model builder accepts (gpu_compatibility.cc switch), by family.
ELEMENTWISE_UNARY = frozenset("""
ABS CEIL COS ELU EXP FLOOR GELU LOG LOGISTIC NEG RSQRT SIGN SIN SQRT SQUARE TANH
""".split())
ELEMENTWISE_BINARY = frozenset("""
ATAN2 DIV EQUAL FLOOR_DIV FLOOR_MOD GREATER GREATER_EQUAL LOGICAL_AND LESS LESS_EQUAL MAXIMUM MINIMUM
NOT_EQUAL POW SQUARED_DIFFERENCE SUB
""".split())
REDUCE = frozenset("MEAN REDUCE_MAX REDUCE_MIN REDUCE_PROD SUM".split())
OTHER = frozenset("""
ADD ADD_N AVERAGE_POOL_2D BATCH_MATMUL CAST CONCATENATION CONV_2D CUMSUM DENSIFY DEPTHWISE_CONV_2D
DEPTH_TO_SPACE DEQUANTIZE DYNAMIC_UPDATE_SLICE EMBEDDING_LOOKUP FULLY_CONNECTED GATHER HARD_SWISH LSTM
MAX_POOL_2D MUL PACK ONE_HOT QUANTIZE RELU RELU6 RELU_N1_TO_1 LEAKY_RELU PRELU RESHAPE SELECT SELECT_V2
SLICE SOFTMAX SPACE_TO_DEPTH SPLIT SPLIT_V STRIDED_SLICE TILE TRANSPOSE TRANSPOSE_CONV RESIZE_BILINEAR
RESIZE_NEAREST_NEIGHBOR PAD PADV2 MIRROR_PAD STABLEHLO_CLAMP
""".split())
CUSTOM_OPS = frozenset({"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler"})
# Reshuffling ops the guide names as expensive on GPU (supported, but worth a note).
EXPENSIVE = frozenset({"SPACE_TO_DEPTH", "DEPTH_TO_SPACE", "TRANSPOSE", "CONCATENATION"})

_INDEX = frozenset({"int32"})  # index/shape tensors some ops take as their first runtime input


def _dtypes(name: str) -> frozenset[str]:
    """Compute dtypes per op: float everywhere, int8/uint8 where the delegate dequantizes."""
    if name == "CAST":
        return FLOAT | {"int32", "bool"}
    if name in ("EMBEDDING_LOOKUP", "ONE_HOT", "PACK"):
        return FLOAT | QUANT | _INDEX
    if name in ("SELECT", "SELECT_V2"):
        return FLOAT | {"bool"}
    return FLOAT | QUANT


OPS: dict[str, frozenset[str]] = {n: _dtypes(n) for n in ELEMENTWISE_UNARY | ELEMENTWISE_BINARY | REDUCE | OTHER}
OPS.update({n: FLOAT for n in CUSTOM_OPS})


def _runtime_inputs(op: Op) -> list:
    return [t for t in op.inputs if not t.is_constant]


# -- generic -------------------------------------------------------------------------------------
def max_rank_4(op: Op) -> tuple[bool, str]:
    """Runtime tensors have at most 4 dimensions (the delegate lays tensors out as BHWC).

    Higher-rank activations (e.g. 5-D reshapes of attention blocks) fall back to the CPU.
    """
    for t in [*_runtime_inputs(op), *op.outputs]:
        if len(t.shape) > 4:
            return False, f"{op.name}: tensor {t.name!r} has {len(t.shape)} dimensions (GPU takes at most 4)"
    return True, ""


def fused_activation_supported(op: Op) -> tuple[bool, str]:
    """A fused activation is NONE, RELU, RELU_N1_TO_1, RELU6, TANH or SIGMOID (not SIGN_BIT)."""
    act = op.fused_activation
    if op.options is not None and act.upper() in ("SIGN_BIT",):
        return False, f"{op.name}: fused activation {act} is not supported on GPU"
    return True, ""


# -- per op ---------------------------------------------------------------------------------------
def one_runtime_input(op: Op) -> tuple[bool, str]:
    """Exactly one non-constant input (shape, axes, multiples and permutations must be constants)."""
    n = len(_runtime_inputs(op))
    if n != 1:
        return False, f"{op.name}: expected 1 runtime input tensor, the node has {n}"
    return True, ""


def one_or_two_operands(op: Op) -> tuple[bool, str]:
    """Elementwise binary ops take two runtime tensors, or one runtime tensor and one constant."""
    if len(op.inputs) != 2 or not _runtime_inputs(op):
        return False, f"{op.name}: the GPU handles 1 or 2 operands with at least one runtime tensor"
    return True, ""


def depthwise_multiplier(op: Op) -> tuple[bool, str]:
    """DEPTHWISE_CONV_2D: depth_multiplier is 1, or the input has a single channel."""
    mult = op.option("depthMultiplier", 1) or 1
    cin = op.inputs[0].shape[-1] if op.inputs and op.inputs[0].shape else 1
    if mult != 1 and cin != 1:
        return False, f"DEPTHWISE_CONV_2D: depth_multiplier {mult} with {cin} input channels is not supported"
    return True, ""


def softmax_beta_one(op: Op) -> tuple[bool, str]:
    """SOFTMAX: beta is 1."""
    beta = op.option("beta", 1.0)
    return (True, "") if beta == 1.0 else (False, f"SOFTMAX: beta={beta} (the GPU supports beta=1 only)")


def slice_rank_3_or_4(op: Op) -> tuple[bool, str]:
    """SLICE / STRIDED_SLICE: the input has 3 or 4 dimensions."""
    rank = len(op.inputs[0].shape) if op.inputs else 0
    if rank not in (3, 4):
        return False, f"{op.name}: input has {rank} dimensions (the GPU slices 3-D or 4-D tensors only)"
    return True, ""


def strided_slice_masks(op: Op) -> tuple[bool, str]:
    """STRIDED_SLICE: no ellipsis_mask, new_axis_mask or shrink_axis_mask."""
    bad = [m for m in ("ellipsisMask", "newAxisMask", "shrinkAxisMask") if op.option(m, 0)]
    if bad:
        return False, f"STRIDED_SLICE: {', '.join(bad)} set (not supported on GPU)"
    return True, ""


def constant_int32_axes(op: Op) -> tuple[bool, str]:
    """Reductions (MEAN, SUM, REDUCE_*): the axes are a constant int32 tensor."""
    if len(op.inputs) < 2:
        return False, f"{op.name}: no axes tensor"
    axes = op.inputs[1]
    if not axes.is_constant:
        return False, f"{op.name}: axes are computed at runtime (the GPU needs constant axes)"
    if axes.dtype != "int32":
        return False, f"{op.name}: axes are {axes.dtype} (the GPU takes int32)"
    return True, ""


def fully_connected_layout(op: Op) -> tuple[bool, str]:
    """FULLY_CONNECTED: default weights format, a runtime (not constant) input, keep_num_dims only
    when input and output ranks agree."""
    if op.option("weightsFormat", 0):
        return False, "FULLY_CONNECTED: shuffled weights format is not supported on GPU"
    if op.inputs and op.inputs[0].is_constant:
        return False, "FULLY_CONNECTED: constant input is not supported on GPU"
    if op.option("keepNumDims", False) and op.inputs and len(op.inputs[0].shape) != len(op.outputs[0].shape):
        return False, "FULLY_CONNECTED: keep_num_dims with differing input/output ranks"
    return True, ""


def pad_shape(op: Op) -> tuple[bool, str]:
    """PAD / PADV2 / MIRROR_PAD: paddings are 3x2 or 4x2; MIRROR_PAD uses REFLECT mode."""
    if op.name == "MIRROR_PAD" and op.option("mode", 0) != 0:
        return False, "MIRROR_PAD: only REFLECT padding is supported on GPU"
    if len(op.inputs) < 2 or tuple(op.inputs[1].shape) not in ((3, 2), (4, 2)):
        got = list(op.inputs[1].shape) if len(op.inputs) > 1 else "none"
        return False, f"{op.name}: paddings shape {got} (the GPU takes 4x2 or 3x2)"
    return True, ""


def add_n_two_inputs(op: Op) -> tuple[bool, str]:
    """ADD_N: exactly two inputs."""
    return (True, "") if len(op.inputs) == 2 else (False, f"ADD_N: {len(op.inputs)} inputs (the GPU takes 2)")


def cast_cases(op: Op) -> tuple[bool, str]:
    """CAST: bool->float, float->bool, or between float32 and int32."""
    a, b = op.inputs[0].dtype, op.outputs[0].dtype
    ok = (a == "bool" and b in FLOAT) or (a in FLOAT and b == "bool") or \
         (a in ("float32", "int32") and b in ("float32", "int32"))
    return (True, "") if ok else (False, f"CAST {a} -> {b} is not supported on GPU")


def gather_indices(op: Op) -> tuple[bool, str]:
    """GATHER: float params (not int32), 1-D int32 indices."""
    if op.inputs[0].dtype == "int32":
        return False, "GATHER: int32 params are not supported on GPU"
    idx = op.inputs[1] if len(op.inputs) > 1 else None
    if idx is None or len(idx.shape) != 1 or idx.dtype != "int32":
        return False, "GATHER: indices must be a 1-D int32 tensor"
    return True, ""


def dequantize_not_int16(op: Op) -> tuple[bool, str]:
    """DEQUANTIZE: from int8/uint8/float16, not int16."""
    if op.inputs and op.inputs[0].dtype == "int16":
        return False, "DEQUANTIZE from int16 is not supported on GPU"
    return True, ""


def resize_corners(op: Op) -> tuple[bool, str]:
    """RESIZE_BILINEAR: not both align_corners and half_pixel_centers."""
    if op.option("alignCorners", False) and op.option("halfPixelCenters", False):
        return False, "RESIZE_BILINEAR: align_corners with half_pixel_centers is not supported"
    return True, ""


def block_size_above_one(op: Op) -> tuple[bool, str]:
    """DEPTH_TO_SPACE / SPACE_TO_DEPTH: block_size > 1."""
    bs = op.option("blockSize", 2)
    return (True, "") if bs > 1 else (False, f"{op.name}: block_size {bs} (must be > 1)")


def mul_not_outer_product(op: Op) -> tuple[bool, str]:
    """MUL: with equal ranks, one operand is at least as large as the other in every dimension."""
    if len(op.inputs) != 2:
        return False, "MUL needs two inputs"
    a, b = op.inputs[0].shape, op.inputs[1].shape
    if len(a) == len(b) and any(x < y for x, y in zip(a, b)) and any(y < x for x, y in zip(a, b)):
        return False, f"MUL: {list(a)} x {list(b)} broadcasts both ways (an outer product; not on GPU)"
    return True, ""


SPECIFIC = {
    "DEPTHWISE_CONV_2D": [depthwise_multiplier],
    "SOFTMAX": [softmax_beta_one],
    "SLICE": [slice_rank_3_or_4],
    "STRIDED_SLICE": [strided_slice_masks, slice_rank_3_or_4],
    "FULLY_CONNECTED": [fully_connected_layout],
    "PAD": [pad_shape], "PADV2": [pad_shape], "MIRROR_PAD": [pad_shape],
    "ADD_N": [add_n_two_inputs],
    "CAST": [cast_cases, one_runtime_input],
    "GATHER": [gather_indices],
    "DEQUANTIZE": [dequantize_not_int16],
    "RESIZE_BILINEAR": [resize_corners, one_runtime_input],
    "RESIZE_NEAREST_NEIGHBOR": [one_runtime_input],
    "DEPTH_TO_SPACE": [block_size_above_one, one_runtime_input],
    "SPACE_TO_DEPTH": [block_size_above_one, one_runtime_input],
    "MUL": [mul_not_outer_product],
    "RESHAPE": [one_runtime_input], "TILE": [one_runtime_input], "TRANSPOSE": [one_runtime_input],
    "HARD_SWISH": [one_runtime_input], "QUANTIZE": [one_runtime_input],
    **{n: [one_runtime_input] for n in ELEMENTWISE_UNARY},
    **{n: [one_or_two_operands] for n in ELEMENTWISE_BINARY},
    **{n: [constant_int32_axes] for n in REDUCE},
}

SUPPORT = OpSupport(ops=OPS, generic=[max_rank_4, fused_activation_supported], specific=SPECIFIC)
