"""``hwquant inspect FILE.tflite``: what a converted model holds, read from the flatbuffer.

Inputs/outputs (dtype, shape, scale, zero point), op counts by type and dtype, per-tensor
quantization (per-axis scales summarized), bytes in weights vs graph. No TensorFlow: the
flatbuffer is read through the schema that ai_edge_litert ships (hwquant.tflite_model).
"""

from __future__ import annotations

import json
import struct
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwquant.common.errors import HwquantError
from hwquant.device.tflite_model import Quant, Tensor, TfliteModel

if TYPE_CHECKING:
    from rich.console import Console


def _quant(q: Quant | None) -> dict[str, Any] | None:
    """One tensor's quantization; per-axis scales as count/min/max instead of every value."""
    if q is None:
        return None
    if not q.per_axis:
        return {"scheme": "per-tensor", "scale": float(q.scale[0]), "zero_point": int(q.zero_point[0])}
    zps = np.unique(q.zero_point)
    return {
        "scheme": "per-axis",
        "axis": q.axis,
        "count": int(q.scale.size),
        "scale_min": float(q.scale.min()),
        "scale_max": float(q.scale.max()),
        "zero_point": int(zps[0]) if zps.size == 1 else {"min": int(zps.min()), "max": int(zps.max())},
    }


def _io(t: Tensor, name: str | None = None) -> dict[str, Any]:
    q = _quant(t.quant)
    return {
        "name": name or t.name,
        "tensor": t.name,
        "index": t.index,
        "dtype": t.dtype,
        "shape": list(t.shape),
        "shape_signature": list(t.shape_signature),
        "scale": q.get("scale") if q and q["scheme"] == "per-tensor" else None,
        "zero_point": q.get("zero_point") if q and q["scheme"] == "per-tensor" else None,
    }


def inspect_model(model: TfliteModel) -> dict[str, Any]:
    """Everything ``hwquant inspect`` shows, as plain data."""
    sigs = model.signatures
    if sigs:
        signatures = {
            key: {
                "subgraph": s["subgraph"],
                "inputs": [_io(t, n) for n, t in s["inputs"].items()],
                "outputs": [_io(t, n) for n, t in s["outputs"].items()],
            }
            for key, s in sigs.items()
        }
    else:
        ins, outs = model.io(0)
        signatures = {"": {"subgraph": 0, "inputs": [_io(t) for t in ins], "outputs": [_io(t) for t in outs]}}

    by_type_dtype = Counter((op.name, op.dtype) for op in model.ops)
    ops = [{"op": name, "dtype": dtype, "count": n} for (name, dtype), n in sorted(by_type_dtype.items())]

    tensors = []
    quantized_dtypes: Counter[str] = Counter()
    weight_dtypes: Counter[str] = Counter()
    for s, ts in enumerate(model.subgraph_tensors):
        for t in ts:
            if t.is_constant:
                weight_dtypes[t.dtype] += t.buffer_bytes
            q = _quant(t.quant)
            if q is None:
                continue
            quantized_dtypes[t.dtype] += 1
            tensors.append(
                {
                    "subgraph": s,
                    "index": t.index,
                    "name": t.name,
                    "dtype": t.dtype,
                    "shape": list(t.shape),
                    "constant": t.is_constant,
                    **q,
                }
            )

    weights = model.weight_bytes()
    return {
        "file": model.source,
        "size_bytes": model.size_bytes,
        "bytes": {
            "weights": weights,
            "graph": model.size_bytes - weights,
            "weights_by_dtype": dict(sorted(weight_dtypes.items())),
        },
        "subgraphs": model.num_subgraphs,
        "signatures": signatures,
        "ops": ops,
        "op_total": sum(by_type_dtype.values()),
        "quantization": {
            "tensors": tensors,
            "by_dtype": dict(sorted(quantized_dtypes.items())),
            "per_axis": sum(1 for t in tensors if t["scheme"] == "per-axis"),
        },
        "metadata": model.metadata_names,
    }


def inspect_file(path: str | Path) -> dict[str, Any]:
    return inspect_model(TfliteModel.from_file(path))


# -- rendering ------------------------------------------------------------------------------------
def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _fmt_scale(row: dict[str, Any]) -> str:
    if row["scheme"] == "per-tensor":
        return f"{row['scale']:.6g}"
    return f"{row['count']}× {row['scale_min']:.3g}…{row['scale_max']:.3g} (axis {row['axis']})"


def _fmt_shape(dims: Iterable[int]) -> str:
    return "[" + ",".join(str(d) if d >= 0 else "?" for d in dims) + "]"


def render(info: dict[str, Any], console: Console | None = None, max_tensors: int = 40) -> None:
    """Print ``info`` (from inspect_model) as rich tables."""
    from hwquant.common.console import make_console
    from hwquant.common.tables import table

    console = console or make_console()
    b = info["bytes"]
    share = 100.0 * b["weights"] / info["size_bytes"] if info["size_bytes"] else 0.0
    console.print(
        f"[bold]{info['file']}[/]  {_fmt_bytes(info['size_bytes'])}: weights {_fmt_bytes(b['weights'])} "
        f"({share:.0f}%), graph {_fmt_bytes(b['graph'])}; {info['subgraphs']} subgraph(s), "
        f"{info['op_total']} ops"
    )
    if b["weights_by_dtype"]:
        console.print(
            "weights by dtype: " + ", ".join(f"{k} {_fmt_bytes(v)}" for k, v in b["weights_by_dtype"].items())
        )

    io_rows = [
        (
            t["name"],
            key or "-",
            kind[:-1],
            t["dtype"],
            _fmt_shape(t["shape_signature"]),
            "-" if t["scale"] is None else f"{t['scale']:.6g}",
            "-" if t["zero_point"] is None else str(t["zero_point"]),
        )
        for key, sig in info["signatures"].items()
        for kind in ("inputs", "outputs")
        for t in sig[kind]
    ]
    table(console, "Inputs and outputs", ("name", "signature", "io", "dtype", "shape", "scale", "zero point"), io_rows)

    table(
        console,
        "Ops by type and dtype",
        ("op", "dtype", "count"),
        [(r["op"], r["dtype"], str(r["count"])) for r in info["ops"]],
    )

    q = info["quantization"]
    if not q["tensors"]:
        console.print("no quantized tensors")
        return
    q_rows = []
    for row in q["tensors"][:max_tensors]:
        zp = row["zero_point"]
        q_rows.append(
            (
                row["name"],
                str(row["index"]),
                row["dtype"],
                _fmt_shape(row["shape"]),
                "weight" if row["constant"] else "activation",
                _fmt_scale(row),
                f"{zp['min']}..{zp['max']}" if isinstance(zp, dict) else str(zp),
            )
        )
    title = f"Quantized tensors ({len(q['tensors'])}; {q['per_axis']} per-axis)"
    table(console, title, ("name", "#", "dtype", "shape", "kind", "scale", "zero point"), q_rows)
    if len(q["tensors"]) > max_tensors:
        console.print(f"… {len(q['tensors']) - max_tensors} more (use --json for all)")


def inspect_command(path: str, as_json: bool = False, console: Console | None = None) -> int:
    """The body of ``hwquant inspect``; returns the exit code."""
    try:
        info = inspect_file(path)
    except HwquantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (IndexError, KeyError, ValueError, TypeError, OverflowError, struct.error) as exc:
        # a damage tflite_check.validate does not know yet: still the file's fault, not a crash
        print(f"error: not a valid .tflite file: {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        render(info, console)
    return 0
