"""CPU backend: the LiteRT interpreter's builtin kernels (XNNPACK where it applies)."""

from __future__ import annotations

from hwquant import (
    PRESETS,
    Backend,
    BackendRegistry,
    BuildContext,
    BuildOptions,
    CheckRequest,
    ModelFacts,
    OpReport,
    OpVerdict,
    PackageResult,
    TfliteModel,
    hookimpl,
)
from hwquant_backends._litert.ops import SUPPORT, explain


class CpuBackend(Backend):
    name = "cpu"
    description = "LiteRT CPU interpreter (builtin kernels, XNNPACK for float)"
    recipe_rule = "with data: int8-float-fallback; without data: dynamic-int8"
    allowed_recipes = tuple(PRESETS)
    default_io_dtype = None
    weight_dtypes = ("float32", "float16", "int8")
    activation_dtypes = ("float32", "int8", "int16")
    io_dtypes = ("float32", "int8", "uint8", "int16")
    support = SUPPORT

    def default_recipe(self, facts: ModelFacts, options: BuildOptions) -> tuple[str, list[str]]:
        # Seam for the measured choice (a later issue): pick by trying recipes on the host
        # against an accuracy budget. For now the rule is fixed.
        if options.has_data:
            why = [
                "representative data given: full integer quantization with float fallback keeps every op runnable"
                " while int8 kernels run where they exist"
            ]
            if options.random_data:
                why.append("the data is random (testing only): calibration ranges will not reflect real inputs")
            return "int8-float-fallback", why
        return "dynamic-int8", ["no representative data: dynamic range quantization (int8 weights) needs none"]

    def check(self, model: TfliteModel, request: CheckRequest) -> OpReport:
        """The table explains, LiteRT decides: an op the table does not list is not refused but marked
        "unverified" and left to the verify stage's invoke; only Flex ops are refused up front."""
        verdicts, unverified = [], []
        for op in model.ops:
            kind, why = explain(op)
            placement, status = {
                "proven": ("target", "supported"),
                "unverified": ("target", "unverified by table"),
                "refused": ("unsupported", "unsupported"),
            }[kind]
            verdicts.append(OpVerdict(op.index, op.subgraph, op.name, op.dtype, placement, status, why))
            if kind == "unverified" and f"{op.name} {op.dtype}" not in unverified:
                unverified.append(f"{op.name} {op.dtype}")
        notes = (
            [f"not in the cpu op table, so checked by LiteRT's invoke in the verify stage: {', '.join(unverified)}"]
            if unverified
            else []
        )
        return OpReport(self.name, verdicts, notes)

    def package(self, ctx: BuildContext) -> PackageResult:
        """Nothing beyond the converted model (``model.tflite``, written by the core): LiteRT runs it as is."""
        return PackageResult()


@hookimpl
def hwquant_register_backends(registry: BackendRegistry) -> None:
    registry.add(CpuBackend)
