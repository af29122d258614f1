"""A third-party backend, registered through the `hwquant.backends` entry-point group.

It runs int8 models only, supports three ops, and writes a manifest file when packaging.
"""
from __future__ import annotations

import json

from hwquant import Backend, OpSupport, PackageResult, hookimpl
def small_filters(op):
    """Convolutions may have at most 64 output channels.

    The toy accelerator's weight memory holds 64 filters.
    """
    if op.name == "CONV_2D" and op.inputs[1].shape[0] > 64:
        return False, f"{op.inputs[1].shape[0]} output channels exceed 64"
    return True, ""


class ToyBackend(Backend):
    name = "toy"
    description = "Toy NPU (third-party test plugin)"
    recipe_rule = "always int8-only"
    allowed_recipes = ("int8-only",)
    default_io_dtype = "int8"
    weight_dtypes = ("int8",)
    activation_dtypes = ("int8",)
    io_dtypes = ("int8",)
    support = OpSupport(
        ops={n: frozenset({"int8"}) for n in ("CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX")},
        specific={"CONV_2D": [small_filters]},
    )

    def default_recipe(self, facts, options):
        return "int8-only", ["the toy NPU runs integer-only models"]

    def package(self, ctx):
        (ctx.out_dir / "toy_manifest.json").write_text(json.dumps({"ops": ctx.model.op_names()}))
        return PackageResult(["toy_manifest.json"], {"manifest_ops": len(ctx.model.op_names())})


@hookimpl
def hwquant_register_backends(registry):
    registry.add(ToyBackend)
