"""GPU backend: LiteRT's GPU accelerator (ML Drift over WebGPU/OpenCL; the classic GPU delegate).

Float recipes only. The GPU computes in float16, so float16 weights (the default recipe) halve
the file at no precision cost beyond what the GPU already does; the CPU kernels (fallback ops,
the verify stage) dequantize those float16 weights to float32 and compute in float32.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from hwquant import (
    Backend,
    BackendRegistry,
    BuildContext,
    BuildOptions,
    CheckRequest,
    ModelFacts,
    OpReport,
    OpVerdict,
    PackageResult,
    Recipe,
    TfliteModel,
    ToolchainStatus,
    hookimpl,
)
from hwquant_backends._litert.ops import explain as cpu_explain

from . import analyzer_text, gpu_check
from .ops import EXPENSIVE, SOURCE, SUPPORT, citation

PRECISION_NOTE = (
    "the GPU delegate computes in float16 (float32 only when enforced); CPU kernels dequantize "
    "float16 weights to float32 and compute in float32, so CPU and GPU results differ slightly"
)

_REFUSED = {
    "dynamic-int8": "dynamic-range int8 weights need hybrid kernels the GPU delegate does not have: those ops "
    "would run on the CPU",
    "int8-float-fallback": "the GPU delegate computes in float: it dequantizes an int8 graph and runs it in "
    "float16, so integer quantization only costs accuracy here (and QUANTIZE/DEQUANTIZE "
    "boundaries split the graph)",
    "int8-only": "the GPU delegate has no integer kernels: an integer-only graph is dequantized and computed in "
    "float16, so integer quantization only costs accuracy here",
    "int16x8": "the GPU delegate has no int16 kernels and cannot dequantize int16 tensors: every op would fall "
    "back to the CPU",
    "int16x8-float-fallback": "the GPU delegate has no int16 kernels and cannot dequantize int16 tensors: the "
    "quantized ops would fall back to the CPU",
}


class GpuBackend(Backend):
    name = "gpu"
    description = "LiteRT GPU accelerator (float16 compute; ops it lacks fall back to the CPU)"
    recipe_rule = "float16 (default; the GPU computes in float16); float32 selectable; integer recipes refused"
    allowed_recipes = ("float16", "float32")
    default_io_dtype = None
    weight_dtypes = ("float16", "float32")
    activation_dtypes = ("float16", "float32")
    io_dtypes = ("float32",)
    support = SUPPORT

    recipe_refusals = _REFUSED

    # -- recipe ------------------------------------------------------------------------------
    def choose_recipe(self, facts: ModelFacts, options: BuildOptions) -> tuple[Recipe, list[str]]:
        recipe, reasons = super().choose_recipe(facts, options)
        reasons.append(PRECISION_NOTE)
        return recipe, reasons

    def default_recipe(self, facts: ModelFacts, options: BuildOptions) -> tuple[str, list[str]]:
        why = [
            "the GPU delegate computes in float16: float16 weights halve the model at no precision cost beyond "
            "the GPU's own float16 arithmetic"
        ]
        if options.has_data:
            why.append("representative data is not needed for float16 (it is used for verification only)")
        return "float16", why

    # -- preflight -----------------------------------------------------------------------------
    def check(self, model: TfliteModel, request: CheckRequest) -> OpReport:
        """Per op: on the GPU, falls back to the CPU, or unsupported anywhere; merges TFLite's analysis."""
        analysis = analyzer_text.analyze(model.content)
        verdicts = []
        for op in model.ops:
            _ok, reasons = SUPPORT.check_op(op)
            reasons += [
                f"TFLite GPU compatibility analysis: {w}" for w in analysis.op_warnings.get((op.subgraph, op.index), [])
            ]
            if not reasons:
                verdicts.append(OpVerdict(op.index, op.subgraph, op.name, op.dtype, "target", "runs on GPU"))
                continue
            cpu_kind, cpu_reasons = cpu_explain(op)  # the CPU table never refuses what LiteRT may run
            if cpu_kind != "refused":
                reasons = reasons + cpu_reasons
                verdicts.append(
                    OpVerdict(op.index, op.subgraph, op.name, op.dtype, "fallback", "falls back to CPU", reasons)
                )
            else:
                verdicts.append(
                    OpVerdict(
                        op.index,
                        op.subgraph,
                        op.name,
                        op.dtype,
                        "unsupported",
                        "no GPU or CPU kernel",
                        reasons + cpu_reasons,
                    )
                )
        return OpReport(self.name, verdicts, self._notes(model, verdicts, analysis))

    @staticmethod
    def _notes(model: TfliteModel, verdicts: list[OpVerdict], analysis: analyzer_text.AnalyzerReport) -> list[str]:
        notes = [PRECISION_NOTE]
        fallback = [v for v in verdicts if v.placement != "target"]
        if fallback:
            notes.append(
                f"{len(fallback)} of {len(verdicts)} ops do not run on the GPU: each GPU/CPU partition "
                "boundary costs a synchronisation, which can make the whole model slower than on the CPU"
            )
        expensive = sorted({v.op for v in verdicts if v.op in EXPENSIVE and v.placement == "target"})
        if expensive:
            notes.append(f"reshuffling ops run on the GPU but are expensive there: {', '.join(expensive)}")
        if not analysis.available:
            notes.append(f"TFLite GPU compatibility analysis unavailable: {analysis.error}")
        elif analysis.compatible and fallback:
            notes.append(
                f"TFLite's GPU compatibility analysis ({analysis.source}, runtime "
                f"{analysis.runtime_version}) reported no issues, but its per-op checks were removed "
                "upstream (tensorflow/tensorflow#77042); hwquant's table (gpu_compatibility.cc) decides"
            )
        else:
            n = sum(len(w) for w in analysis.op_warnings.values())
            notes.append(
                f"TFLite GPU compatibility analysis ({analysis.source}): "
                + ("no issues" if analysis.compatible else f"{n} warning(s), merged into the op report")
            )
        return notes

    # -- verify / package ------------------------------------------------------------------------
    def op_table(self) -> dict[str, Any]:
        """Each row with the gpu_compatibility.cc line it was read from."""
        table = super().op_table()
        for row in table["ops"]:
            row["source"] = citation(row["op"])
        table["source"] = SOURCE
        return table

    def verify(self, ctx: BuildContext) -> dict[str, Any]:
        """Run the artifact through LiteRT's CompiledModel on the GPU where an adapter exists."""
        samples = _eval_samples(ctx.evaluation, limit=20)
        result = gpu_check.verify_on_gpu(ctx.artifact, samples, enforce_f32=ctx.recipe.name == "float32")
        if not result["available"]:
            ctx.log(f"gpu: {result['status']}: verified on the CPU interpreter only")
        elif "fully_accelerated" in result:
            ctx.log(f"gpu: ran on the GPU; fully accelerated: {'yes' if result['fully_accelerated'] else 'no'}")
        return {"gpu": result, "precision": PRECISION_NOTE}

    def package(self, ctx: BuildContext) -> PackageResult:
        return PackageResult(
            report={
                "run_with": "LiteRT CompiledModel with HardwareAccelerator.GPU (or the TFLite GPU delegate)",
                "precision": PRECISION_NOTE,
            }
        )

    def toolchain(self) -> ToolchainStatus:
        p = gpu_check.probe()
        return ToolchainStatus(True, f"nothing extra needed to build; GPU check: {p['status']}")


def _eval_samples(dataset: Any, limit: int) -> list[dict[str, np.ndarray]] | None:
    """Up to ``limit`` input dicts from the held-out DataSet ((signature, {name: array}) samples)."""
    if dataset is None:
        return None
    items: Iterable[Any] = getattr(dataset, "samples", dataset)
    out = []
    for item in items:
        inputs = item[1] if isinstance(item, tuple) and len(item) == 2 else item
        if isinstance(inputs, dict):
            out.append({k: np.asarray(v) for k, v in inputs.items()})
        if len(out) >= limit:
            break
    return out or None


@hookimpl
def hwquant_register_backends(registry: BackendRegistry) -> None:
    registry.add(GpuBackend)
