"""Arm Ethos-U NPU backend: the int8 model compiled with Vela, Vela's estimates, a TFLM project.

Vela decides what runs on the NPU (its op check runs on the int8 model in the check stage, in a
temporary folder); the ops it leaves on the CPU need a TFLM kernel. Packaging compiles again into
the target folder (model_vela.tflite, Vela's summary and per-layer CSVs), checks the compiled
file, and emits the C array, model_settings.h and the TFLM project through the TFLM packaging code
shared with mcu (``hwquant_backends._tflm``), with ``AddEthosU()`` in the resolver. Verification runs the int8 model in TFLM and
LiteRT's reference kernels, as for mcu; the NPU op itself cannot run without the NPU.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
from hwquant_backends import _tflm
from hwquant_backends._tflm import arena as arena_mod
from hwquant_backends._tflm import crosscheck, integer_io, settings
from hwquant_backends._tflm import footprint as budget
from hwquant_backends._tflm import ops as tflm_ops
from hwquant_backends._tflm.carray import check_symbol, symbol_for, write_carray
from hwquant_backends._tflm.codegen import markdown_code
from hwquant_backends._tflm.project import PROJECT_KINDS, TEMPLATES, ProjectInputs, resolver_ops, write_project
from hwquant_backends.ethosu.project_parts import TEMPLATES as NPU_TEMPLATES

from . import boards, config, constraints, mapping, package, vela_run
from .project_parts import npu_parts

ESTIMATE_LABEL = (
    "Vela's performance estimates for the configured system (its cycle model), not measurements "
    "on hardware; memory figures in KiB and inference_time in seconds, as Vela writes them"
)


class EthosUBackend(Backend):
    name = "ethos-u"
    description = (
        "Arm Ethos-U55/U65/U85 NPU: int8 model compiled with Vela, Vela's estimates, TFLM project with AddEthosU()"
    )
    recipe_rule = "int8-only with int8 IO; int16x8 on request when Vela puts every op on the NPU"
    allowed_recipes = ("int8-only", "int16x8")
    default_io_dtype = "int8"
    weight_dtypes = ("int8",)
    activation_dtypes = ("int8", "int16")
    io_dtypes = ("int8", "int16")
    artifact_name = "model.tflite"
    backend_options = (
        BackendOption(
            "accelerator-config",
            f"Ethos-U configuration (Vela's; default {config.DEFAULT_ACCELERATOR})",
            choices=config.ACCELERATORS,
        ),
        BackendOption(
            "system-config",
            "system config from Vela's Arm/vela.ini or --ethos-u-vela-config (default per NPU: "
            + "; ".join(f"{f}: {s}" for f, (s, _) in config.FAMILY_DEFAULTS.items())
            + ")",
        ),
        BackendOption(
            "memory-mode",
            "memory mode from Vela's Arm/vela.ini or --ethos-u-vela-config (default per NPU: "
            + "; ".join(f"{f}: {m}" for f, (_, m) in config.FAMILY_DEFAULTS.items())
            + ")",
        ),
        BackendOption("vela-config", "a vendor Vela .ini file with more system configs / memory modes"),
        BackendOption("optimise", "Vela's optimisation strategy (default Performance)", choices=config.OPTIMISE),
        BackendOption(
            "arena-cache-size",
            "Vela's --arena-cache-size in bytes (default: the memory mode's)",
            type=int,
            minimum=1,
            maximum=2**32 - 1,
        ),
        BackendOption(
            "board",
            "Ethos-U board profile: NPU config, Vela system config, SRAM/flash budgets "
            "(built-in: " + ", ".join(boards.BOARDS) + ")",
        ),
        BackendOption("symbol", "C name of the model array (default: derived from the model name)"),
        BackendOption("project", "project to generate around the model", default="cmake", choices=PROJECT_KINDS),
        BackendOption(
            "arena-margin",
            "added to the tensor arena: a percentage ('10%') or bytes ('2048')",
            default=arena_mod.DEFAULT_MARGIN,
        ),
    )

    # -- configuration -----------------------------------------------------------------------
    def vela_config(self, o: Mapping[str, Any]) -> config.VelaConfig:
        """The Vela configuration from this backend's option values ``o`` (keyed by option key)."""
        if not vela_run.available():
            raise ToolchainError(
                "target ethos-u needs Vela (the ethos-u-vela package), which is not installed",
                hint="pip install 'hwquant[ethos-u]'",
            )
        board = boards.get_board(o["board"]) if o.get("board") else None
        return config.resolve(
            o.get("accelerator_config"),
            o.get("system_config"),
            o.get("memory_mode"),
            o.get("vela_config"),
            o.get("optimise"),
            o.get("arena_cache_size"),
            board,
        )

    def cache_key_extras(self, options: BuildOptions) -> dict[str, Any]:
        """Adds Vela's version, the tflite-micro version (verification, expected outputs), the shared TFLM
        packaging code and templates this backend generates with, and the --vela-config file's content."""
        extras = super().cache_key_extras(options)
        extras["vela"] = vela_run.version()
        extras["tflite_micro"] = arena_mod.runtime_version()
        extras["templates"] = "+".join(tree_sha256(d) if d.is_dir() else "missing" for d in (TEMPLATES, NPU_TEMPLATES))
        extras["tflm_packaging"] = tree_sha256(Path(_tflm.__file__).parent)
        vendor = extras["options"].get("vela_config")
        if vendor:
            f = Path(vendor)
            extras["vela_config_sha256"] = tree_sha256(f) if f.is_file() else None
        return extras

    # -- recipe ------------------------------------------------------------------------------
    def default_recipe(self, facts: ModelFacts, options: BuildOptions) -> tuple[str, list[str]]:
        if options.io_dtype == "int16":  # the user opted into int16 IO: 16x8 is the recipe that takes it
            return "int16x8", ["int16 inputs and outputs requested with --io-dtype int16: 16x8 operators"]
        why = [
            "the Ethos-U runs int8 (and 16x8) integer operators: every op int8, int8 inputs and outputs; "
            "ops Vela cannot place on the NPU run in TFLM on the Cortex-M"
        ]
        if options.random_data:
            why.append("the data is random (testing only): calibration ranges will not reflect real inputs")
        return "int8-only", why

    def choose_recipe(self, facts: ModelFacts, options: BuildOptions) -> tuple[Recipe, list[str]]:
        if facts.multi_signature:
            raise IncompatibleError(
                f"the model has {len(facts.signatures)} signatures; TFLM runs one",
                hint="export the model with a single serving signature",
            )
        self.vela_config(options.backend_options)  # a bad option is a usage error before anything is converted
        recipe, reasons = super().choose_recipe(facts, options)
        if recipe.activations == "int16":
            reasons.append("int16x8 builds only when Vela places every op on the NPU (checked on the converted model)")
        return integer_io(recipe, options, reasons), reasons

    def missing_data_error(self, recipe: Recipe) -> InputError:
        return InputError(
            f"target ethos-u needs representative data: recipe {recipe.name!r} quantizes every tensor to integers "
            "(the Ethos-U has no float datapath), and the converter calibrates each activation's range by running "
            "samples through the model",
            hint="pass --data FILE.npz|FILE.npy|IMAGE_DIR|module:function with 100-500 typical inputs "
            "(random:N only for a smoke test)",
        )

    # -- op checks: Vela itself ------------------------------------------------------------------
    def check(self, model: TfliteModel, request: CheckRequest) -> OpReport:
        cfg = self.vela_config(request.backend_options)
        verbose = (lambda text: print(text, file=sys.stderr)) if request.verbose else None
        with progress.stage(f"vela: mapping the ops ({cfg.accelerator})"):
            run, compiled, _ = vela_run.preflight(model.content, cfg, verbose)
        report = mapping.op_report(self.name, model, run, compiled)
        if any(op.dtype == "int16" for op in model.ops):
            for v in report.verdicts:
                if v.placement == "fallback":
                    v.placement, v.status = "unsupported", "CPU (int16x8 needs the NPU)"
                    v.reasons.append("recipe int16x8 builds only when Vela places every op on the NPU")
        return report

    # -- verify ------------------------------------------------------------------------------
    def verify(self, ctx: BuildContext) -> dict[str, Any]:
        _refuse_ops_tflm_cannot_run(ctx.model)
        with progress.stage(f"TFLM verification on {len(ctx.evaluation)} samples"):
            result = crosscheck.compare(ctx.model, host_arena(ctx.model), ctx.evaluation.samples)
        bad = [f"{n}: {o['max_diff_steps']:g} steps" for n, o in result["outputs"].items() if not o["agree"]]
        if bad:
            raise ToolchainError(
                "TFLM and LiteRT (reference kernels) disagree on the int8 model by more than one "
                "quantization step: " + "; ".join(bad),
                hint="report the model",
            )
        result["npu"] = "the ethos-u op cannot run here (no NPU): the int8 model Vela compiled was run instead"
        return result

    # -- package -----------------------------------------------------------------------------
    def package(self, ctx: BuildContext) -> PackageResult:
        cfg = self.vela_config(ctx.options.backend_options)
        with progress.stage(f"vela: compiling for {cfg.accelerator}"):
            run = vela_run.compile_model(
                ctx.artifact, ctx.out_dir, cfg, verbose=ctx.log if ctx.options.verbose else None
            )
        compiled = run.compiled()
        checks = package.check_compiled(compiled, ctx.model)
        arena = package.arena(
            compiled,
            str(ctx.opt("arena-margin", arena_mod.DEFAULT_MARGIN)),
            package.tflm_structures(ctx.model, host_arena(ctx.model)),
        )
        summary, per_layer = run.summary(), run.per_layer()
        board_name = ctx.opt("board")
        if board_name:
            board = boards.get_board(board_name)
            footprint = budget.check_budget(compiled.size_bytes, arena["bytes"], board.budget)
            footprint["board"] = board.to_dict()
        else:
            footprint = budget.footprint(compiled.size_bytes, arena["bytes"])

        source = Path(ctx.options.model).name or "model"
        symbol = ctx.opt("symbol")
        symbol = (
            check_symbol(symbol, f"--{self.name}-symbol") if symbol else symbol_for(Path(ctx.options.model).resolve())
        )
        digest = bytes_sha256(compiled.content)
        names, files = write_carray(ctx.out_dir, compiled.content, symbol, source, target=self.name)
        note = (
            "// Tensor arena (kTensorArenaExact): the tensors Vela planned for the compiled model (its scratch\n"
            "// area, inputs, outputs, CPU-op tensors) + TFLM's own structures as measured on the int8 model\n"
            "// (the ethos-u op cannot be allocated here); kTensorArenaSize adds the --ethos-u-arena-margin."
        )
        (ctx.out_dir / "model_settings.h").write_text(
            settings.render(
                compiled, digest, source, arena["exact_bytes"], arena["bytes"], arena_note=note, target=self.name
            ),
            encoding="ascii",
        )
        files.append("model_settings.h")

        ins, outs = settings.io_tensors(compiled)
        sample = next(iter((ctx.calibration or ctx.evaluation).samples))
        x = crosscheck.sample_inputs(ctx.model, sample)
        expected = crosscheck.TflmRunner(ctx.artifact, host_arena(ctx.model), len(outs)).run(x)
        ops = resolver_ops(compiled)
        cpu_ops = [op for op, _ in ops if op != mapping.NPU_OP]
        inputs = ProjectInputs(
            symbol,
            names,
            compiled,
            digest,
            source,
            ins,
            outs,
            x,
            expected,
            arena["exact_bytes"],
            arena["bytes"],
            arena["margin"],
            target=self.name,
            arena_line="from Vela's planned tensors + TFLM's structures + the margin (model_settings.h).",
            arena_text=f"{arena['bytes']} bytes: {arena['tensors_bytes']} bytes of tensors Vela planned + "
            f"{arena['tflm_structures_bytes']} bytes of TFLM's structures (measured on the int8 model) + "
            f"margin {markdown_code(str(arena['margin']))}.",
            npu=npu_parts(cfg, run.version, cpu_ops, arena),
        )
        kind = ctx.opt("project", "cmake")
        files += write_project(kind, ctx.out_dir, inputs)
        vela_files = sorted(p.name for p in ctx.out_dir.glob("model_*") if p.suffix in (".tflite", ".csv"))
        files += vela_files

        out = str(ctx.out_dir)
        report = {
            "vela": {
                "version": run.version,
                "config": cfg.to_dict(),
                "argv": ["vela", *(a.replace(out, ".") for a in run.argv[3:])],  # after python -m ethosu.vela
                "files": vela_files,
            },
            "estimates": {
                "source": ESTIMATE_LABEL,
                **summary,
                "npu_operators": run.counts.get("NPU"),
                "cpu_operators": run.counts.get("CPU"),
            },
            "per_layer_estimates": {"source": ESTIMATE_LABEL, "file": run.per_layer_path.name, "rows": per_layer},
            "compiled_model": {
                "file": run.compiled_path.name,
                "bytes": compiled.size_bytes,
                "sha256": digest,
                **checks,
            },
            "tensor_arena": arena,
            "c_array": {
                "symbol": names.array,
                "length_symbol": names.length,
                "bytes": compiled.size_bytes,
                "sha256": digest,
                "holds": "model_vela.tflite",
            },
            "project": kind,
            "resolver": {"size": len(ops), "ops": [op for op, _ in ops], "calls": [m for _, m in ops]},
            "footprint": footprint,
        }
        ctx.log(
            f"ethos-u: Vela {run.version} on {cfg.accelerator} ({cfg.system_config}, {cfg.memory_mode}): "
            f"estimated {summary.get('inferences_per_second', 0):.1f} inferences/s, "
            f"{summary.get('cycles_total')} cycles; {run.counts.get('CPU', 0)} CPU op(s); "
            f"tensor arena {arena['bytes']} B"
        )
        return PackageResult(
            files,
            report,
            deployed_bytes=compiled.size_bytes,
            tensor_arena_bytes=arena["bytes"],
            flash_bytes=footprint["flash"]["total_bytes"],
            ram_bytes=footprint["ram"]["total_bytes"],
            estimated_inferences_per_second=summary.get("inferences_per_second"),
            compiled_bytes=compiled.size_bytes,
        )

    # -- description -------------------------------------------------------------------------
    def toolchain(self) -> ToolchainStatus:
        if not vela_run.available():
            return ToolchainStatus(
                False, "missing: Vela (the ethos-u-vela package); install it with pip install 'hwquant[ethos-u]'"
            )
        if not arena_mod.runtime_available():
            return ToolchainStatus(False, "missing: the tflite-micro Python package (pip install tflite-micro)")
        return ToolchainStatus(
            True, f"Vela {vela_run.version()} (ethos-u-vela) and the tflite-micro Python interpreter found"
        )

    def op_table(self) -> dict[str, Any]:
        t = constraints.table("ethos-u55")
        t["generic"] = [
            f"(Vela {vela_run.version()}: Ethos-U55/U65 rules, U85-only ops marked; ops Vela refuses "
            "run on the CPU in TFLM)"
        ] + t["generic"]
        return t


def host_arena(model: TfliteModel) -> int:
    """An arena big enough for the int8 model in the TFLM Python interpreter on the host: every
    activation tensor without reuse, plus room for TFLM's structures (verification only). The
    structures grow with the graph (about 300 B per op with its tensors on a 64-bit host: an
    unrolled GRU of 1,468 ops and 2,163 tensors needs 521,168 B for 76 KB of activations), so
    1 KiB per op comes on top of a fixed 256 KiB."""
    total = sum(package._nbytes(t) for t in model.subgraph_tensors[0] if not t.is_constant)
    return total * 2 + 256 * 1024 + 1024 * len(model.ops)


@hookimpl
def hwquant_register_backends(registry: BackendRegistry) -> None:
    registry.add(EthosUBackend)


def _refuse_ops_tflm_cannot_run(model: TfliteModel) -> None:
    """hwquant verifies an Ethos-U build, and measures its arena, by running the int8 model Vela compiles in
    TFLM (no NPU here). An op Vela maps to the NPU but TFLM has no kernel for (GELU on some Vela releases)
    makes that impossible: refused before any allocation is tried, named with its layer (exit 3)."""
    lacking = [op for op in model.ops if not tflm_ops.SUPPORT.check_op(op)[0]]
    if lacking:
        named = "; ".join(f"{op.name} ({op.dtype}, layer: {tflm_ops.layer_name(op)})" for op in lacking[:5])
        raise IncompatibleError(
            f"{len(lacking)} op(s) Vela places on the NPU have no TFLM kernel, so hwquant cannot run the int8 "
            f"model in TFLM to verify it and measure its tensor arena: {named}",
            hint="alternatives: " + tflm_ops.alternatives(lacking[0]),
        )
