"""Bounds checks for a parsed .tflite model, so a damaged file is exit 2 and never an IndexError.

The flatbuffer schema parser accepts any bytes it can walk; indices inside the model (tensor,
buffer, opcode, subgraph) are plain integers that a truncated or altered file can set to
anything. ``validate`` checks each one, and the shape of every quantization record, once,
right after parsing, so the readers in tflite_model.py can index freely.
"""

from __future__ import annotations

from typing import Any

from hwquant.common.errors import InputError

HINT = "pass a .tflite file produced by the TFLite converter"


def _ints(values: Any) -> list[int]:
    return [] if values is None else [int(v) for v in values]


def validate(m: Any, size: int, source: str) -> None:
    """Raise InputError ("not a valid .tflite file: ...") naming the first out-of-range reference."""

    def bad(what: str) -> None:
        raise InputError(f"not a valid .tflite file: {source}: {what}", hint=HINT)

    subgraphs = m.subgraphs or []
    if not subgraphs:
        bad("the model has no subgraph")
    buffers = m.buffers or []
    ncodes = len(m.operatorCodes or [])
    for b, buf in enumerate(buffers):
        if buf is None:
            bad(f"buffer {b} is missing")
        off, n = int(getattr(buf, "offset", 0) or 0), int(getattr(buf, "size", 0) or 0)
        if off < 0 or n < 0 or (n and off + n > size):
            bad(f"buffer {b} points outside the file (offset {off}, size {n}, file {size} bytes)")
    for s, sg in enumerate(subgraphs):
        if sg is None:
            bad(f"subgraph {s} is missing")
        tensors = sg.tensors or []
        n = len(tensors)
        for i, t in enumerate(tensors):
            if t is None:
                bad(f"subgraph {s} tensor {i} is missing")
            if not (0 <= int(t.buffer) < max(len(buffers), 1)):
                bad(f"subgraph {s} tensor {i} refers to buffer {t.buffer} of {len(buffers)}")
            shape = _ints(t.shape)
            if any(d < 0 for d in shape):
                bad(f"subgraph {s} tensor {i} has a negative dimension {shape}")
            q = t.quantization
            if q is not None and q.scale is not None and len(q.scale):
                if q.zeroPoint is None or len(q.zeroPoint) != len(q.scale):
                    bad(
                        f"subgraph {s} tensor {i}: {len(q.scale)} scale(s) but "
                        f"{0 if q.zeroPoint is None else len(q.zeroPoint)} zero point(s)"
                    )
                if len(q.scale) > 1 and not 0 <= int(q.quantizedDimension) < max(len(shape), 1):
                    bad(
                        f"subgraph {s} tensor {i}: quantized dimension {q.quantizedDimension} of a "
                        f"{len(shape)}-D tensor"
                    )
        for kind in ("inputs", "outputs"):
            for j in _ints(getattr(sg, kind)):
                if not 0 <= j < n:
                    bad(f"subgraph {s} {kind[:-1]} refers to tensor {j} of {n}")
        for k, op in enumerate(sg.operators or []):
            if op is None:
                bad(f"subgraph {s} operator {k} is missing")
            if not 0 <= int(op.opcodeIndex) < ncodes:
                bad(f"subgraph {s} operator {k} refers to operator code {op.opcodeIndex} of {ncodes}")
            for kind in ("inputs", "outputs", "intermediates"):
                for j in _ints(getattr(op, kind, None)):
                    if not -1 <= j < n:  # -1 marks an omitted optional input
                        bad(f"subgraph {s} operator {k} {kind[:-1]} refers to tensor {j} of {n}")
    for code in m.operatorCodes or []:
        if code is None:
            bad("an operator code is missing")
    for sd in m.signatureDefs or []:
        if sd is None or not 0 <= int(sd.subgraphIndex) < len(subgraphs):
            bad(f"a signature refers to subgraph {getattr(sd, 'subgraphIndex', None)} of {len(subgraphs)}")
        n = len(subgraphs[sd.subgraphIndex].tensors or [])
        for t in (sd.inputs or []) + (sd.outputs or []):
            if t is None or not 0 <= int(t.tensorIndex) < n:
                bad(f"a signature refers to tensor {getattr(t, 'tensorIndex', None)} of {n}")
    for md in m.metadata or []:
        if md is None or not 0 <= int(md.buffer) < max(len(buffers), 1):
            bad("a metadata entry refers to a buffer outside the model")
