"""Flash the TFLM runtime takes on a Cortex-M4, per kernel set: measured figures and how they were made.

Beside the board data (boards.py), used by its flash estimate. Method (benchmarks/mcu_flash.py):
the generated CMake project for examples/digits was built for Cortex-M4F with its toolchain file
(arm-none-eabi-gcc 12.2.1 20221205, newlib-nano, ``-mcpu=cortex-m4 -mthumb -mfloat-abi=hard
-mfpu=fpv4-sp-d16 -Os -DNDEBUG``, ``--gc-sections``, CMAKE_BUILD_TYPE MinSizeRel) against tflite-micro
commit 90b983c2 with flatbuffers v25.9.23 + TFLM's patch, gemmlowp 719139ce and ruy d3712831 (the
pinned third-party versions). The TFLM library is built once; the demo is then relinked with its op
resolver holding no op, and each op alone; ``arm-none-eabi-size`` gives text + data of each ELF.

- CORE_BYTES = size(no op) - model bytes - the demo's sample IO arrays: the interpreter, allocator,
  flatbuffer reading, the demo's own code and newlib-nano (35968 + 112 B
  - 9584 model - 74 IO).
- KERNEL_BYTES[op] = size({op}) - size(no op): the kernel and every helper it alone pulls in. Helpers
  shared by several kernels count in each, so CORE_BYTES + the sum over a model's ops is an upper
  bound of the runtime such a build links (checked in VALIDATION and tests/backends/mcu/test_mcu_flash.py).
- SAFETY covers other compilers and TFLM revisions close to the measured one.
Ops whose figure is missing (none today) count
as the largest measured kernel.

Stack (STACK_BYTES), from ``-fstack-usage`` of the same build: main 8 + RunModel 80 +
MicroInterpreter::Invoke 8 + InvokeSubgraph 48 B; the largest kernel frame among conv, depthwise conv,
fully connected, add, mul, pooling, softmax, concatenation, strided slice, reduce, reshape, SVDF and
LSTM is 448 B (concatenation), counted twice for its deepest callee; 1 KiB for newlib's printf path
(MicroPrintf -> DebugLog); rounded up to 3 KiB. A derived bound, not a measured peak.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

CORE_BYTES = 26422
KERNEL_BYTES: dict[str, int] = {
    "ABS": 6656,
    "ADD": 10564,
    "ADD_N": 6772,
    "ARG_MAX": 1888,
    "ARG_MIN": 1888,
    "ASSIGN_VARIABLE": 1688,
    "AVERAGE_POOL_2D": 6048,
    "BATCH_MATMUL": 11132,
    "BATCH_TO_SPACE_ND": 2380,
    "BROADCAST_ARGS": 2252,
    "BROADCAST_TO": 3320,
    "CALL_ONCE": 772,
    "CAST": 2588,
    "CEIL": 1828,
    "CONCATENATION": 5128,
    "CONV_2D": 11984,
    "COS": 6024,
    "CUMSUM": 6836,
    "DEPTHWISE_CONV_2D": 11392,
    "DEPTH_TO_SPACE": 3360,
    "DEQUANTIZE": 3392,
    "DIV": 9944,
    "DYNAMIC_UPDATE_SLICE": 3652,
    "ELU": 3164,
    "EMBEDDING_LOOKUP": 3620,
    "EQUAL": 8928,
    "EXP": 2412,
    "EXPAND_DIMS": 2140,
    "FILL": 2040,
    "FLOOR": 1144,
    "FLOOR_DIV": 6056,
    "FLOOR_MOD": 3784,
    "FULLY_CONNECTED": 9680,
    "GATHER": 2852,
    "GATHER_ND": 2556,
    "GREATER": 9216,
    "GREATER_EQUAL": 8288,
    "HARD_SWISH": 5452,
    "IF": 2328,
    "L2_NORMALIZATION": 2768,
    "L2_POOL_2D": 3988,
    "LEAKY_RELU": 5724,
    "LESS": 8288,
    "LESS_EQUAL": 8288,
    "LOG": 2524,
    "LOGICAL_AND": 2192,
    "LOGICAL_NOT": 1848,
    "LOGICAL_OR": 2192,
    "LOGISTIC": 8260,
    "LOG_SOFTMAX": 9520,
    "MAXIMUM": 5856,
    "MAX_POOL_2D": 6136,
    "MEAN": 9236,
    "MINIMUM": 5856,
    "MIRROR_PAD": 1472,
    "MUL": 10496,
    "NEG": 876,
    "NOT_EQUAL": 8928,
    "PACK": 1652,
    "PAD": 6016,
    "PADV2": 6016,
    "PRELU": 7252,
    "QUANTIZE": 7044,
    "READ_VARIABLE": 816,
    "REDUCE_ALL": 6344,
    "REDUCE_MAX": 7744,
    "REDUCE_MIN": 7744,
    "RELU": 5592,
    "RELU6": 2712,
    "RESHAPE": 2312,
    "RESIZE_BILINEAR": 4028,
    "RESIZE_NEAREST_NEIGHBOR": 3620,
    "REVERSE_V2": 5164,
    "ROUND": 1896,
    "RSQRT": 7272,
    "SELECT_V2": 6476,
    "SHAPE": 1156,
    "SIN": 6024,
    "SLICE": 3700,
    "SOFTMAX": 10752,
    "SPACE_TO_BATCH_ND": 2412,
    "SPACE_TO_DEPTH": 3368,
    "SPLIT": 2012,
    "SPLIT_V": 2172,
    "SQRT": 1980,
    "SQUARE": 1880,
    "SQUARED_DIFFERENCE": 9912,
    "SQUEEZE": 2620,
    "STRIDED_SLICE": 6732,
    "SUB": 10728,
    "SUM": 9280,
    "SVDF": 11324,
    "TANH": 8468,
    "TRANSPOSE": 2720,
    "TRANSPOSE_CONV": 11600,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": 17964,
    "UNPACK": 1492,
    "VAR_HANDLE": 908,
    "WHILE": 2560,
    "ZEROS_LIKE": 1124,
}
SAFETY = 0.05
STACK_BYTES = 3 * 1024

# Real builds the estimate is checked against: (model, distinct ops, measured runtime text+data besides
# the model and IO arrays, estimate of the same).
VALIDATION = [
    {
        "model": "examples/digits (hwquant build --target mcu)",
        "ops": ["CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "RESHAPE", "SOFTMAX"],
        "model_bytes": 9584,
        "io_bytes": 74,
        "measured_text_data_bytes": 62200,
        "measured_runtime_bytes": 52542,
        "estimate_runtime_bytes": 70651,
    },
    {
        "model": "10-op CNN (conv, depthwise, add, max/avg pool, strided slice, concat, mean, FC, softmax)",
        "ops": [
            "ADD",
            "AVERAGE_POOL_2D",
            "CONCATENATION",
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "FULLY_CONNECTED",
            "MAX_POOL_2D",
            "MEAN",
            "SOFTMAX",
            "STRIDED_SLICE",
        ],
        "model_bytes": 5688,
        "io_bytes": 266,
        "measured_text_data_bytes": 80332,
        "measured_runtime_bytes": 74378,
        "estimate_runtime_bytes": 119778,
    },
]


def runtime_bytes(ops: Iterable[str]) -> dict[str, Any]:
    """Upper bound of the TFLM runtime's flash for a resolver registering ``ops`` (Cortex-M4)."""
    ops = sorted(set(ops))
    largest = max(KERNEL_BYTES.values())
    kernels = {op: KERNEL_BYTES.get(op, largest) for op in ops}
    raw = CORE_BYTES + sum(kernels.values())
    return {
        "total_bytes": math.ceil(raw * (1 + SAFETY)),
        "core_bytes": CORE_BYTES,
        "kernel_bytes": kernels,
        "unmeasured_ops": [op for op in ops if op not in KERNEL_BYTES],
        "safety": SAFETY,
        "method": "measured per kernel on Cortex-M4 (hwquant_backends/_tflm/flash_figures.py), summed: an upper bound",
    }
