"""What LiteRT's GPU delegate runs, as data: ops, dtypes, and per-op constraints.

Source: ``gpu_compatibility.cc`` (the checks the GPU delegate's model builder applies), read at
``SOURCE`` below, the revision the installed ai-edge-litert line ships; every op row cites the line
of its ``case`` in that file (``CITATIONS``), and a test checks each row has one. Also the TFLite
GPU delegate guide for the expensive-ops note. The delegate computes in float16
(or float32 when forced); ops it cannot take fall back to the CPU kernels, which costs a
GPU<->CPU synchronisation per partition. Each constraint returns (ok, reason); its docstring's
first paragraph is the rule printed by ``hwquant targets gpu --ops``.
"""

from __future__ import annotations

from hwquant import Op, OpSupport, Tensor

FLOAT = frozenset({"float32", "float16"})
# Quantized ops are accepted: the delegate dequantizes int8/uint8 tensors and computes in float.
# int16 (16x8) graphs have no GPU path at all.
QUANT = frozenset({"int8", "uint8"})

SOURCE = (
    "google-ai-edge/LiteRT@297707cbe10f8f020afe87005dced0eceaa1f2fc (2026-06-22) "
    "tflite/tools/versioning/gpu_compatibility.cc"
)

# Ops the GPU delegate's model builder accepts (the CheckGpuDelegateCompatibility switch), by family.
ELEMENTWISE_UNARY = frozenset(
    [
        "ABS",
        "CEIL",
        "COS",
        "ELU",
        "EXP",
        "FLOOR",
        "GELU",
        "LOG",
        "LOGICAL_NOT",
        "LOGISTIC",
        "NEG",
        "ROUND",
        "RSQRT",
        "SIGN",
        "SIN",
        "SQRT",
        "SQUARE",
        "TANH",
        "STABLEHLO_CBRT",
    ]
)
ELEMENTWISE_BINARY = frozenset(
    [
        "ATAN2",
        "DIV",
        "EQUAL",
        "FLOOR_DIV",
        "FLOOR_MOD",
        "GREATER",
        "GREATER_EQUAL",
        "LOGICAL_AND",
        "LOGICAL_OR",
        "LESS",
        "LESS_EQUAL",
        "MAXIMUM",
        "MINIMUM",
        "NOT_EQUAL",
        "POW",
        "RIGHT_SHIFT",
        "SQUARED_DIFFERENCE",
        "STABLEHLO_REMAINDER",
        "STABLEHLO_SHIFT_LEFT",
        "SUB",
    ]
)
REDUCE = frozenset(["MEAN", "REDUCE_ALL", "REDUCE_ANY", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "SUM"])
OTHER = frozenset(
    [
        "ADD",
        "ADD_N",
        "AVERAGE_POOL_2D",
        "BATCH_MATMUL",
        "BITCAST",
        "CAST",
        "CONCATENATION",
        "CONV_2D",
        "CUMSUM",
        "DENSIFY",
        "DEPTHWISE_CONV_2D",
        "DEPTH_TO_SPACE",
        "DEQUANTIZE",
        "DYNAMIC_UPDATE_SLICE",
        "EMBEDDING_LOOKUP",
        "FULLY_CONNECTED",
        "GATHER",
        "HARD_SWISH",
        "LSTM",
        "MAX_POOL_2D",
        "MUL",
        "PACK",
        "ONE_HOT",
        "QUANTIZE",
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "LEAKY_RELU",
        "PRELU",
        "RESHAPE",
        "REVERSE_V2",
        "SELECT",
        "SELECT_V2",
        "SLICE",
        "SOFTMAX",
        "SPACE_TO_DEPTH",
        "SPLIT",
        "SPLIT_V",
        "STRIDED_SLICE",
        "TILE",
        "TOPK_V2",
        "TRANSPOSE",
        "TRANSPOSE_CONV",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "PAD",
        "PADV2",
        "MIRROR_PAD",
        "STABLEHLO_BROADCAST_IN_DIM",
        "STABLEHLO_CLAMP",
    ]
)
# Ops whose check reads no dtype and that act on bool or integer tensors by nature.
_UNTYPED = frozenset(
    [
        "BITCAST",
        "LOGICAL_NOT",
        "LOGICAL_AND",
        "LOGICAL_OR",
        "REDUCE_ALL",
        "REDUCE_ANY",
        "RIGHT_SHIFT",
        "STABLEHLO_SHIFT_LEFT",
        "STABLEHLO_REMAINDER",
    ]
)
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
    if name in ("CUMSUM", "STABLEHLO_CBRT"):  # the check requires float input and output
        return FLOAT
    if name in _UNTYPED:
        return FLOAT | QUANT | {"int32", "bool"}
    return FLOAT | QUANT


OPS: dict[str, frozenset[str]] = {n: _dtypes(n) for n in ELEMENTWISE_UNARY | ELEMENTWISE_BINARY | REDUCE | OTHER}
OPS.update(dict.fromkeys(CUSTOM_OPS, FLOAT))

# The line of each op's ``case`` (custom ops: their ``custom_name`` test) in SOURCE.
CITATIONS: dict[str, int] = {
    "ABS": 1144,
    "ADD": 538,
    "ADD_N": 552,
    "ATAN2": 1167,
    "AVERAGE_POOL_2D": 558,
    "BATCH_MATMUL": 561,
    "BITCAST": 572,
    "CAST": 633,
    "CEIL": 1145,
    "CONCATENATION": 657,
    "CONV_2D": 663,
    "COS": 1146,
    "CUMSUM": 674,
    "DENSIFY": 677,
    "DEPTHWISE_CONV_2D": 681,
    "DEPTH_TO_SPACE": 684,
    "DEQUANTIZE": 701,
    "DIV": 1168,
    "DYNAMIC_UPDATE_SLICE": 762,
    "ELU": 1147,
    "EMBEDDING_LOOKUP": 715,
    "EQUAL": 1169,
    "EXP": 1148,
    "FLOOR": 1149,
    "FLOOR_DIV": 1170,
    "FLOOR_MOD": 1171,
    "FULLY_CONNECTED": 797,
    "GATHER": 833,
    "GELU": 1150,
    "GREATER": 1172,
    "GREATER_EQUAL": 1173,
    "HARD_SWISH": 852,
    "LEAKY_RELU": 1087,
    "LESS": 1176,
    "LESS_EQUAL": 1177,
    "LOG": 1151,
    "LOGICAL_AND": 1174,
    "LOGICAL_NOT": 1152,
    "LOGICAL_OR": 1175,
    "LOGISTIC": 1153,
    "LSTM": 856,
    "MAXIMUM": 1178,
    "MAX_POOL_2D": 906,
    "MEAN": 909,
    "MINIMUM": 1179,
    "MIRROR_PAD": 1105,
    "MUL": 917,
    "NEG": 1154,
    "NOT_EQUAL": 1180,
    "ONE_HOT": 938,
    "PACK": 935,
    "PAD": 1103,
    "PADV2": 1104,
    "POW": 1181,
    "PRELU": 950,
    "QUANTIZE": 941,
    "REDUCE_ALL": 1090,
    "REDUCE_ANY": 1091,
    "REDUCE_MAX": 1092,
    "REDUCE_MIN": 1093,
    "REDUCE_PROD": 1094,
    "RELU": 1085,
    "RELU6": 1086,
    "RELU_N1_TO_1": 947,
    "RESHAPE": 953,
    "RESIZE_BILINEAR": 1063,
    "RESIZE_NEAREST_NEIGHBOR": 1076,
    "REVERSE_V2": 1135,
    "RIGHT_SHIFT": 1182,
    "ROUND": 1155,
    "RSQRT": 1156,
    "SELECT": 958,
    "SELECT_V2": 959,
    "SIGN": 1157,
    "SIN": 1158,
    "SLICE": 962,
    "SOFTMAX": 977,
    "SPACE_TO_DEPTH": 986,
    "SPLIT": 1003,
    "SPLIT_V": 1006,
    "SQRT": 1159,
    "SQUARE": 1160,
    "SQUARED_DIFFERENCE": 1185,
    "STABLEHLO_BROADCAST_IN_DIM": 1212,
    "STABLEHLO_CBRT": 1231,
    "STABLEHLO_CLAMP": 1245,
    "STABLEHLO_REMAINDER": 1183,
    "STABLEHLO_SHIFT_LEFT": 1184,
    "STRIDED_SLICE": 1009,
    "SUB": 1186,
    "SUM": 1095,
    "TANH": 1161,
    "TILE": 1036,
    "TOPK_V2": 1042,
    "TRANSPOSE": 1048,
    "TRANSPOSE_CONV": 1054,
    "Convolution2DTransposeBias": 422,
    "MaxPoolingWithArgmax2D": 430,
    "MaxUnpooling2D": 433,
    "Resampler": 444,
}


def citation(op: str) -> str:
    """Where the row for ``op`` was read: SOURCE and the line of its case."""
    return f"{SOURCE}:{CITATIONS[op]}"


def _runtime_inputs(op: Op) -> list[Tensor]:
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
    ok = (
        (a == "bool" and b in FLOAT)
        or (a in FLOAT and b == "bool")
        or (a in ("float32", "int32") and b in ("float32", "int32"))
    )
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


def add_mul_broadcast(op: Op) -> tuple[bool, str]:
    """ADD / MUL: two inputs; operands of different ranks (both above 1) broadcast only 3-D to 4-D with
    batch 1, [1, 1] to [1, x, y, z], or [b, c] to [b, x, y, c].

    CheckAddMulBroadcastCompatibility with the default flags.
    """
    if len(op.inputs) != 2:
        return False, f"{op.name} needs two inputs"
    a, b = list(op.inputs[0].shape), list(op.inputs[1].shape)
    if len(a) > 1 and len(b) > 1 and len(a) != len(b):
        long, short = (a, b) if len(a) >= len(b) else (b, a)
        ok = len(long) == 4 and (
            (len(short) == 3 and long[0] == 1)
            or (len(short) == 2 and long[0] == 1 and short == [1, 1])
            or (len(short) == 2 and long[0] == short[0] and long[3] == short[1])
        )
        if not ok:
            return False, f"{op.name}: broadcasting {a} with {b} is not supported on GPU"
    return True, ""


def constant_int32_axis_input(op: Op) -> tuple[bool, str]:
    """CUMSUM / REVERSE_V2: the axis is a constant int32 tensor."""
    return constant_int32_axes(op)


SPECIFIC = {
    "DEPTHWISE_CONV_2D": [depthwise_multiplier],
    "SOFTMAX": [softmax_beta_one],
    "SLICE": [slice_rank_3_or_4],
    "STRIDED_SLICE": [strided_slice_masks, slice_rank_3_or_4],
    "FULLY_CONNECTED": [fully_connected_layout],
    "PAD": [pad_shape],
    "PADV2": [pad_shape],
    "MIRROR_PAD": [pad_shape],
    "ADD_N": [add_n_two_inputs],
    "CAST": [cast_cases, one_runtime_input],
    "GATHER": [gather_indices],
    "DEQUANTIZE": [dequantize_not_int16],
    "RESIZE_BILINEAR": [resize_corners, one_runtime_input],
    "RESIZE_NEAREST_NEIGHBOR": [one_runtime_input],
    "DEPTH_TO_SPACE": [block_size_above_one, one_runtime_input],
    "SPACE_TO_DEPTH": [block_size_above_one, one_runtime_input],
    "ADD": [add_mul_broadcast],
    "MUL": [add_mul_broadcast],
    "CUMSUM": [constant_int32_axis_input],
    "REVERSE_V2": [one_runtime_input, constant_int32_axis_input],
    "TOPK_V2": [one_runtime_input],
    "BITCAST": [one_runtime_input],
    "RESHAPE": [one_runtime_input],
    "TILE": [one_runtime_input],
    "TRANSPOSE": [one_runtime_input],
    "HARD_SWISH": [one_runtime_input],
    "QUANTIZE": [one_runtime_input],
    **{n: [one_runtime_input] for n in ELEMENTWISE_UNARY},
    "STABLEHLO_BROADCAST_IN_DIM": [one_runtime_input],
    **{n: [one_or_two_operands] for n in ELEMENTWISE_BINARY},
    **{n: [constant_int32_axes] for n in REDUCE},
}

SUPPORT = OpSupport(ops=OPS, generic=[max_rank_4, fused_activation_supported], specific=SPECIFIC)
