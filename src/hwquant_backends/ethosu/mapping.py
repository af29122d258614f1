"""Which op runs where, decided by Vela itself.

Vela's output model is its final word: every op it compiled for the NPU is inside an ``ethos-u``
custom op, and every op it left on the CPU stays a builtin op in ``model_vela.tflite``. An op of
the int8 model is matched to the compiled model by its output tensor names (Vela keeps them).
The reasons for a CPU op are the ones Vela printed ("Warning (supported operators) ...").
A CPU op then runs in TFLM on the Cortex-M, so it needs a TFLM kernel for its dtype (TFLM's op
table, ``_tflm.ops``); without one the op is unsupported and the build stops (exit 3).
"""

from __future__ import annotations

from hwquant import OpReport, OpVerdict, TfliteModel
from hwquant_backends._tflm.ops import SUPPORT as TFLM_SUPPORT

from .vela_run import VelaRun

NPU_OP = "ethos-u"  # the custom op name Vela gives the NPU command streams


def cpu_outputs(compiled: TfliteModel) -> set[str]:
    """Output tensor names of the ops Vela left on the CPU."""
    return {t.name for op in compiled.ops if op.name != NPU_OP for t in op.outputs}


def op_report(target: str, model: TfliteModel, run: VelaRun, compiled: TfliteModel) -> OpReport:
    on_cpu = cpu_outputs(compiled)
    verdicts = []
    for op in model.ops:
        names = [t.name for t in op.outputs]
        if not any(n in on_cpu for n in names):
            verdicts.append(OpVerdict(op.index, op.subgraph, op.name, op.dtype, "target", "NPU (Vela)"))
            continue
        vela_why = [r for n in names for r in run.cpu_reasons.get(n, [])] or ["Vela left it on the CPU"]
        reasons = [f"Vela: {r}" for r in vela_why]
        ok, tflm_why = TFLM_SUPPORT.check_op(op)
        if ok:
            verdicts.append(OpVerdict(op.index, op.subgraph, op.name, op.dtype, "fallback", "CPU (TFLM)", reasons))
        else:
            verdicts.append(
                OpVerdict(
                    op.index,
                    op.subgraph,
                    op.name,
                    op.dtype,
                    "unsupported",
                    "CPU, no TFLM kernel",
                    reasons + [f"TFLM: {w}" for w in tflm_why],
                )
            )
    report = OpReport(target, verdicts)
    cpu = sorted({v.op for v in verdicts if v.placement != "target"})
    report.notes.append(
        f"Vela {run.version}: {run.counts.get('NPU', '?')} NPU and {run.counts.get('CPU', '?')} CPU "
        "operators after its graph rewrites" + (f"; left on the CPU: {', '.join(cpu)}" if cpu else "")
    )
    return report
