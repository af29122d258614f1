"""A third-party backend, registered through the `hwquant.backends` entry-point group.

It runs int8 models only, supports a few ops, and writes a manifest file when packaging. It sets
every class attribute of ``hwquant.Backend`` and defines every method (the abstract ones because it
must, the others to add to them), so the tests exercise the whole interface the way an outside
plugin sees it (docs/backend-interface.md; tests/plugin/test_backend_interface.py checks it by introspection).
"""

from __future__ import annotations

import json
from typing import ClassVar

from hwquant import (
    Backend,
    BackendOption,
    CheckRequest,
    InputError,
    OpSupport,
    PackageResult,
    TfliteModel,
    ToolchainStatus,
    hookimpl,
)


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
    recipe_refusals: ClassVar[dict[str, str]] = dict.fromkeys(
        ("float32", "float16", "dynamic-int8", "int8-float-fallback"), "the toy NPU has no float units"
    )
    default_io_dtype = "int8"
    weight_dtypes = ("int8",)
    activation_dtypes = ("int8",)
    io_dtypes = ("int8",)
    backend_options = (
        BackendOption("label", "text written into toy_manifest.json", default="toy-build"),
        BackendOption("cores", "NPU cores to plan for", type=int, default=1, choices=()),
    )
    support = OpSupport(
        ops={n: frozenset({"int8"}) for n in ("CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX")},
        specific={"CONV_2D": [small_filters]},
    )
    artifact_name = "toy_model.tflite"
    tools = ("sh",)  # the packaging step would call a (here: ubiquitous) tool

    def default_recipe(self, facts, options):
        return "int8-only", ["the toy NPU runs integer-only models"]

    def choose_recipe(self, facts, options):
        recipe, reasons = super().choose_recipe(facts, options)
        return recipe, [*reasons, f"toy: planned for {options.backend_options.get('cores', 1)} core(s)"]

    def refused(self, name):
        exc = super().refused(name)
        exc.hint = f"{exc.hint} (toy NPU)"
        return exc

    def missing_data_error(self, recipe):
        return InputError("the toy NPU needs representative data", hint="pass --data (random:N for a smoke test)")

    def check(self, model: TfliteModel, request: CheckRequest):
        report = self.support.report(self.name, model)
        report.notes.append(
            f"toy: {len(report.verdicts)} op(s) checked against the toy table for {request.opt('cores', 1)} core(s)"
        )
        return report

    def candidate_report(self, artifact, options):
        return {"toy_bytes": len(artifact)}

    def verify(self, ctx):
        return {"toy_ops": len(ctx.model.ops), "artifact_name": self.artifact_name}

    def package(self, ctx):
        ops = ctx.model.op_names()
        (ctx.out_dir / "toy_manifest.json").write_text(json.dumps({"ops": ops, "label": ctx.opt("label")}))
        return PackageResult(["toy_manifest.json"], {"manifest_ops": len(ops), "label": ctx.opt("label")})

    def cache_key_extras(self, options):
        return {**super().cache_key_extras(options), "toy_firmware": "1.0", "own": self.own_options(options)}

    def toolchain(self):
        base = super().toolchain()
        return ToolchainStatus(base.available, f"toy firmware 1.0; {base.detail}")

    def describe(self):
        return {**super().describe(), "vendor": "Toy Silicon"}

    def op_table(self):
        table = super().op_table()
        table["generic"] = [*table["generic"], "The toy NPU runs one model at a time."]
        return table


@hookimpl
def hwquant_register_backends(registry):
    registry.add(ToyBackend)
