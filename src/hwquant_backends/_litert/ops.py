"""LiteRT's builtin CPU kernels, per (op, compute dtype), as data proven by the runtime itself.

Every row below is backed by a generated single-op model (tests/helpers/opgen.py) that the LiteRT
interpreter allocates and invokes (tests/backends/test_op_tables.py); the same test fails when LiteRT runs
an (op, dtype) the generator can build and this table lacks. The compute dtype is the one
``hwquant.Op.dtype`` reads (the first non-constant input), so SELECT is keyed by its bool
condition and EMBEDDING_LOOKUP / ONE_HOT by their int32 ids.

The table explains; it does not decide. An op it does not list (an op the generator cannot build
yet, such as the LSTM/RNN family, or a dtype not tried) is reported as "not in the table" and left
to the verify stage, which invokes the artifact in LiteRT: the cpu target never refuses what LiteRT
runs. Only Flex (SELECT_TF_OPS) custom ops are refused up front: the LiteRT runtime ships no Flex
delegate, and a test proves it cannot allocate one.

Proven with ai-edge-litert 2.3.0 (the version in the README's environment).
"""

from __future__ import annotations

from hwquant import Op, OpSupport

# op -> compute dtypes LiteRT allocates and invokes (one generated model per entry)
ROWS = {
    "ABS": "float32 int8 int16 int32",
    "ADD": "float32 int8 int16 int32 int64",
    "ADD_N": "float32 int32",
    "ARG_MAX": "float32 int8 int32",
    "ARG_MIN": "float32 int8 int32",
    "ATAN2": "float32",
    "AVERAGE_POOL_2D": "float32 int8 int16",
    "BATCH_MATMUL": "float32 int8 int16",
    "BATCH_TO_SPACE_ND": "float32 int8 int16 int32 int64",
    "BITWISE_XOR": "int8 int16 int32",
    "BROADCAST_ARGS": "int32 int64",
    "BROADCAST_TO": "float32 int8 int16 uint8 int32 int64 bool",
    "BUCKETIZE": "float32 int32 int64",
    "CAST": "float32 int8 int16 uint8 int32 int64 bool",
    "CEIL": "float32",
    "CONCATENATION": "float32 int8 int16 uint8 int32 int64 bool",
    "CONV_2D": "float32 int8 int16",
    "CONV_3D": "float32",
    "COS": "float32",
    "CUMSUM": "float32 int32 int64",
    "DEPTHWISE_CONV_2D": "float32 int8 int16",
    "DEPTH_TO_SPACE": "float32 int8 int32 int64",
    "DEQUANTIZE": "int8 int16 uint8",
    "DIV": "float32 int8 int16 int32",
    "DYNAMIC_UPDATE_SLICE": "float32 int8 int16 int32 int64",
    "ELU": "float32 int8",
    "EMBEDDING_LOOKUP": "int32",
    "EQUAL": "float32 int8 int16 uint8 int32 int64 bool",
    "EXP": "float32 int8 int16",
    "EXPAND_DIMS": "float32 int8 int16 uint8 int32 int64 bool",
    "FILL": "float32 int8 int16 uint8 int32 int64 bool",
    "FLOOR": "float32",
    "FLOOR_DIV": "float32 int8 int16 int32",
    "FLOOR_MOD": "float32 int8 int16 int32 int64",
    "FULLY_CONNECTED": "float32 int8 int16",
    "GATHER": "float32 int8 int16 uint8 int32 int64 bool",
    "GATHER_ND": "float32 int8 int16 int32 int64",
    "GELU": "float32 int8 int16",
    "GREATER": "float32 int8 int16 int32 int64",
    "GREATER_EQUAL": "float32 int8 int16 int32 int64",
    "HARD_SWISH": "float32 int8",
    "L2_NORMALIZATION": "float32 int8",
    "L2_POOL_2D": "float32",
    "LEAKY_RELU": "float32 int8 int16",
    "LESS": "float32 int8 int16 int32 int64",
    "LESS_EQUAL": "float32 int8 int16 int32 int64",
    "LOCAL_RESPONSE_NORMALIZATION": "float32",
    "LOG": "float32 int8 int16",
    "LOGICAL_AND": "bool",
    "LOGICAL_NOT": "bool",
    "LOGICAL_OR": "bool",
    "LOGISTIC": "float32 int8 int16",
    "LOG_SOFTMAX": "float32 int8",
    "MATRIX_DIAG": "float32 int8 int16 int32 int64",
    "MATRIX_SET_DIAG": "float32 int8 int16 int32 int64",
    "MAXIMUM": "float32 int8 int16 int32 int64",
    "MAX_POOL_2D": "float32 int8 int16",
    "MEAN": "float32 int8 int16 int32 int64",
    "MINIMUM": "float32 int8 int16 int32 int64",
    "MIRROR_PAD": "float32 int8 int16 int32 int64",
    "MUL": "float32 int8 int16 int32 int64",
    "NEG": "float32 int8 int16 int32 int64",
    "NOT_EQUAL": "float32 int8 int16 uint8 int32 int64 bool",
    "ONE_HOT": "int32",
    "PACK": "float32 int8 int16 uint8 int32 int64",
    "PAD": "float32 int8 int16 int32 int64",
    "PADV2": "float32 int8 int16 int32 int64",
    "POW": "float32 int32",
    "PRELU": "float32 int8 int16",
    "QUANTIZE": "float32 int8 int16 uint8",
    "RANGE": "float32 int32 int64",
    "RANK": "float32 int8 int16 int32 int64",
    "REDUCE_ALL": "bool",
    "REDUCE_ANY": "bool",
    "REDUCE_MAX": "float32 int8 int16 int32 int64",
    "REDUCE_MIN": "float32 int8 int16 int32 int64",
    "REDUCE_PROD": "float32 int8 int16 int32 int64",
    "RELU": "float32 int8 int16",
    "RELU6": "float32 int8 int16",
    "RELU_0_TO_1": "float32 int8",
    "RELU_N1_TO_1": "float32 int8",
    "RESHAPE": "float32 int8 int16 uint8 int32 int64 bool",
    "RESIZE_BILINEAR": "float32 int8 int16",
    "RESIZE_NEAREST_NEIGHBOR": "float32 int8 int16 int32",
    "REVERSE_SEQUENCE": "float32 int16 int32 int64",
    "REVERSE_V2": "float32 int8 int16 uint8 int32 int64 bool",
    "RIGHT_SHIFT": "int8 int16 int32",
    "ROUND": "float32",
    "RSQRT": "float32 int8 int16",
    "SCATTER_ND": "float32 int8 int32 int64",
    "SEGMENT_SUM": "float32 int32",
    "SELECT": "bool",
    "SELECT_V2": "bool",
    "SHAPE": "float32 int8 int16 uint8 int32 int64 bool",
    "SIGN": "float32 int32",
    "SIN": "float32",
    "SLICE": "float32 int8 int16 uint8 int32 int64 bool",
    "SOFTMAX": "float32 int8 int16",
    "SPACE_TO_BATCH_ND": "float32 int8 int16 int32 int64",
    "SPACE_TO_DEPTH": "float32 int8 int32 int64",
    "SPARSE_TO_DENSE": "float32 int8 int32 int64",
    "SPLIT": "float32 int8 int16 int32 int64",
    "SPLIT_V": "float32 int8 int16 int32 int64",
    "SQRT": "float32 int8 int16",
    "SQUARE": "float32",
    "SQUARED_DIFFERENCE": "float32 int8 int32",
    "SQUEEZE": "float32 int8 int16 uint8 int32 int64 bool",
    "STRIDED_SLICE": "float32 int8 int16 uint8 int32 int64 bool",
    "SUB": "float32 int8 int16 int32 int64",
    "SUM": "float32 int8 int16 int32 int64",
    "TANH": "float32 int8 int16",
    "TILE": "float32 int8 int16 uint8 int32 int64 bool",
    "TOPK_V2": "float32 int8 int16 int32 int64",
    "TRANSPOSE": "float32 int8 int16 uint8 int32 int64 bool",
    "TRANSPOSE_CONV": "float32 int8 int16",
    "UNIQUE": "float32 int8 int16 int32 int64",
    "UNPACK": "float32 int8 int16 uint8 int32 bool",
    "UNSORTED_SEGMENT_MAX": "float32 int32",
    "UNSORTED_SEGMENT_MIN": "float32 int32",
    "UNSORTED_SEGMENT_PROD": "float32 int32",
    "UNSORTED_SEGMENT_SUM": "float32 int32",
    "WHERE": "float32 int32 bool",
    "ZEROS_LIKE": "float32 int32 int64",
}

UNVERIFIED = "not in the cpu op table: the verify stage's LiteRT invoke decides"


def no_flex_ops(op: Op) -> tuple[bool, str]:
    """Flex (SELECT_TF_OPS) custom operators do not run in the LiteRT runtime.

    Flex ops need the TensorFlow select-ops delegate, which the LiteRT runtime does not ship. Other
    custom ops (e.g. TFLite_Detection_PostProcess, which LiteRT registers) are left to the verify stage.
    """
    if op.custom and op.name.startswith("Flex"):
        return False, f"Flex op {op.name!r} needs the TensorFlow select-ops delegate, which LiteRT does not ship"
    return True, ""


SUPPORT = OpSupport(ops={op: frozenset(d.split()) for op, d in ROWS.items()}, generic=[no_flex_ops])


def explain(op: Op) -> tuple[str, list[str]]:
    """How the table sees ``op``: ("proven", []), ("unverified", [why]) or ("refused", [why])."""
    ok, why = no_flex_ops(op)
    if not ok:
        return "refused", [why]
    if SUPPORT.ops.get(op.name) and op.dtype in SUPPORT.ops[op.name]:
        return "proven", []
    listed = SUPPORT.ops.get(op.name)
    detail = f" ({op.name} rows: {', '.join(sorted(listed))})" if listed else ""
    return "unverified", [f"{op.name} {op.dtype}: {UNVERIFIED}{detail}"]
