"""Predict, from the quantized model alone, what edgetpu_compiler will map to the Edge TPU.

The compiler's single-partition rule: walking the ops in execution order, the Edge TPU segment
ends at the first op it cannot run; that op and every op after it run on the CPU (status "More
than one subgraph is not supported"), unless multiple subgraphs are requested (``-a``), in which
case later supported ops map again. Ops downstream of tensors named with ``-i`` stay on the CPU.
Some failures reject the whole model (dynamic-sized tensors, op versions the compiler cannot
parse): every op is then "unsupported" and the build stops with exit 3.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from hwquant import Op, OpReport, OpVerdict, TfliteModel

from . import ops as O

_SMALL = 64  # constant inputs up to this many elements are decoded for the op rules


def constants(model: TfliteModel, op: Op) -> dict[int, np.ndarray]:
    """Values of an op's small constant inputs (axes, strides, paddings), by input position."""
    out: dict[int, np.ndarray] = {}
    for pos, t in enumerate(op.inputs):
        if not t.is_constant or t.dtype not in ("int8", "uint8", "int32", "int64"):
            continue
        if (int(np.prod(t.shape)) if t.shape else 1) > _SMALL:
            continue
        data = model.constant(t)
        if data is not None:
            out[pos] = data
    return out


def _downstream(model_ops: list[Op], names: Iterable[str]) -> set[int]:
    """Indices of ops that consume (transitively) any tensor named in ``names``."""
    tainted = {n for n in names if n}
    hit: set[int] = set()
    for k, op in enumerate(model_ops):
        if any(t.name in tainted for t in op.inputs):
            hit.add(k)
            tainted.update(t.name for t in op.outputs)
    return hit


def predict(
    model: TfliteModel,
    *,
    runtime: int | None = None,
    multiple_subgraphs: bool = False,
    intermediate_tensors: Iterable[str] = (),
) -> OpReport:
    """The predicted mapping as an OpReport: "target" for the Edge TPU, "fallback" for the CPU."""
    runtime = runtime or O.DEFAULT_RUNTIME
    ops = model.ops
    blockers = {k: O.model_blockers(op) for k, op in enumerate(ops)}
    first_blocker = next((b[0] for b in blockers.values() if b), None)
    if first_blocker:
        return _rejected(ops, blockers, first_blocker)

    after_i = _downstream(ops, intermediate_tensors)
    verdicts: list[OpVerdict] = []
    ended: dict[int, OpVerdict] = {}  # subgraph -> the op that ended its Edge TPU segment
    segments: Counter[int] = Counter()
    for k, op in enumerate(ops):
        problems = O.evaluate(op, constants(model, op), runtime)
        if k in after_i:
            problems.append(
                (
                    "Not mapped: downstream of an intermediate tensor (-i)",
                    "follows a tensor named with --edgetpu-intermediate-tensors; the compiler leaves it to the CPU",
                )
            )
        end = ended.get(op.subgraph)
        if problems:
            status, reasons = problems[0][0], [r for _, r in problems]
            v = OpVerdict(op.index, op.subgraph, op.name, op.dtype, "fallback", status, reasons)
            ended.setdefault(op.subgraph, v)
        elif end is not None and not multiple_subgraphs:
            v = OpVerdict(
                op.index,
                op.subgraph,
                op.name,
                op.dtype,
                "fallback",
                O.AFTER_PARTITION,
                [
                    (
                        f"after {end.op} (op {end.index}), the first op the Edge TPU cannot run: the compiler "
                        "makes one Edge TPU segment (pass --edgetpu-enable-multiple-subgraphs to map later ops)"
                    )
                ],
            )
        else:
            v = OpVerdict(op.index, op.subgraph, op.name, op.dtype, "target", O.MAPPED)
            prev = verdicts[-1] if verdicts else None
            if prev is None or prev.placement != "target" or prev.subgraph != op.subgraph:
                segments[op.subgraph] += 1
        verdicts.append(v)
    return OpReport("edgetpu", verdicts, _notes(ops, verdicts, ended, segments, runtime, multiple_subgraphs))


def _rejected(ops: list[Op], blockers: dict[int, list[str]], first: str) -> OpReport:
    verdicts = [
        OpVerdict(
            op.index,
            op.subgraph,
            op.name,
            op.dtype,
            "unsupported",
            O.MODEL_REJECTED,
            blockers[k] or [f"the compiler rejects the whole model: {first}"],
        )
        for k, op in enumerate(ops)
    ]
    hint = (
        "convert with a fixed batch size of 1 (e.g. keras.Input(shape=..., batch_size=1))"
        if "dynamic" in first
        else "convert with a TensorFlow version whose op versions the compiler knows"
    )
    return OpReport("edgetpu", verdicts, [f"edgetpu_compiler would refuse this model: {first}; {hint}"])


def _notes(
    ops: list[Op],
    verdicts: list[OpVerdict],
    ended: dict[int, OpVerdict],
    segments: Counter[int],
    runtime: int,
    multiple: bool,
) -> list[str]:
    c = Counter(v.placement for v in verdicts)
    notes = [
        (
            f"predicted: {c['target']} of {len(verdicts)} ops on the Edge TPU, {c['fallback']} on the CPU, "
            f"{sum(segments.values())} Edge TPU segment(s); runtime {runtime}"
        )
    ]
    for sg, v in sorted(ended.items()):
        after = sum(1 for w in verdicts if w.subgraph == sg and w.status == O.AFTER_PARTITION)
        notes.append(
            f"subgraph {sg}: the Edge TPU segment ends at {v.op} (op {v.index}): {v.reasons[0]}"
            + (f"; the {after} supported op(s) after it run on the CPU (single partition)" if after else "")
        )
    if multiple:
        notes.append(
            "--edgetpu-enable-multiple-subgraphs: supported ops after a CPU op map to further Edge TPU subgraphs"
        )
    names = {op.name for op in ops}
    notes += [text for concerns, text in O.UNPREDICTABLE if not concerns or names.intersection(concerns)]
    return notes


def format_table(report: OpReport, reasons: bool = True) -> str:
    """The prediction laid out like ``edgetpu_compiler -s``: Operator, Count, Status (+ reason)."""
    lines = [f"{'Operator':<30} {'Count':<10} Status"]
    for row in report.table():
        line = f"{row['operator']:<30} {row['count']:<10} {row['status']}"
        if reasons and row["reasons"]:
            line += f"  ({row['reasons'][0]})"
        lines.append(line)
    return "\n".join(lines)


def compare(report: OpReport, compiled: Any) -> dict[str, Any]:
    """Where the compiler's mapping (a parsed CompilerLog) differs from the prediction."""
    pred: dict[str, Counter[str]] = {}
    for v in report.verdicts:
        pred.setdefault(v.op, Counter())["tpu" if v.placement == "target" else "cpu"] += 1
    if compiled.table:
        got: dict[str, Counter[str]] = {}
        statuses: dict[str, list[str]] = {}
        for row in compiled.table:
            got.setdefault(row.operator, Counter())["tpu" if row.status == O.MAPPED else "cpu"] += row.count
            if row.status != O.MAPPED:
                statuses.setdefault(row.operator, []).append(row.status)
        diffs = []
        for name in sorted(set(pred) | set(got)):
            p, g = pred.get(name, Counter()), got.get(name, Counter())
            if (p["tpu"], p["cpu"]) != (g["tpu"], g["cpu"]):
                diffs.append(
                    {
                        "operator": name,
                        "predicted": {"tpu": p["tpu"], "cpu": p["cpu"]},
                        "compiler": {"tpu": g["tpu"], "cpu": g["cpu"]},
                        "compiler_status": statuses.get(name, []),
                    }
                )
        return {"basis": "operator table", "agree": not diffs, "differences": diffs}
    block = compiled.models[0] if compiled.models else None
    tpu, cpu = (block.tpu_ops, block.cpu_ops) if block else (None, None)
    if tpu is None and block is not None and block.total_ops is not None and not compiled.partial_notice:
        tpu, cpu = block.total_ops, 0
    if tpu is None:
        return {
            "basis": "none",
            "agree": None,
            "differences": [],
            "note": "the compiler printed neither an operator table nor op counts",
        }
    c = report.counts()
    predicted = {"tpu": c["target"], "cpu": c["fallback"] + c["unsupported"]}
    agree = predicted == {"tpu": tpu, "cpu": cpu}
    diffs = [] if agree else [{"operator": "(all)", "predicted": predicted, "compiler": {"tpu": tpu, "cpu": cpu}}]
    return {"basis": "op counts", "agree": agree, "differences": diffs}
