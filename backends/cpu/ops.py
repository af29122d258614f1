"""LiteRT's builtin CPU kernels, per dtype, as data.

float32: every builtin operator of the TFLite schema has a reference kernel. Integer
kernels exist only for the ops listed below (TFLite quantization spec and op versioning:
tensorflow/lite/tools/versioning/op_version.cc, tensorflow/lite/kernels/register.cc).
"""
from __future__ import annotations

from hwquant import OpSupport, Op, builtin_op_names

INT8_OPS = frozenset("""
ABS ADD ARG_MAX ARG_MIN AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND BROADCAST_TO CONCATENATION
CONV_2D CUMSUM DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DIV ELU EMBEDDING_LOOKUP EQUAL EXPAND_DIMS
FILL FULLY_CONNECTED GATHER GATHER_ND GELU GREATER GREATER_EQUAL HARD_SWISH L2_NORMALIZATION
LEAKY_RELU LESS LESS_EQUAL LOGISTIC LOG_SOFTMAX MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG
NOT_EQUAL PACK PAD PADV2 PRELU QUANTIZE REDUCE_MAX REDUCE_MIN REDUCE_PROD RELU RELU6 RELU_0_TO_1
RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR REVERSE_V2 RSQRT SELECT SELECT_V2 SHAPE
SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH SPLIT SPLIT_V SQUARED_DIFFERENCE SQUEEZE
STRIDED_SLICE SUB SUM SVDF TANH TILE TOPK_V2 TRANSPOSE TRANSPOSE_CONV UNIDIRECTIONAL_SEQUENCE_LSTM
UNPACK ZEROS_LIKE
""".split())

# 16x8 kernels (int16 activations, int8 weights): the ops the 16x8 quantization mode lists.
INT16_OPS = frozenset("""
ABS ADD AVERAGE_POOL_2D BATCH_MATMUL BROADCAST_TO CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEQUANTIZE
DIV EQUAL EXPAND_DIMS FULLY_CONNECTED GATHER GATHER_ND GREATER GREATER_EQUAL HARD_SWISH LEAKY_RELU
LESS LESS_EQUAL LOGISTIC LOG_SOFTMAX MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL
PACK PAD PADV2 PRELU QUANTIZE REDUCE_MAX REDUCE_MIN RELU RELU6 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR
RESIZE_NEAREST_NEIGHBOR RSQRT SELECT SELECT_V2 SHAPE SLICE SOFTMAX SPACE_TO_DEPTH SPLIT SPLIT_V
SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM TANH TILE TRANSPOSE TRANSPOSE_CONV UNPACK
UNIDIRECTIONAL_SEQUENCE_LSTM
""".split())

UINT8_OPS = frozenset("QUANTIZE DEQUANTIZE".split())

_NOT_KERNELS = {"CUSTOM", "DELEGATE", "PLACEHOLDER_FOR_GREATER_OP_CODES", "STABLEHLO_COMPOSITE"}
ALL_BUILTINS = frozenset(n for n in builtin_op_names() if n not in _NOT_KERNELS
                         and not n.startswith("STABLEHLO_"))
_INDEX_TYPES = ("int32", "int64", "bool", "string")


def no_flex_ops(op: Op) -> tuple[bool, str]:
    """Custom and Flex (SELECT_TF_OPS) operators have no kernel in the LiteRT runtime.

    Flex ops need the TensorFlow select-ops delegate, which the plain runtime does not ship.
    """
    if op.custom:
        return False, f"custom op {op.name!r} has no builtin LiteRT kernel"
    return True, ""


def _table() -> dict[str, frozenset[str]]:
    table = {}
    for name in ALL_BUILTINS:
        d = {"float32", "float16", *_INDEX_TYPES}
        if name in INT8_OPS:
            d.add("int8")
        if name in INT16_OPS:
            d.add("int16")
        if name in UINT8_OPS:
            d.add("uint8")
        table[name] = frozenset(d)
    return table


SUPPORT = OpSupport(ops=_table(), generic=[no_flex_ops])
