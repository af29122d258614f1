"""Single-op .tflite models, built directly as flatbuffers (no converter: milliseconds per model).

``model(op, dtype)`` returns the bytes of a model holding one ``op`` whose compute dtype is
``dtype`` (float32, int8 and int16 quantized per the TFLite quantization spec, int32, int64,
bool), with inputs, constants, options and quantization parameters valid for that op, the way
TFLite's own kernel tests build one model per kernel and dtype. ``SPECS`` says which dtypes
each op can be generated for; the op-table tests run every one in the real runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as S

Q = {
    "int8": (0.05, 0),
    "int16": (0.0005, 0),
    "uint8": (0.05, 128),
}  # activation (scale, zero point) per quantized dtype
# outputs whose range the kernels fix (TFLite quantization spec): (scale, zero point)
FIXED_OUT = {
    "LOGISTIC": {"int8": (1 / 256, -128), "int16": (1 / 32768, 0)},
    "SOFTMAX": {"int8": (1 / 256, -128), "int16": (1 / 32768, 0)},
    "TANH": {"int8": (1 / 128, 0), "int16": (1 / 32768, 0)},
    "LOG_SOFTMAX": {"int8": (16 / 256, 127), "int16": (16 / 32768, 0)},
    "L2_NORMALIZATION": {"int8": (1 / 128, 0), "int16": (1 / 32768, 0)},
}
_NP = {
    "float32": np.float32,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "bool": np.bool_,
    "uint8": np.uint8,
    "float16": np.float16,
}
_TT = {
    "float32": S.TensorType.FLOAT32,
    "int8": S.TensorType.INT8,
    "int16": S.TensorType.INT16,
    "int32": S.TensorType.INT32,
    "int64": S.TensorType.INT64,
    "bool": S.TensorType.BOOL,
    "uint8": S.TensorType.UINT8,
    "float16": S.TensorType.FLOAT16,
}


@dataclass
class In:
    """A model input: of the row's dtype unless ``dtype`` says otherwise ("float" = float32 even in
    quantized rows; "int32c" = int32 without quantization; "q8", for QUANTIZE's output = int8 in float32
    and uint8 rows, the row's dtype otherwise)."""

    shape: tuple[int, ...]
    dtype: str | None = None


@dataclass
class Const:
    value: Any
    dtype: str = "int32"
    row_dtype: bool = False  # the constant takes the row's dtype (quantized like activations)


@dataclass
class Weight:
    shape: tuple[int, ...]


@dataclass
class Bias:
    n: int


@dataclass
class Out:
    dtype: str | None = None  # default: the row's dtype (quantized like activations)


@dataclass
class Spec:
    inputs: list
    dtypes: tuple[str, ...]
    options: tuple[str, dict] | None = None
    outputs: list = field(default_factory=lambda: [Out()])
    out_shape: tuple[int, ...] | None = None  # default: the first input's shape (kernels resize it)
    version: int = 1  # the operator version (a few kernels are registered from a later one)


F = ("float32",)
FQ = ("float32", "int8", "int16")
NUM = ("float32", "int8", "int16", "int32", "int64")
INTS = ("int32", "int64")
MOVE = (*NUM, "uint8", "bool")  # ops that move or compare bytes: tried in every dtype
X4 = (1, 2, 2, 4)


def _unary(dtypes=FQ, options=None, shape=X4):
    return Spec([In(shape)], dtypes, options)


def _binary(dtypes=NUM, options=None, out=None):
    return Spec([In(X4), In(X4)], dtypes, options, [Out(out)])


def _reduce(dtypes=NUM):
    return Spec([In(X4), Const([1, 2])], dtypes, ("ReducerOptions", {"keepDims": True}))


_POOL = ("Pool2DOptions", {"padding": S.Padding.VALID, "strideW": 1, "strideH": 1, "filterWidth": 2, "filterHeight": 2})
_CONV = ("Conv2DOptions", {"padding": S.Padding.SAME, "strideW": 1, "strideH": 1})

SPECS: dict[str, Spec] = {
    # element-wise, one input
    **{
        op: _unary()
        for op in (
            "ABS",
            "ELU",
            "EXP",
            "HARD_SWISH",
            "LOG",
            "LOGISTIC",
            "NEG",
            "RELU",
            "RELU6",
            "RELU_N1_TO_1",
            "RELU_0_TO_1",
            "RSQRT",
            "SQRT",
            "SQUARE",
            "TANH",
            "SIN",
            "COS",
            "CEIL",
            "FLOOR",
            "ROUND",
            "SIGN",
            "ZEROS_LIKE",
        )
    },
    "ABS": _unary(NUM),
    "NEG": _unary(NUM),
    "SIGN": _unary(NUM),
    "ZEROS_LIKE": _unary(NUM),
    "SQUARE": _unary(NUM),
    "GELU": _unary(FQ, ("GeluOptions", {"approximate": False})),
    "LEAKY_RELU": _unary(FQ, ("LeakyReluOptions", {"alpha": 0.2})),
    "SOFTMAX": _unary(FQ, ("SoftmaxOptions", {"beta": 1.0})),
    "LOG_SOFTMAX": _unary(FQ),
    "L2_NORMALIZATION": _unary(FQ, ("L2NormOptions", {})),
    "LOCAL_RESPONSE_NORMALIZATION": _unary(
        FQ, ("LocalResponseNormalizationOptions", {"radius": 1, "bias": 1.0, "alpha": 1.0, "beta": 0.5})
    ),
    "LOGICAL_NOT": _unary(("bool",)),
    "QUANTIZE": Spec([In(X4)], FQ, outputs=[Out("q8")]),
    "DEQUANTIZE": Spec([In(X4)], ("int8", "int16"), outputs=[Out("float32")]),
    "CAST": Spec([In(X4)], ("float32", "int32", "int64", "bool"), outputs=[Out("int32c")]),
    # element-wise, two inputs
    **{
        op: _binary()
        for op in (
            "ADD",
            "SUB",
            "MUL",
            "MAXIMUM",
            "MINIMUM",
            "SQUARED_DIFFERENCE",
            "DIV",
            "FLOOR_DIV",
            "FLOOR_MOD",
            "POW",
        )
    },
    "ADD": _binary(options=("AddOptions", {})),
    "SUB": _binary(options=("SubOptions", {})),
    "MUL": _binary(options=("MulOptions", {})),
    "DIV": _binary(options=("DivOptions", {})),
    "ADD_N": _binary(),
    "ATAN2": _binary(F),
    "PRELU": Spec([In(X4), Const(np.full((1, 1, 4), 0.25), "float32", row_dtype=True)], FQ),
    **{op: _binary(NUM, out="bool") for op in ("EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL")},
    "LOGICAL_AND": _binary(("bool",)),
    "LOGICAL_OR": _binary(("bool",)),
    "BITWISE_XOR": _binary(("int8", "int16", "int32")),
    "RIGHT_SHIFT": _binary(("int8", "int16", "int32")),
    "SELECT": Spec([In(X4, "bool"), In(X4), In(X4)], NUM),
    "SELECT_V2": Spec([In(X4, "bool"), In(X4), In(X4)], NUM),
    # reductions
    "MEAN": _reduce(),
    "SUM": _reduce(),
    "REDUCE_MAX": _reduce(),
    "REDUCE_MIN": _reduce(),
    "REDUCE_PROD": _reduce(),
    "REDUCE_ANY": _reduce(("bool",)),
    "REDUCE_ALL": _reduce(("bool",)),
    "ARG_MAX": Spec([In(X4), Const([3])], NUM, ("ArgMaxOptions", {"outputType": S.TensorType.INT32}), [Out("int32c")]),
    "ARG_MIN": Spec([In(X4), Const([3])], NUM, ("ArgMinOptions", {"outputType": S.TensorType.INT32}), [Out("int32c")]),
    "CUMSUM": Spec([In(X4), Const(3)], NUM, ("CumsumOptions", {})),
    "TOPK_V2": Spec([In((1, 4)), Const(2)], NUM, outputs=[Out(), Out("int32c")]),
    # pooling, convolution, matmul
    "AVERAGE_POOL_2D": Spec([In(X4)], FQ, _POOL),
    "MAX_POOL_2D": Spec([In(X4)], FQ, _POOL),
    "L2_POOL_2D": Spec([In(X4)], FQ, _POOL),
    "CONV_2D": Spec([In((1, 4, 4, 3)), Weight((2, 2, 2, 3)), Bias(2)], FQ, _CONV),
    "DEPTHWISE_CONV_2D": Spec(
        [In((1, 4, 4, 3)), Weight((1, 2, 2, 3)), Bias(3)],
        FQ,
        ("DepthwiseConv2DOptions", {**_CONV[1], "depthMultiplier": 1}),
    ),
    "TRANSPOSE_CONV": Spec(
        [Const([1, 4, 4, 2]), Weight((2, 2, 2, 3)), In((1, 4, 4, 3)), Bias(2)],
        FQ,
        ("TransposeConvOptions", {"padding": S.Padding.SAME, "strideW": 1, "strideH": 1}),
    ),
    "FULLY_CONNECTED": Spec([In((1, 4)), Weight((2, 4)), Bias(2)], FQ, ("FullyConnectedOptions", {})),
    "BATCH_MATMUL": Spec([In((1, 2, 3)), In((1, 3, 2))], FQ, ("BatchMatMulOptions", {})),
    "CONV_3D": Spec(
        [In((1, 2, 4, 4, 3)), Weight((1, 2, 2, 3, 2)), Bias(2)],
        FQ,
        (
            "Conv3DOptions",
            {
                "padding": S.Padding.SAME,
                "strideD": 1,
                "strideW": 1,
                "strideH": 1,
                "dilationDFactor": 1,
                "dilationWFactor": 1,
                "dilationHFactor": 1,
            },
        ),
    ),
    # shape and data movement
    "RESHAPE": Spec([In(X4), Const([1, 16])], NUM),
    "SQUEEZE": Spec([In((1, 4))], NUM, ("SqueezeOptions", {"squeezeDims": [0]})),
    "EXPAND_DIMS": Spec([In(X4), Const(0)], NUM),
    "TRANSPOSE": Spec([In(X4), Const([0, 2, 1, 3])], NUM),
    "PAD": Spec([In(X4), Const([[0, 0], [1, 1], [1, 1], [0, 0]])], NUM),
    "PADV2": Spec([In(X4), Const([[0, 0], [1, 1], [1, 1], [0, 0]]), Const(0, "float32", row_dtype=True)], NUM),
    "MIRROR_PAD": Spec(
        [In(X4), Const([[0, 0], [1, 1], [1, 1], [0, 0]])], NUM, ("MirrorPadOptions", {"mode": S.MirrorPadMode.REFLECT})
    ),
    "SLICE": Spec([In(X4), Const([0, 0, 0, 0]), Const([1, 1, 2, 2])], NUM, out_shape=(1, 1, 2, 2)),
    "STRIDED_SLICE": Spec(
        [In(X4), Const([0, 0, 0, 0]), Const([1, 2, 2, 4]), Const([1, 1, 1, 2])], NUM, ("StridedSliceOptions", {})
    ),
    "CONCATENATION": Spec([In(X4), In(X4)], NUM, ("ConcatenationOptions", {"axis": 3})),
    "PACK": Spec([In(X4), In(X4)], NUM, ("PackOptions", {"valuesCount": 2, "axis": 0})),
    "UNPACK": Spec([In((2, 4))], NUM, ("UnpackOptions", {"num": 2, "axis": 0}), [Out(), Out()]),
    "SPLIT": Spec([Const(3), In(X4)], NUM, ("SplitOptions", {"numSplits": 2}), [Out(), Out()]),
    "SPLIT_V": Spec([In(X4), Const([2, 2]), Const(3)], NUM, ("SplitVOptions", {"numSplits": 2}), [Out(), Out()]),
    "TILE": Spec([In(X4), Const([1, 1, 1, 2])], NUM),
    "BROADCAST_TO": Spec([In((1, 4)), Const([2, 4])], NUM, version=2),
    "GATHER": Spec([In(X4), Const([0, 1])], NUM, ("GatherOptions", {"axis": 3})),
    "GATHER_ND": Spec([In(X4), Const([[0, 0]])], NUM),
    "REVERSE_V2": Spec([In(X4), Const([1])], NUM),
    "SHAPE": Spec([In(X4)], NUM, ("ShapeOptions", {"outType": S.TensorType.INT32}), [Out("int32c")]),
    "RANK": Spec([In(X4)], NUM, outputs=[Out("int32c")]),
    "FILL": Spec([Const([2, 2]), In(())], NUM),
    "DEPTH_TO_SPACE": Spec([In(X4)], NUM, ("DepthToSpaceOptions", {"blockSize": 2})),
    "SPACE_TO_DEPTH": Spec([In(X4)], NUM, ("SpaceToDepthOptions", {"blockSize": 2})),
    "BATCH_TO_SPACE_ND": Spec([In((4, 1, 1, 1)), Const([2, 2]), Const([[0, 0], [0, 0]])], NUM),
    "SPACE_TO_BATCH_ND": Spec([In((1, 2, 2, 1)), Const([2, 2]), Const([[0, 0], [0, 0]])], NUM),
    "RESIZE_BILINEAR": Spec([In((1, 2, 2, 3)), Const([4, 4])], NUM, ("ResizeBilinearOptions", {})),
    "RESIZE_NEAREST_NEIGHBOR": Spec([In((1, 2, 2, 3)), Const([4, 4])], NUM, ("ResizeNearestNeighborOptions", {})),
    "EMBEDDING_LOOKUP": Spec([In((2,), "int32c"), Const(np.ones((3, 4)), "float32", row_dtype=True)], FQ),
    "WHERE": Spec([In(X4)], ("bool", "float32", "int32"), outputs=[Out("int64c")]),
    "ONE_HOT": Spec(
        [In((2,), "int32c"), Const(3), Const(1, "float32", row_dtype=True), Const(0, "float32", row_dtype=True)],
        NUM,
        ("OneHotOptions", {"axis": -1}),
    ),
    "DYNAMIC_UPDATE_SLICE": Spec([In(X4), In((1, 1, 1, 4)), Const([0, 0, 0, 0])], NUM),
    "MATRIX_DIAG": Spec([In((2, 3))], NUM),
    "MATRIX_SET_DIAG": Spec([In((2, 3)), In((2,))], NUM),
    "REVERSE_SEQUENCE": Spec(
        [In((2, 3)), Const([1, 2])], NUM, ("ReverseSequenceOptions", {"seqDim": 1, "batchDim": 0})
    ),
    "SEGMENT_SUM": Spec([In((2, 3)), Const([0, 1])], NUM),
    "UNSORTED_SEGMENT_SUM": Spec([In((2, 3)), Const([0, 1]), Const(2)], NUM),
    "UNSORTED_SEGMENT_MAX": Spec([In((2, 3)), Const([0, 1]), Const(2)], NUM),
    "UNSORTED_SEGMENT_MIN": Spec([In((2, 3)), Const([0, 1]), Const(2)], NUM),
    "UNSORTED_SEGMENT_PROD": Spec([In((2, 3)), Const([0, 1]), Const(2)], NUM),
    "SCATTER_ND": Spec([Const([[0], [1]]), In((2, 3)), Const([3, 3])], NUM),
    "RANGE": Spec([In(()), Const(4, "float32", row_dtype=True), Const(1, "float32", row_dtype=True)], NUM),
    "UNIQUE": Spec([In((4,))], NUM, ("UniqueOptions", {"idxOutType": S.TensorType.INT32}), [Out(), Out("int32c")]),
    "BROADCAST_ARGS": Spec([In((2,)), In((2,))], INTS),
    "SPARSE_TO_DENSE": Spec([Const([[0], [2]]), Const([4]), In((2,)), Const(0, "float32", row_dtype=True)], NUM),
    "BUCKETIZE": Spec(
        [In((4,))], ("float32", "int32", "int64"), ("BucketizeOptions", {"boundaries": [0.0, 1.0]}), [Out("int32c")]
    ),
}


def model(op: str, dtype: str, exact: bool = True) -> bytes:
    """The flatbuffer of a one-op model: ``op`` computing in ``dtype``.

    With ``exact``, output tensors get the shapes LiteRT's shape inference gives them (TFLM, unlike
    LiteRT, does not resize outputs); otherwise they repeat the first input's shape.
    """
    spec = SPECS[op]
    shapes = output_shapes(op, dtype) if exact else None
    quantized = dtype in Q
    tensors: list[S.TensorT] = []
    buffers = [S.BufferT()]

    def tensor(shape, dt, quant=None, data=None, name=""):
        t = S.TensorT()
        t.shape, t.type, t.name = list(shape), _TT[dt], f"{name}{len(tensors)}"
        t.buffer = 0
        if data is not None:
            b = S.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data, dtype=_NP[dt]).tobytes(), np.uint8).tolist()
            buffers.append(b)
            t.buffer = len(buffers) - 1
        if quant is not None:
            q = S.QuantizationParametersT()
            q.scale, q.zeroPoint = (
                list(np.atleast_1d(quant[0]).astype(float)),
                list(np.atleast_1d(quant[1]).astype(int)),
            )
            t.quantization = q
        tensors.append(t)
        return len(tensors) - 1

    def resolve(kind: str | None) -> tuple[str, Any]:
        """(dtype, quantization) for a tensor that is the row's dtype unless ``kind`` says otherwise."""
        if kind is None:
            return dtype, Q.get(dtype)
        if kind == "float":
            return "float32", None
        if kind == "q8":
            return ("int8", Q["int8"]) if dtype in ("float32", "uint8") else (dtype, Q.get(dtype))
        if kind.endswith("c"):  # a fixed dtype: int32c, int64c
            return kind[:-1], None
        return kind, Q.get(kind)

    inputs, op_inputs = [], []
    in_scale = Q[dtype][0] if quantized else 1.0
    w_scale = 0.02
    for _i, item in enumerate(spec.inputs):
        if isinstance(item, In):
            dt, q = resolve(item.dtype)
            idx = tensor(item.shape, dt, q, name="in")
            inputs.append(idx)
        elif isinstance(item, Const):
            value = np.asarray(item.value)
            if item.row_dtype:
                dt, q = resolve(None)
                if quantized:
                    value = np.round(value / q[0]).astype(_NP[dt]) + q[1]
                idx = tensor(value.shape, dt, q, value.astype(_NP[dt]), name="const")
            else:
                idx = tensor(value.shape, item.dtype, None, value.astype(_NP[item.dtype]), name="const")
        elif isinstance(item, Weight):
            if quantized:
                w = np.ones(item.shape, np.int8)
                idx = tensor(item.shape, "int8", (w_scale, 0), w, name="w")
            else:
                idx = tensor(item.shape, dtype, None, np.full(item.shape, 0.1, _NP[dtype]), name="w")
        elif isinstance(item, Bias):
            if quantized:
                bdt = "int64" if dtype == "int16" else "int32"
                idx = tensor((item.n,), bdt, (in_scale * w_scale, 0), np.zeros(item.n, _NP[bdt]), name="b")
            else:
                idx = tensor((item.n,), dtype, None, np.zeros(item.n, _NP[dtype]), name="b")
        op_inputs.append(idx)

    out_shape = list(spec.out_shape or next((tensors[i].shape for i in inputs if tensors[i].shape), [1]))
    outputs = []
    for k, o in enumerate(spec.outputs):
        dt, q = resolve(o.dtype)
        shape = shapes[k] if shapes else out_shape
        if q is not None and op in FIXED_OUT:
            q = FIXED_OUT[op][dt]
        outputs.append(tensor(shape, dt, q, name="out"))

    code = getattr(S.BuiltinOperator, op)
    oc = S.OperatorCodeT()
    oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), spec.version
    o = S.OperatorT()
    o.opcodeIndex, o.inputs, o.outputs = 0, op_inputs, outputs
    if spec.options is not None:
        name, fields = spec.options
        opts = getattr(S, name + "T")()
        for k, v in fields.items():
            setattr(opts, k, v)
        o.builtinOptionsType, o.builtinOptions = getattr(S.BuiltinOptions, name), opts
    sg = S.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = tensors, inputs, outputs, [o], "main"
    m = S.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers, m.description = 3, [oc], [sg], buffers, f"hwquant opgen {op}"
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


_SHAPES: dict[str, list | None] = {}


def output_shapes(op: str, dtype: str) -> list | None:
    """The output shapes LiteRT infers for ``op`` (from the first of its dtypes that LiteRT runs)."""
    if op not in _SHAPES:
        from ai_edge_litert.interpreter import Interpreter

        _SHAPES[op] = None
        for dt in sorted(SPECS[op].dtypes, key=lambda d: d != dtype):
            try:
                interp = Interpreter(model_content=model(op, dt, exact=False))
                interp.allocate_tensors()
                for d in interp.get_input_details():
                    interp.set_tensor(d["index"], fill(d))
                interp.invoke()
            except (RuntimeError, ValueError):
                continue
            _SHAPES[op] = [list(interp.get_tensor(d["index"]).shape) for d in interp.get_output_details()]
            break
    return _SHAPES[op]


def cases() -> list[tuple[str, str]]:
    """Every (op, dtype) the generator can build."""
    return [(op, dt) for op, spec in sorted(SPECS.items()) for dt in spec.dtypes]


def fill(detail: dict) -> np.ndarray:
    """Input values for an invoke: ones (positive, so SQRT/LOG/DIV/POW stay finite), False for bool."""
    dt = detail["dtype"]
    if dt == np.bool_:
        return np.ones(detail["shape"], dt)
    if np.issubdtype(dt, np.integer) and detail.get("quantization", (0, 0))[0]:
        scale, zp = detail["quantization"]
        return np.full(detail["shape"], round(1 / scale) + zp).clip(np.iinfo(dt).min, np.iinfo(dt).max).astype(dt)
    return np.ones(detail["shape"], dt)


def custom_model(code: str) -> bytes:
    """A one-op model whose op is the custom operator ``code`` (float32 in and out, no options)."""
    b = flatbuffers.Builder(256)
    t = [S.TensorT(), S.TensorT()]
    for i, x in enumerate(t):
        x.shape, x.type, x.name, x.buffer = [1, 4], S.TensorType.FLOAT32, f"t{i}", 0
    oc = S.OperatorCodeT()
    oc.builtinCode, oc.deprecatedBuiltinCode, oc.customCode, oc.version = S.BuiltinOperator.CUSTOM, 32, code, 1
    o = S.OperatorT()
    o.opcodeIndex, o.inputs, o.outputs = 0, [0], [1]
    sg = S.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators = t, [0], [1], [o]
    m = S.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, [oc], [sg], [S.BufferT()]
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def run_litert(content: bytes) -> str | None:
    """Allocate and invoke ``content`` in LiteRT with every input filled; None when it runs, else the error."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interp = Interpreter(model_content=content)
        interp.allocate_tensors()
        for d in interp.get_input_details():
            interp.set_tensor(d["index"], fill(d))
        interp.invoke()
    except (RuntimeError, ValueError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def _tflm_worker() -> None:
    """The child of ``run_tflm`` (``python -m tests.helpers.opgen``): one (op, dtype) per stdin line."""
    import sys

    from tflite_micro.python.tflite_micro import runtime

    for line in sys.stdin:
        op, dt = line.split()
        print(f"@@ {op} {dt}", file=sys.stderr, flush=True)
        try:
            it = runtime.Interpreter.from_bytes(model(op, dt), arena_size=256 * 1024)
            i = 0
            while True:
                try:
                    d = it.get_input_details(i)
                except (IndexError, RuntimeError, ValueError):
                    break
                it.set_input(
                    fill({"dtype": d["dtype"], "shape": d["shape"], "quantization": d.get("quantization", (0, 0))}), i
                )
                i += 1
            it.invoke()
            print(op, dt, "ok", flush=True)
        except RuntimeError:
            print(op, dt, "fail", flush=True)


def run_tflm(cases: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """Allocate and invoke each generated model in the tflite-micro Python interpreter, in a child
    process (TFLM aborts the process on some malformed models; a crash fails only that case).
    Returns (op, dtype) -> None when it ran, else TFLM's message."""
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    results: dict[tuple[str, str], str | None] = {}
    todo = list(cases)
    while todo:
        p = subprocess.run(
            [sys.executable, "-m", "tests.helpers.opgen"],
            cwd=repo,  # `-m` imports tests.helpers from the working folder
            input="".join(f"{o} {d}\n" for o, d in todo),
            capture_output=True,
            text=True,
            timeout=600,
        )
        logs: dict[tuple[str, str], list[str]] = {}
        current = None
        for line in p.stderr.splitlines():
            if line.startswith("@@ "):
                current = tuple(line[3:].split())
                logs[current] = []
            elif current is not None and line.strip():
                logs[current].append(line.strip())
        for line in p.stdout.splitlines():
            op, dt, verdict = line.split()
            results[(op, dt)] = None if verdict == "ok" else (" ".join(logs.get((op, dt), [])) or "TFLM failed")
        todo = [c for c in todo if c not in results]
        if todo and p.returncode != 0:  # the first unfinished case crashed the interpreter
            results[todo[0]] = f"TFLM crashed (exit {p.returncode}): " + " ".join(logs.get(todo[0], []))[-300:]
            todo = todo[1:]
        elif todo:
            raise RuntimeError(f"TFLM worker stopped early: {p.stderr[-500:]}")
    return results


# data movement and comparisons: every dtype
for _op in (
    "RESHAPE",
    "SQUEEZE",
    "EXPAND_DIMS",
    "SHAPE",
    "REVERSE_V2",
    "BROADCAST_TO",
    "CONCATENATION",
    "SLICE",
    "STRIDED_SLICE",
    "TRANSPOSE",
    "PACK",
    "UNPACK",
    "GATHER",
    "TILE",
    "FILL",
    "EQUAL",
    "NOT_EQUAL",
):
    SPECS[_op].dtypes = MOVE
SPECS["CAST"].dtypes = ("float32", "int8", "int16", "uint8", "int32", "int64", "bool")
SPECS["DEQUANTIZE"].dtypes = ("int8", "int16", "uint8")
SPECS["QUANTIZE"].dtypes = ("float32", "int8", "int16", "uint8")


if __name__ == "__main__":
    _tflm_worker()
