"""CPU backend: the LiteRT interpreter's builtin kernels (XNNPACK where it applies)."""
from __future__ import annotations

from hwquant import Backend, BuildOptions, ModelFacts, hookimpl, PRESETS

from .ops import SUPPORT


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
            why = ["representative data given: full integer quantization with float fallback keeps every op runnable"
                   " while int8 kernels run where they exist"]
            if options.random_data:
                why.append("the data is random (testing only): calibration ranges will not reflect real inputs")
            return "int8-float-fallback", why
        return "dynamic-int8", ["no representative data: dynamic range quantization (int8 weights) needs none"]


@hookimpl
def hwquant_register_backends(registry):
    registry.add(CpuBackend)
