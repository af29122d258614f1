"""Microcontroller backend: TensorFlow Lite Micro.

Emits the int8 model as a C array, model_settings.h, and a TFLM project whose op resolver
registers exactly the model's ops, with a tensor arena measured in the TFLM interpreter.
Verification runs the model in TFLM and in LiteRT and requires agreement within one step.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from hwquant import (
    Backend,
    BackendOption,
    BackendRegistry,
    BuildContext,
    BuildOptions,
    CheckRequest,
    IncompatibleError,
    InputError,
    ModelFacts,
    OpReport,
    PackageResult,
    Recipe,
    TfliteModel,
    ToolchainError,
    ToolchainStatus,
    bytes_sha256,
    hookimpl,
    progress,
    tree_sha256,
)
from hwquant_backends._tflm import arena as arena_mod
from hwquant_backends._tflm import crosscheck, integer_io, project, settings
from hwquant_backends._tflm.carray import check_symbol, symbol_for, write_carray
from hwquant_backends._tflm.ops import SOURCE_ONLY, SUPPORT, UNVERIFIED, alternatives, layer_name, missing_int16_kernels
from hwquant_backends._tflm.project import PROJECT_KINDS, ProjectInputs, resolver_ops, write_project

from . import boards, fpu


class McuBackend(Backend):
    name = "mcu"
    description = "TensorFlow Lite Micro on microcontrollers (C array + TFLM project, exact tensor arena)"
    recipe_rule = (
        "int8-only with int8 IO; int16x8 on request when TFLM has 16x8 kernels for every op; "
        "int8 with float layers only with --mcu-allow-float on a board with an FPU"
    )
    allowed_recipes = ("int8-only", "int16x8", fpu.RECIPE)
    default_io_dtype = "int8"
    weight_dtypes = ("int8",)
    activation_dtypes = ("int8", "int16")
    io_dtypes = ("int8", "int16")
    support = SUPPORT
    backend_options = (
        BackendOption("symbol", "C name of the model array (default: derived from the model name)"),
        BackendOption("project", "project to generate around the model", default="cmake", choices=PROJECT_KINDS),
        BackendOption(
            "arena-margin",
            "added to the measured tensor arena: a percentage ('10%') or bytes ('2048')",
            default=arena_mod.DEFAULT_MARGIN,
        ),
        BackendOption(
            "board", "check flash and RAM against a board profile (built-in: " + ", ".join(boards.BUILTIN_BOARDS) + ")"
        ),
        BackendOption("boards-file", "TOML file with more board profiles ([boards.NAME] ram_kib, flash_kib)"),
        BackendOption(
            "allow-float",
            "allow float layers (mixed precision, recipe int8-float-fallback) when int8 "
            "misses the accuracy budget, and float ops the converter keeps in an int8 model; "
            "refused on a board without an FPU",
            type=bool,
        ),
    )

    # -- recipe ------------------------------------------------------------------------------
    def default_recipe(self, facts: ModelFacts, options: BuildOptions) -> tuple[str, list[str]]:
        if options.io_dtype == "int16" and not missing_int16_kernels(facts.op_counts):
            return "int16x8", ["int16 inputs and outputs requested with --io-dtype int16: every op 16x8 (TFLM)"]
        why = ["microcontrollers run integer kernels: every op int8, int8 inputs and outputs, no float fallback"]
        if options.random_data:
            why.append("the data is random (testing only): calibration ranges will not reflect real inputs")
        return "int8-only", why

    def choose_recipe(self, facts: ModelFacts, options: BuildOptions) -> tuple[Recipe, list[str]]:
        if facts.multi_signature:
            raise IncompatibleError(
                f"the model has {len(facts.signatures)} signatures; TFLM runs one",
                hint="export the model with a single serving signature",
            )
        if options.recipe == "int16x8":
            missing = missing_int16_kernels(facts.op_counts)
            if missing:
                raise IncompatibleError(
                    f"recipe int16x8 needs a TFLM 16x8 kernel for every op; none for: {', '.join(missing)}",
                    hint="use the default int8-only recipe, or replace those layers",
                )
        if options.recipe == fpu.RECIPE:
            refusal = fpu.refusal(options)
            if refusal is not None:
                raise refusal
        recipe, reasons = super().choose_recipe(facts, options)
        if recipe.float_fallback:
            reasons.append(fpu.reason(options))
        return integer_io(recipe, options, reasons), reasons

    def missing_data_error(self, recipe: Recipe) -> InputError:
        return InputError(
            f"target mcu needs representative data: recipe {recipe.name!r} quantizes every tensor to integers, "
            "and the converter calibrates each activation's range (scale and zero point) by running samples "
            "through the model; TFLM has no float fallback to skip that",
            hint="pass --data FILE.npz|FILE.npy|IMAGE_DIR|module:function with 100-500 typical inputs "
            "(random:N only for a smoke test)",
        )

    # -- op checks ---------------------------------------------------------------------------
    def check(self, model: TfliteModel, request: CheckRequest) -> OpReport:
        report = SUPPORT.report(self.name, model)
        unverified = sorted(
            {
                f"{v.op} ({v.dtype})"
                for v in report.verdicts
                if v.placement == "target" and v.dtype in SOURCE_ONLY.get(v.op, ())
            }
        )
        for v in report.verdicts:
            if v.placement == "target" and v.dtype in SOURCE_ONLY.get(v.op, ()):
                v.status, v.reasons = "unverified by table", [UNVERIFIED]
        if unverified:
            report.notes.append(
                "not proven by a generated model, so checked by the TFLM interpreter in the verify "
                "stage: " + ", ".join(unverified)
            )
        by_key = {(op.subgraph, op.index): op for op in model.ops}
        for v in report.unsupported:
            op = by_key[(v.subgraph, v.index)]
            v.reasons += [f"layer: {layer_name(op)}", f"alternatives: {alternatives(op)}"]
        if report.unsupported:
            report.notes.append(
                "TFLM has no kernel for: " + ", ".join(sorted({f"{v.op} ({v.dtype})" for v in report.unsupported}))
            )
        for v in fpu.refuse_float_ops(report, request.backend_options):
            v.reasons.append(f"layer: {layer_name(by_key[(v.subgraph, v.index)])}")
        return report

    # -- verify ------------------------------------------------------------------------------
    def tensor_arena(self, ctx: BuildContext) -> dict[str, Any]:
        """Measure the arena once per build (verify and package both need it)."""
        if "tensor_arena" not in ctx.report:
            num_inputs = len(ctx.model.io(0)[0])
            exact, probes = arena_mod.measure(ctx.artifact, num_inputs)
            margin = str(ctx.opt("arena-margin"))
            ctx.report["tensor_arena"] = {
                "exact_bytes": exact,
                "margin": margin,
                "bytes": arena_mod.with_margin(exact, margin),
                "probes": probes,
                "measured_with": "tflite-micro Python interpreter (64-bit host), bisection in "
                f"{arena_mod.ALIGN}-byte steps",
            }
        arena: dict[str, Any] = ctx.report["tensor_arena"]
        return arena

    def candidate_report(self, artifact: bytes, options: BuildOptions) -> dict[str, Any]:
        """The exact tensor arena a search candidate needs (int16x8 costs about twice int8's)."""
        exact, _ = arena_mod.measure(artifact, len(TfliteModel(artifact, "candidate").io(0)[0]))
        return {"tensor_arena_bytes": exact}

    def verify(self, ctx: BuildContext) -> dict[str, Any]:
        arena = self.tensor_arena(ctx)
        with progress.stage(f"TFLM verification on {len(ctx.evaluation)} samples"):
            result = crosscheck.compare(ctx.model, arena["bytes"], ctx.evaluation.samples)
        bad = [
            f"{n}: {o['max_diff_steps']:g} steps (tolerance {o['tolerance_steps']:g})"
            for n, o in result["outputs"].items()
            if not o["agree"]
        ]
        if bad:
            raise ToolchainError(
                "TFLM and LiteRT (reference kernels) disagree beyond the tolerance: " + "; ".join(bad),
                hint="a TFLM kernel computes this model differently; report the model, or try another recipe",
            )
        return result

    # -- package -----------------------------------------------------------------------------
    def package(self, ctx: BuildContext) -> PackageResult:
        arena = self.tensor_arena(ctx)
        source = Path(ctx.options.model).name or "model"
        symbol = ctx.opt("symbol")
        symbol = check_symbol(symbol) if symbol else symbol_for(Path(ctx.options.model).resolve())
        board_name = ctx.opt("board")
        kernels = [op for op, _ in resolver_ops(ctx.model)]
        io_bytes = sum(
            int(np.prod(t.shape)) * np.dtype(t.dtype).itemsize for t in [*ctx.model.io(0)[0], *ctx.model.io(0)[1]]
        )
        if board_name:
            board = boards.get_board(board_name, ctx.opt("boards-file"))
            footprint = boards.check_budget(ctx.model.size_bytes, arena["bytes"], board, kernels, io_bytes)
        else:
            footprint = boards.footprint(ctx.model.size_bytes, arena["bytes"], ops=kernels, io_bytes=io_bytes)
        digest = bytes_sha256(ctx.artifact)
        names, files = write_carray(ctx.out_dir, ctx.artifact, symbol, source)
        (ctx.out_dir / "model_settings.h").write_text(
            settings.render(ctx.model, digest, source, arena["exact_bytes"], arena["bytes"]), encoding="ascii"
        )
        files.append("model_settings.h")

        kind = ctx.opt("project")
        ins, outs = settings.io_tensors(ctx.model)
        sample = next(iter((ctx.calibration or ctx.evaluation).samples))
        x = crosscheck.sample_inputs(ctx.model, sample)
        expected = crosscheck.TflmRunner(ctx.artifact, arena["bytes"], len(outs)).run(x)
        inputs = ProjectInputs(
            symbol,
            names,
            ctx.model,
            digest,
            source,
            ins,
            outs,
            x,
            expected,
            arena["exact_bytes"],
            arena["bytes"],
            arena["margin"],
        )
        files += write_project(kind, ctx.out_dir, inputs)
        ops = resolver_ops(ctx.model)
        report = {
            "c_array": {
                "symbol": names.array,
                "length_symbol": names.length,
                "bytes": ctx.model.size_bytes,
                "sha256": digest,
            },
            "project": kind,
            "resolver": {"size": len(ops), "ops": [op for op, _ in ops], "calls": [m for _, m in ops]},
            "footprint": footprint,
        }
        ctx.log(
            f"mcu: tensor arena {arena['exact_bytes']} B exact, {arena['bytes']} B with margin "
            f"{arena['margin']}; flash {footprint['flash']['total_bytes']} B, RAM {footprint['ram']['total_bytes']} B"
        )
        return PackageResult(
            files,
            report,
            tensor_arena_bytes=arena["bytes"],
            flash_bytes=footprint["flash"]["total_bytes"],
            ram_bytes=footprint["ram"]["total_bytes"],
        )

    def cache_key_extras(self, options: BuildOptions) -> dict[str, Any]:
        """Adds what else decides the output: the tflite-micro version (arena, cross-check), the project
        templates, and the content of --boards-file (its budgets decide whether the build passes)."""
        extras = super().cache_key_extras(options)
        extras["tflite_micro"] = arena_mod.runtime_version()
        extras["templates"] = _templates_sha256()
        boards_file = extras["options"].get("boards_file")
        if boards_file:
            f = Path(boards_file)
            extras["boards_file_sha256"] = tree_sha256(f) if f.is_file() else None
        return extras

    def toolchain(self) -> ToolchainStatus:
        if not arena_mod.runtime_available():
            return ToolchainStatus(False, "missing: the tflite-micro Python package (pip install tflite-micro)")
        return ToolchainStatus(
            True,
            "tflite-micro Python interpreter found (a C++ compiler and TFLM source "
            "are needed only to build the generated project)",
        )


@functools.lru_cache(maxsize=1)  # shipped with the package: hashed once per process (`hwquant plan` keys many jobs)
def _templates_sha256() -> str | None:
    return tree_sha256(project.TEMPLATES) if project.TEMPLATES.is_dir() else None


@hookimpl
def hwquant_register_backends(registry: BackendRegistry) -> None:
    registry.add(McuBackend)
