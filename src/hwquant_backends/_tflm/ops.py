"""The builtin ops TensorFlow Lite Micro has kernels for, per dtype, as data.

The ``Add*`` resolver method per op was read from tflite-micro (commit 90b983c2, 2026-08-20,
tensorflow/lite/micro/micro_mutable_op_resolver.h). The dtypes are proven: ``PROVEN`` holds the rows
the tflite-micro interpreter ran as generated single-op models; ``SOURCE_ONLY`` the few read from the
kernels' sources that no single-op model can show. "int16" means the 16x8 scheme (int16 activations, int8 weights) wherever weights are involved.
The dtype is the op's compute dtype as hwquant.tflite_model.Op.dtype reads it (first non-constant input).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from hwquant import Op, OpSupport

# Builtin op -> MicroMutableOpResolver method that registers its kernel.
RESOLVER_METHODS: dict[str, str] = {
    "ABS": "AddAbs",
    "ADD": "AddAdd",
    "ADD_N": "AddAddN",
    "ARG_MAX": "AddArgMax",
    "ARG_MIN": "AddArgMin",
    "ASSIGN_VARIABLE": "AddAssignVariable",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "BROADCAST_ARGS": "AddBroadcastArgs",
    "BROADCAST_TO": "AddBroadcastTo",
    "CALL_ONCE": "AddCallOnce",
    "CAST": "AddCast",
    "CEIL": "AddCeil",
    "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D",
    "COS": "AddCos",
    "CUMSUM": "AddCumSum",
    "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEQUANTIZE": "AddDequantize",
    "DIV": "AddDiv",
    "DYNAMIC_UPDATE_SLICE": "AddDynamicUpdateSlice",
    "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
    "ELU": "AddElu",
    "EQUAL": "AddEqual",
    "EXP": "AddExp",
    "EXPAND_DIMS": "AddExpandDims",
    "FILL": "AddFill",
    "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv",
    "FLOOR_MOD": "AddFloorMod",
    "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather",
    "GATHER_ND": "AddGatherNd",
    "GREATER": "AddGreater",
    "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish",
    "IF": "AddIf",
    "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu",
    "LESS": "AddLess",
    "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog",
    "LOGICAL_AND": "AddLogicalAnd",
    "LOGICAL_NOT": "AddLogicalNot",
    "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic",
    "LOG_SOFTMAX": "AddLogSoftmax",
    "MAXIMUM": "AddMaximum",
    "MAX_POOL_2D": "AddMaxPool2D",
    "MIRROR_PAD": "AddMirrorPad",
    "MEAN": "AddMean",
    "MINIMUM": "AddMinimum",
    "MUL": "AddMul",
    "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual",
    "PACK": "AddPack",
    "PAD": "AddPad",
    "PADV2": "AddPadV2",
    "PRELU": "AddPrelu",
    "QUANTIZE": "AddQuantize",
    "READ_VARIABLE": "AddReadVariable",
    "REDUCE_ALL": "AddReduceAll",
    "REDUCE_MAX": "AddReduceMax",
    "REDUCE_MIN": "AddReduceMin",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "REVERSE_V2": "AddReverseV2",
    "ROUND": "AddRound",
    "RSQRT": "AddRsqrt",
    "SELECT_V2": "AddSelectV2",
    "SHAPE": "AddShape",
    "SIN": "AddSin",
    "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit",
    "SPLIT_V": "AddSplitV",
    "SQUEEZE": "AddSqueeze",
    "SQRT": "AddSqrt",
    "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference",
    "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub",
    "SUM": "AddSum",
    "SVDF": "AddSvdf",
    "TANH": "AddTanh",
    "TRANSPOSE_CONV": "AddTransposeConv",
    "TRANSPOSE": "AddTranspose",
    "UNPACK": "AddUnpack",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "VAR_HANDLE": "AddVarHandle",
    "WHILE": "AddWhile",
    "ZEROS_LIKE": "AddZerosLike",
}

_F, _I8, _I16, _I32, _I64, _U8, _B = "float32", "int8", "int16", "int32", "int64", "uint8", "bool"
_ANY = (_F, _I8, _I16, _I32, _I64, _U8, _B)  # kernels that move bytes or only read shapes


def _table(spec: str) -> dict[str, frozenset[str]]:
    """Parse 'OP dtype,dtype' lines (short names: f i8 i16 i32 i64 u8 b any)."""
    short = {"f": _F, "i8": _I8, "i16": _I16, "i32": _I32, "i64": _I64, "u8": _U8, "b": _B}
    out = {}
    for line in spec.strip().splitlines():
        op, kinds = line.split()
        out[op] = frozenset(_ANY if kinds == "any" else (short[k] for k in kinds.split(",")))
    return out


# Proven rows: each (op, compute dtype) is a generated single-op model (tests/helpers/opgen.py) that the
# tflite-micro Python interpreter allocates and invokes (tests/backends/test_op_tables.py, which also fails
# when TFLM runs an (op, dtype) missing here). Proven with tflite-micro 0.dev20261023182759.
PROVEN: dict[str, frozenset[str]] = {
    op: frozenset(d.split())
    for op, d in {
        "ABS": "float32 int8 int16",
        "ADD": "float32 int8 int16 int32",
        "ADD_N": "float32 int8",
        "ARG_MAX": "float32 int8",
        "ARG_MIN": "float32 int8",
        "AVERAGE_POOL_2D": "float32 int8 int16",
        "BATCH_MATMUL": "float32 int8 int16",
        "BATCH_TO_SPACE_ND": "float32 int8",
        "BROADCAST_ARGS": "int32 int64",
        "BROADCAST_TO": "float32 int8 int16 uint8 int32 int64 bool",
        "CAST": "float32 int8 int16 int32 bool",
        "CEIL": "float32",
        "CONCATENATION": "float32 int8 int16 int32 int64 bool",
        "CONV_2D": "float32 int8 int16",
        "COS": "float32",
        "CUMSUM": "float32 int8",
        "DEPTHWISE_CONV_2D": "float32 int8 int16",
        "DEPTH_TO_SPACE": "float32 int8",
        "DEQUANTIZE": "int8 int16 uint8",
        "DIV": "float32 int8 int32",
        "DYNAMIC_UPDATE_SLICE": "float32 int8 int16 int32",
        "ELU": "float32 int8",
        "EMBEDDING_LOOKUP": "int32",
        "EQUAL": "float32 int8 int32 int64 bool",
        "EXP": "float32",
        "EXPAND_DIMS": "float32 int8 int16",
        "FILL": "float32 int8 int32",
        "FLOOR": "float32",
        "FLOOR_DIV": "float32",
        "FLOOR_MOD": "float32",
        "FULLY_CONNECTED": "float32 int8 int16",
        "GATHER": "float32 int8",
        "GATHER_ND": "float32 int8",
        "GREATER": "float32 int8 int16 int32 int64",
        "GREATER_EQUAL": "float32 int8 int32 int64",
        "HARD_SWISH": "float32 int8",
        "L2_NORMALIZATION": "float32 int8",
        "L2_POOL_2D": "float32",
        "LEAKY_RELU": "float32 int8 int16",
        "LESS": "float32 int8 int32 int64",
        "LESS_EQUAL": "float32 int8 int32 int64",
        "LOG": "float32",
        "LOGICAL_AND": "bool",
        "LOGICAL_NOT": "bool",
        "LOGICAL_OR": "bool",
        "LOGISTIC": "float32 int8 int16",
        "LOG_SOFTMAX": "float32 int8",
        "MAXIMUM": "float32 int8 int16 int32 int64",
        "MAX_POOL_2D": "float32 int8 int16",
        "MEAN": "float32 int8 int16",
        "MINIMUM": "float32 int8 int16 int32 int64",
        "MIRROR_PAD": "float32 int8",
        "MUL": "float32 int8 int16 int32",
        "NEG": "float32",
        "NOT_EQUAL": "float32 int8 int32 int64 bool",
        "PACK": "float32 int8 int16 int32 int64",
        "PAD": "float32 int8 int16 int32",
        "PADV2": "float32 int8 int16 int32",
        "PRELU": "float32 int8",
        "QUANTIZE": "float32 int8 int16 uint8",
        "REDUCE_ALL": "bool",
        "REDUCE_MAX": "float32 int8",
        "REDUCE_MIN": "float32 int8",
        "RELU": "float32 int8 int16",
        "RELU6": "float32 int8 int16",
        "RESHAPE": "float32 int8 int16 uint8 int32 int64 bool",
        "RESIZE_BILINEAR": "float32 int8",
        "RESIZE_NEAREST_NEIGHBOR": "float32 int8 int16",
        "REVERSE_V2": "float32 int8 int16 uint8 int32 int64 bool",
        "ROUND": "float32",
        "RSQRT": "float32 int8 int16",
        "SELECT_V2": "bool",
        "SHAPE": "float32 int8 int16 uint8 int32 int64 bool",
        "SIN": "float32",
        "SLICE": "float32 int8 int16 int32 bool",
        "SOFTMAX": "float32 int8 int16",
        "SPACE_TO_BATCH_ND": "float32 int8",
        "SPACE_TO_DEPTH": "float32 int8",
        "SPLIT": "float32 int8 int16 int32",
        "SPLIT_V": "float32 int8 int16 int32",
        "SQRT": "float32",
        "SQUARE": "float32",
        "SQUARED_DIFFERENCE": "float32 int8 int16 int32",
        "SQUEEZE": "float32 int8 int16 uint8 int32 int64 bool",
        "STRIDED_SLICE": "float32 int8 int16 int32 bool",
        "SUB": "float32 int8 int16 int32",
        "SUM": "float32 int8 int16",
        "TANH": "float32 int8 int16",
        "TRANSPOSE": "float32 int8 int16",
        "TRANSPOSE_CONV": "float32 int8 int16",
        "UNPACK": "float32 int8 int16 int32",
        "ZEROS_LIKE": "float32 int8 int32 int64",
    }.items()
}

# Read from tflite-micro's kernels (commit 90b983c2) but not generated as single-op models (control
# flow, resource variables, stateful SVDF / LSTM need more than one op or variable tensors). Models
# using them are not refused: they are marked "unverified by table" and the TFLM interpreter in the
# verify stage (arena measurement and cross-check) decides.
SOURCE_ONLY = _table("""
ASSIGN_VARIABLE any
CALL_ONCE any
IF b
READ_VARIABLE any
SVDF f,i8
UNIDIRECTIONAL_SEQUENCE_LSTM f,i8,i16
VAR_HANDLE any
WHILE any
""")
KERNEL_DTYPES = {
    op: PROVEN.get(op, frozenset()) | SOURCE_ONLY.get(op, frozenset()) for op in sorted({*PROVEN, *SOURCE_ONLY})
}
assert set(KERNEL_DTYPES) == set(RESOLVER_METHODS), set(KERNEL_DTYPES) ^ set(RESOLVER_METHODS)
UNVERIFIED = "read from tflite-micro's kernels, not proven by a generated model: the TFLM interpreter decides"

INT16_OPS = frozenset(op for op, d in KERNEL_DTYPES.items() if _I16 in d)

# What to do instead when TFLM lacks a kernel: op (or "OP dtype") -> suggestions.
ALTERNATIVES: dict[str, str] = {
    "GELU": "use relu or hard_swish activations (TFLM has RELU, RELU6, HARD_SWISH, LOGISTIC, TANH kernels)",
    "TOPK_V2": "take ARG_MAX in the model, or do top-k in application code on the output scores",
    "TILE": "use BROADCAST_TO, or broadcasting ADD/MUL",
    "POW": "use MUL (x*x) or SQUARE for float models",
    "REDUCE_PROD": "use SUM of logs, or compute the product in application code",
    "NEG int8": "use MUL by -1 or SUB from zero",
    "L2_POOL_2D int8": "use AVERAGE_POOL_2D",
    "EXP int8": "use LOGISTIC or SOFTMAX, or keep the model float32",
    "SQUARE int8": "use MUL(x, x)",
    "RESIZE_BILINEAR int16": "use RESIZE_NEAREST_NEIGHBOR or the int8-only recipe",
    "HARD_SWISH int16": "use the int8-only recipe",
    "LOG_SOFTMAX int16": "use SOFTMAX, or the int8-only recipe",
    "GATHER int16": "use the int8-only recipe",
}
GENERIC_ALTERNATIVE = (
    "replace the layer with one TFLM has a kernel for (`hwquant targets mcu --ops`), "
    "build for --target cpu, or register your own kernel in the generated main.cc"
)


def alternatives(op: Op) -> str:
    """Suggestions for an op TFLM cannot run, most specific first."""
    return ALTERNATIVES.get(f"{op.name} {op.dtype}") or ALTERNATIVES.get(op.name) or GENERIC_ALTERNATIVE


def layer_name(op: Op) -> str:
    """The layer an op belongs to: its output tensor's name (the first of the names the converter fused).

    A model output is named after the signature (StatefulPartitionedCall:0); then the tensor
    feeding the op names the layer too.
    """
    out = op.outputs[0].name.split(";")[0] if op.outputs and op.outputs[0].name else f"op #{op.index}"
    if re.match(r"(StatefulPartitionedCall|PartitionedCall|serving_default|Identity)", out):
        src = next((t.name.split(";")[0] for t in op.inputs if not t.is_constant and t.name), "")
        if src:
            return f"{out} (after {src})"
    return out


# -- generic constraints (every op) ------------------------------------------------------------
def no_custom_ops(op: Op) -> tuple[bool, str]:
    """Custom and Flex operators have no kernel in TFLM.

    TFLM ships builtin kernels only (plus a few signal-processing custom ops that converters never emit).
    """
    if op.custom:
        return False, f"custom op {op.name!r} has no TFLM kernel"
    return True, ""


def static_shapes(op: Op) -> tuple[bool, str]:
    """Tensor shapes are static apart from the batch dimension.

    TFLM plans the arena ahead of time and cannot resize tensors; a dynamic batch runs as batch 1.
    """
    for t in [*op.inputs, *op.outputs]:
        if any(d < 0 for d in t.shape_signature[1:]):
            return False, f"tensor {t.name!r} has a dynamic shape {list(t.shape_signature)}"
    return True, ""


# -- per-op constraints ---------------------------------------------------------------------
def _constant_input(position: int, what: str) -> Callable[[Op], tuple[bool, str]]:
    def check(op: Op) -> tuple[bool, str]:
        if len(op.inputs) > position and not op.inputs[position].is_constant:
            return False, f"{op.name}: the {what} must be constant (TFLM has no dynamic tensors)"
        return True, ""

    check.__doc__ = f"The {what} (input {position}) is a constant tensor.\n\nTFLM's kernel rejects a computed one."
    check.__name__ = f"constant_{what.replace(' ', '_')}"
    return check


def _max_rank(limit: int) -> Callable[[Op], tuple[bool, str]]:
    def check(op: Op) -> tuple[bool, str]:
        rank = len(op.inputs[0].shape) if op.inputs else 0
        if rank > limit:
            return False, f"{op.name}: input rank {rank} exceeds TFLM's limit of {limit}"
        return True, ""

    check.__doc__ = f"The input has at most {limit} dimensions."
    check.__name__ = f"max_rank_{limit}"
    return check


def int16_softmax_zero_point(op: Op) -> tuple[bool, str]:
    """An int16 SOFTMAX has output zero point 0.

    TFLM's 16-bit lookup tables assume a symmetric output (softmax_common.cc).
    """
    out = op.outputs[0] if op.outputs else None
    if op.dtype == _I16 and out is not None and out.quant is not None and int(out.quant.zero_point.flat[0]) != 0:
        return False, f"SOFTMAX int16 output zero point is {int(out.quant.zero_point.flat[0])}, TFLM needs 0"
    return True, ""


def int16_weights_are_int8(op: Op) -> tuple[bool, str]:
    """With int16 activations the weights are int8 (the 16x8 scheme); 16x16 has no kernel.

    TFLM's FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV take int8 filters only.
    """
    if op.dtype == _I16:
        for t in op.inputs:
            if t.is_constant and t.dtype == _I16 and len(t.shape) > 1:
                return False, f"{op.name}: weights {t.name!r} are int16; TFLM needs int8 weights with int16 activations"
    return True, ""


SPECIFIC: dict[str, list[Callable[[Op], tuple[bool, str]]]] = {
    "RESIZE_BILINEAR": [_constant_input(1, "size")],
    "RESIZE_NEAREST_NEIGHBOR": [_constant_input(1, "size")],
    "PAD": [_constant_input(1, "paddings"), _max_rank(5)],
    "PADV2": [_constant_input(1, "paddings"), _max_rank(5)],
    "EXPAND_DIMS": [_constant_input(1, "axis")],
    "SPLIT": [_constant_input(0, "axis")],
    "SPLIT_V": [_constant_input(2, "axis")],
    "FILL": [_constant_input(0, "dims")],
    "BROADCAST_TO": [_constant_input(1, "shape"), _max_rank(5)],
    "STRIDED_SLICE": [_max_rank(4)],
    "L2_NORMALIZATION": [_max_rank(4)],
    "BATCH_TO_SPACE_ND": [_max_rank(4)],
    "SPACE_TO_BATCH_ND": [_max_rank(4)],
    "SLICE": [_max_rank(5)],
    "SOFTMAX": [int16_softmax_zero_point],
    **{
        name: [int16_weights_are_int8] for name in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")
    },
}

SUPPORT = OpSupport(ops=dict(KERNEL_DTYPES), generic=[no_custom_ops, static_shapes], specific=SPECIFIC)


def missing_int16_kernels(op_names: Iterable[str]) -> list[str]:
    """Ops (by builtin name) that TFLM cannot run with int16 activations."""
    skip = {"QUANTIZE", "DEQUANTIZE"}
    return sorted({n for n in op_names if n not in skip and n not in INT16_OPS})
