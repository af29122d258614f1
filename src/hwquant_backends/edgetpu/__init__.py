"""Edge TPU backend: full-integer models, preflight mapping, edgetpu_compiler in Docker.

Recipe: always ``int8-only`` (the Edge TPU computes in 8-bit fixed point only). IO dtype
defaults to uint8: Coral's published models and PyCoral/libcoral examples feed uint8, and every
compiler and runtime version in the field accepts it; ``--io-dtype int8`` drops the two
requantize ops at the model's ends but needs a recent compiler and runtime.
"""

from __future__ import annotations

import shutil
from typing import Any

from hwquant import (
    Backend,
    BackendOption,
    BackendRegistry,
    BuildContext,
    BuildOptions,
    CheckRequest,
    HwquantError,
    InputError,
    ModelFacts,
    OpReport,
    PackageResult,
    Recipe,
    TfliteModel,
    ToolchainStatus,
    hookimpl,
    progress,
)

from . import compile as C
from .artifact import CUSTOM_OP, inspect_compiled
from .ops import SOURCES, SUPPORT, citation
from .preflight import compare, predict

_B = BackendOption
OPTIONS = (
    _B("image", f"Docker image holding edgetpu_compiler (default: ${C.IMAGE_ENV} or {C.DEFAULT_IMAGE})"),
    _B(
        "toolchain",
        "where edgetpu_compiler runs: docker, native (on PATH), or auto (docker, else native)",
        default="auto",
        choices=C.TOOLCHAINS,
    ),
    _B(
        "min-runtime-version",
        "lowest Edge TPU runtime the model must run on (edgetpu_compiler -m)",
        type=int,
        minimum=1,
        maximum=1000,
    ),
    _B(
        "num-segments",
        "split the model into N segments for pipelining (edgetpu_compiler -n)",
        type=int,
        minimum=1,
        maximum=1000,
    ),
    _B(
        "intermediate-tensors",
        "comma-separated tensor names to output from the Edge TPU; ops after them run on the CPU (edgetpu_compiler -i)",
    ),
    _B(
        "enable-multiple-subgraphs",
        "map supported ops after a CPU op to further Edge TPU subgraphs (edgetpu_compiler -a, experimental)",
        type=bool,
        default=False,
    ),
    _B(
        "search-delegate",
        "search for the largest segment that compiles (edgetpu_compiler -d)",
        type=bool,
        default=False,
    ),
    _B(
        "delegate-search-step",
        "step size of the delegate search (edgetpu_compiler -k, needs --edgetpu-search-delegate)",
        type=int,
        minimum=1,
        maximum=1000,
    ),
    _B(
        "compiler-timeout",
        "seconds before edgetpu_compiler (and every process it started) is stopped",
        type=int,
        default=C.DEFAULT_TIMEOUT,
        minimum=1,
        maximum=7 * 24 * 3600,
    ),
)


def _tensor_names(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    items = value if isinstance(value, (list, tuple)) else [value]
    return tuple(n.strip() for item in items for n in str(item).split(",") if n.strip())


class EdgeTpuBackend(Backend):
    name = "edgetpu"
    description = "Coral Edge TPU: full-integer model compiled with edgetpu_compiler (Docker or native)"
    recipe_rule = "always int8-only (the Edge TPU runs only full-integer models); IO uint8 unless --io-dtype int8"
    allowed_recipes = ("int8-only",)
    default_io_dtype = "uint8"
    weight_dtypes = ("int8",)
    activation_dtypes = ("int8",)
    io_dtypes = ("uint8", "int8")
    backend_options = OPTIONS
    support = SUPPORT

    # -- recipe --------------------------------------------------------------------------------
    def default_recipe(self, facts: ModelFacts, options: BuildOptions) -> tuple[str, list[str]]:
        return "int8-only", ["the Edge TPU executes only 8-bit quantized ops: every op int8, no float fallback"]

    def choose_recipe(self, facts: ModelFacts, options: BuildOptions) -> tuple[Recipe, list[str]]:
        recipe, reasons = super().choose_recipe(facts, options)
        if not options.io_dtype:
            reasons.append(
                "IO dtype uint8 (default): Coral's models and PyCoral examples feed uint8, and every "
                "edgetpu_compiler/runtime version accepts it"
            )
        return recipe, reasons

    def missing_data_error(self, recipe: Recipe) -> InputError:
        return InputError(
            "the Edge TPU needs representative data: it runs only full-integer (int8) models, and the converter "
            "can fix each activation's int8 range only by running real samples through the float model",
            hint="pass --data with ~100+ typical inputs: FILE.npz|FILE.npy|IMAGE_DIR|module:function "
            "(random:N only for a smoke test; its ranges are meaningless)",
        )

    # -- preflight -----------------------------------------------------------------------------
    def check(self, model: TfliteModel, request: CheckRequest) -> OpReport:
        """Predicted mapping: "target" for ops on the Edge TPU, "fallback" for ops on the CPU.

        The compiler flags -a, -i and -m change the mapping, so they are read from the request."""
        return predict(
            model,
            runtime=request.opt("min-runtime-version"),
            multiple_subgraphs=bool(request.opt("enable-multiple-subgraphs")),
            intermediate_tensors=_tensor_names(request.opt("intermediate-tensors")),
        )

    # -- verify and package --------------------------------------------------------------------
    def verify(self, ctx: BuildContext) -> dict[str, Any]:
        return {
            "note": f"the compiled model's {CUSTOM_OP} runs only with the Edge TPU runtime (libedgetpu) on an "
            "Edge TPU; LiteRT verified the pre-compile int8 model instead, and packaging checks the "
            "compiled file's custom op and op counts"
        }

    def flags(self, ctx: BuildContext) -> C.CompilerFlags:
        return C.CompilerFlags(
            min_runtime_version=ctx.opt("min-runtime-version"),
            search_delegate=bool(ctx.opt("search-delegate")),
            delegate_search_step=ctx.opt("delegate-search-step"),
            num_segments=ctx.opt("num-segments"),
            intermediate_tensors=_tensor_names(ctx.opt("intermediate-tensors")),
            enable_multiple_subgraphs=bool(ctx.opt("enable-multiple-subgraphs")),
        )

    def package(self, ctx: BuildContext) -> PackageResult:
        src = ctx.out_dir / "model.tflite"
        if not src.is_file():
            src.write_bytes(ctx.artifact)
        with progress.stage("edgetpu_compiler: compiling"):
            result = C.compile_models(
                [src],
                ctx.out_dir,
                self.flags(ctx),
                toolchain=ctx.opt("toolchain"),
                image=ctx.opt("image"),
                timeout=ctx.opt("compiler-timeout"),
            )
        try:
            compiled = [inspect_compiled(p, result.log, ctx.model, k) for k, p in enumerate(result.models[src.stem])]
        except HwquantError:
            for f in result.files:  # leave no compiled model behind
                f.unlink(missing_ok=True)
            raise
        op_report = ctx.op_report or self.check(ctx.model, CheckRequest.of(ctx.options))
        report: dict[str, Any] = {
            "toolchain": result.toolchain,
            "argv": result.argv,
            "compiler": result.log.to_dict(),
            "compiled": compiled[0] if len(compiled) == 1 else compiled,
            "preflight_vs_compiler": compare(op_report, result.log),
        }
        if not report["preflight_vs_compiler"].get("agree", True):
            ctx.log(
                "edgetpu: the compiler's mapping differs from the preflight prediction "
                "(see report.json edgetpu.preflight_vs_compiler)"
            )
        return PackageResult(
            [f.name for f in result.files], report, compiled_bytes=sum(c["size_bytes"] for c in compiled)
        )

    def cache_key_extras(self, options: BuildOptions) -> dict[str, Any]:
        """Adds the compiler's identity: the Docker image's ID (not only its tag) or the native
        compiler's version, so a rebuilt compiler image never gives a stale cache hit."""
        extras = super().cache_key_extras(options)
        own = extras["options"]
        extras["compiler"] = C.compiler_identity(own.get("toolchain") or "auto", own.get("image"))
        return extras

    # -- description ---------------------------------------------------------------------------
    def op_table(self) -> dict[str, Any]:
        """Each row with what it was checked against (edgetpu/ops.py CITATIONS)."""
        table = super().op_table()
        for row in table["ops"]:
            row["source"] = citation(row["op"])
        table["source"] = "; ".join(f"{k}: {v}" for k, v in SOURCES.items())
        return table

    def toolchain(self) -> ToolchainStatus:
        image = C.image_name()
        try:
            C._docker_client(image)
            return ToolchainStatus(True, f"docker image {image}")
        except HwquantError as exc:
            native = shutil.which(C.EXECUTABLE)
            if native:
                return ToolchainStatus(True, f"native {native} ({exc.message})")
            return ToolchainStatus(False, f"{exc.message}; {C.EXECUTABLE} not on PATH; {exc.hint or ''}".strip("; "))


@hookimpl
def hwquant_register_backends(registry: BackendRegistry) -> None:
    registry.add(EdgeTpuBackend)
