"""Read a .tflite flatbuffer through the schema that ai_edge_litert ships.

No TensorFlow here: this module is used on devices (`hwquant inspect`, `bench`) and by
backends to check a converted model op by op.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from os import PathLike
from typing import Any

import numpy as np

from hwquant.common.errors import InputError


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # old devices: tflite-runtime does not ship the schema
        try:
            from tflite_runtime import schema_py_generated as schema
        except ImportError as exc:
            raise InputError(
                "reading .tflite files needs the LiteRT runtime",
                hint="pip install ai-edge-litert",
            ) from exc
    return schema


_HINT = "pass a .tflite file produced by the TFLite converter"


def _text(value: object) -> str:
    """A flatbuffer string (bytes, UTF-8 by the spec; a damaged one is shown with replacement marks)."""
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _enum_names(enum_cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def builtin_op_names() -> frozenset[str]:
    """Every BuiltinOperator name in the schema this runtime ships (e.g. "CONV_2D")."""
    return frozenset(_enum_names(_schema().BuiltinOperator).values())


_NP_DTYPES = {
    "FLOAT32": "float32",
    "FLOAT16": "float16",
    "INT32": "int32",
    "UINT8": "uint8",
    "INT64": "int64",
    "STRING": "string",
    "BOOL": "bool",
    "INT16": "int16",
    "COMPLEX64": "complex64",
    "INT8": "int8",
    "FLOAT64": "float64",
    "UINT32": "uint32",
    "UINT16": "uint16",
    "INT4": "int4",
    "BFLOAT16": "bfloat16",
}


@dataclass
class Quant:
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int

    @property
    def per_axis(self) -> bool:
        return self.scale.size > 1


@dataclass
class Tensor:
    index: int
    name: str
    dtype: str  # numpy-style name: int8, float32, ...
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]  # -1 for dynamic dimensions
    buffer_bytes: int  # size of constant data; 0 for activations
    quant: Quant | None
    is_variable: bool = False
    buffer: int = 0

    @property
    def is_constant(self) -> bool:
        return self.buffer_bytes > 0

    @property
    def is_dynamic(self) -> bool:
        return any(d < 0 for d in self.shape_signature)


@dataclass
class Op:
    index: int  # position in its subgraph's execution order
    subgraph: int
    name: str  # builtin name (CONV_2D) or the custom code (edgetpu-custom-op)
    custom: bool
    version: int
    inputs: list[Tensor]
    outputs: list[Tensor]
    options: Any = None  # the builtin options object (schema *T class) or None
    intermediates: list[Tensor] = field(default_factory=list)

    def option(self, attr: str, default: Any = None) -> Any:
        return getattr(self.options, attr, default) if self.options is not None else default

    @property
    def fused_activation(self) -> str:
        code = self.option("fusedActivationFunction", 0)
        return TfliteModel.activation_names().get(code, str(code))

    @property
    def dtype(self) -> str:
        """The op's compute dtype, read from its first non-constant input (or output)."""
        for t in self.inputs:
            if not t.is_constant:
                return t.dtype
        return self.outputs[0].dtype if self.outputs else "none"


class TfliteModel:
    """A parsed .tflite model: subgraphs, ops in execution order, tensors, signatures."""

    def __init__(self, content: bytes, source: str = "<bytes>"):
        schema = _schema()
        if len(content) < 8 or content[4:8] != b"TFL3":
            raise InputError(
                f"{source} is not a TensorFlow Lite flatbuffer (no TFL3 identifier)",
                hint="pass a .tflite file produced by the TFLite converter",
            )
        try:
            self._m = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
        except Exception as exc:  # a truncated or corrupt flatbuffer
            raise InputError(
                f"not a valid .tflite file: {source}: cannot parse the flatbuffer ({type(exc).__name__}: {exc})",
                hint=_HINT,
            ) from exc
        self.content = bytes(content)
        self.source = source
        self._ops_names = _enum_names(schema.BuiltinOperator)
        self._types = _enum_names(schema.TensorType)
        from hwquant.device.tflite_check import validate

        validate(self._m, len(self.content), source)

    @staticmethod
    def activation_names() -> dict[int, str]:
        return _enum_names(_schema().ActivationFunctionType)

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> TfliteModel:
        try:
            with open(path, "rb") as f:
                return cls(f.read(), str(path))
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None

    @property
    def size_bytes(self) -> int:
        return len(self.content)

    def _tensor(self, sg: Any, idx: int) -> Tensor:
        t = sg.tensors[idx]
        buf = self._m.buffers[t.buffer] if self._m.buffers and t.buffer < len(self._m.buffers) else None
        nbytes = 0
        if buf is not None:
            if buf.data is not None:
                nbytes = len(buf.data)
            elif getattr(buf, "size", 0):
                nbytes = int(buf.size)
        q = None
        if t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale):
            q = Quant(
                np.asarray(t.quantization.scale, np.float32),
                np.asarray(t.quantization.zeroPoint, np.int64),
                int(t.quantization.quantizedDimension),
            )
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
        sig = tuple(int(d) for d in t.shapeSignature) if t.shapeSignature is not None else shape
        name = _text(t.name)
        return Tensor(
            idx,
            name,
            _NP_DTYPES.get(self._types.get(t.type, ""), str(t.type)),
            shape,
            sig,
            nbytes,
            q,
            bool(getattr(t, "isVariable", False)),
            int(t.buffer),
        )

    @cached_property
    def subgraph_tensors(self) -> list[list[Tensor]]:
        return [[self._tensor(sg, i) for i in range(len(sg.tensors or []))] for sg in self._m.subgraphs]

    @cached_property
    def ops(self) -> list[Op]:
        """Every operator of every subgraph, in execution order."""

        def pick(tensors: list[Tensor], idxs: Any) -> list[Tensor]:
            return [tensors[j] for j in (idxs if idxs is not None else []) if j >= 0]

        out: list[Op] = []
        for s, sg in enumerate(self._m.subgraphs):
            tensors = self.subgraph_tensors[s]
            for i, op in enumerate(sg.operators or []):
                code = self._m.operatorCodes[op.opcodeIndex]
                builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
                name = self._ops_names.get(builtin, f"BUILTIN_{builtin}")
                custom = name == "CUSTOM"
                if custom:
                    name = _text(code.customCode)
                out.append(
                    Op(
                        i,
                        s,
                        name,
                        custom,
                        int(code.version),
                        pick(tensors, op.inputs),
                        pick(tensors, op.outputs),
                        op.builtinOptions,
                        pick(tensors, getattr(op, "intermediates", None)),
                    )
                )
        return out

    def op_counts(self) -> Counter[str]:
        return Counter(op.name for op in self.ops)

    def op_names(self) -> list[str]:
        """Distinct op names in first-use order."""
        return list(dict.fromkeys(op.name for op in self.ops))

    @property
    def num_subgraphs(self) -> int:
        return len(self._m.subgraphs)

    def io(self, subgraph: int = 0) -> tuple[list[Tensor], list[Tensor]]:
        sg = self._m.subgraphs[subgraph]
        tensors = self.subgraph_tensors[subgraph]
        return [tensors[i] for i in sg.inputs], [tensors[i] for i in sg.outputs]

    @property
    def signatures(self) -> dict[str, dict[str, Any]]:
        """signature key -> {'subgraph': i, 'inputs': {name: Tensor}, 'outputs': {name: Tensor}}."""
        out = {}
        for sd in self._m.signatureDefs or []:
            key = _text(sd.signatureKey)
            tensors = self.subgraph_tensors[sd.subgraphIndex]
            dec = _text
            out[key] = {
                "subgraph": sd.subgraphIndex,
                "inputs": {dec(t.name): tensors[t.tensorIndex] for t in sd.inputs or []},
                "outputs": {dec(t.name): tensors[t.tensorIndex] for t in sd.outputs or []},
            }
        return out

    def weight_bytes(self) -> int:
        """Bytes of constant tensor data (weights, biases, other constants)."""
        seen, total = set(), 0
        for s, sg in enumerate(self._m.subgraphs):
            for t in self.subgraph_tensors[s]:
                b = sg.tensors[t.index].buffer
                if t.buffer_bytes and b not in seen:
                    seen.add(b)
                    total += t.buffer_bytes
        return total

    def constant(self, tensor: Tensor) -> np.ndarray | None:
        """The data of a constant tensor as a numpy array (None for activations)."""
        buf = self._m.buffers[tensor.buffer] if tensor.buffer < len(self._m.buffers or []) else None
        if buf is None:
            return None
        if buf.data is not None:
            raw = bytes(np.asarray(buf.data, np.uint8))
        elif getattr(buf, "size", 0):
            off = int(buf.offset)
            raw = self.content[off : off + int(buf.size)]
        else:
            return None
        if tensor.dtype in ("string", "int4", "bfloat16"):
            return np.frombuffer(raw, np.uint8)
        return np.frombuffer(raw, np.dtype(tensor.dtype)).reshape(tensor.shape)

    @property
    def metadata_names(self) -> list[str]:
        return [_text(m.name) for m in (self._m.metadata or [])]
