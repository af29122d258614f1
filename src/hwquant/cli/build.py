"""`hwquant build`: one model (flags or ./hwquant.toml), or every job of a workspace."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import click

from hwquant.cli import shared
from hwquant.cli.params import BuildCommand, floats, gate_options, parse_size, pop_backend_options, pop_gates
from hwquant.cli.shared import console, default_cache_dir, err_console, log, show
from hwquant.common import console as console_mod
from hwquant.common import progress
from hwquant.config.data import MAX_SAMPLES_CAP
from hwquant.plugin.facts import BuildOptions
from hwquant.report.gates import FIDELITY_MEASURES

# options a manifest may also set: given on the command line, they override it
SHARED_OVERRIDES = (
    "data",
    "eval_data",
    "out",
    "preflight_only",
    "image_size",
    "mean",
    "std",
    "scale",
    "eval_fraction",
    "seed",
    "max_samples",
    "objective",
    "num_threads",
    "float_layers",
    "output_kinds",
    "sensitivity",
    "input_shapes",
)
TARGET_OVERRIDES = ("recipe", "io_dtype")  # per target table


class _Group:
    """A group of build parameters: ``pop`` takes its fields (by name) out of the command's parameters,
    through the converter a field names in its metadata."""

    @classmethod
    def pop(cls, params: dict[str, Any]) -> Any:
        return cls(**{f.name: f.metadata.get("read", _same)(params.pop(f.name)) for f in fields(cls)})  # type: ignore[arg-type]


def _same(v: Any) -> Any:
    return v


def _input_shapes(given: tuple[str, ...]) -> tuple[str, ...]:
    """--input-shape NAME=1x96x96x3 values, checked before anything loads (UsageError naming the bad one)."""
    from hwquant.convert.shapes import parse

    parse(given)
    return tuple(given)


def _output_kinds(given: tuple[str, ...]) -> tuple[str, ...]:
    """--output-kind NAME=KIND values, checked before anything loads (UsageError naming the bad one)."""
    from hwquant.choice.kinds import parse_overrides

    parse_overrides(given)
    return tuple(given)


@dataclass(frozen=True)
class DataArgs(_Group):
    """Where representative and evaluation data come from and how images are read."""

    data: str | None
    eval_data: str | None
    image_size: tuple[int, int] | None = field(metadata={"read": parse_size})
    mean: tuple[float, ...] | None = field(metadata={"read": floats})
    std: tuple[float, ...] | None = field(metadata={"read": floats})
    scale: float | None
    eval_fraction: float
    seed: int
    input_shapes: tuple[str, ...] = field(metadata={"read": tuple})
    max_samples: int | None


@dataclass(frozen=True)
class RecipeArgs(_Group):
    """Which targets and recipes, and how the recipe choice runs."""

    target: str
    recipe: str | None
    io_dtype: str | None
    objective: str
    num_threads: int
    float_layers: tuple[str, ...] = field(metadata={"read": tuple})
    output_kinds: tuple[str, ...] = field(metadata={"read": tuple})
    sensitivity: bool
    preflight_only: bool
    trust_model: bool


@dataclass(frozen=True)
class RunArgs(_Group):
    """Where the output goes, the cache, and how a workspace runs."""

    out: Path
    as_json: bool
    quiet: bool
    manifest: Path | None
    cache_dir: Path | None
    no_cache: bool
    job: str | None
    jobs: int | None

    @property
    def cache(self) -> Path | None:
        return None if self.no_cache else (self.cache_dir or default_cache_dir())


@dataclass(frozen=True)
class BuildArgs:
    """Every parameter of `hwquant build`, grouped; ``given(name)``: set on the command line."""

    paths: tuple[Path, ...]
    data: DataArgs
    recipe: RecipeArgs
    run: RunArgs
    gates: dict[str, Any]
    backend_options: dict[str, dict[str, Any]]
    verbose: bool
    ctx: click.Context

    @classmethod
    def of(cls, ctx: click.Context, paths: tuple[Path, ...], params: dict[str, Any]) -> BuildArgs:
        p = dict(params)
        data, recipe, run = DataArgs.pop(p), RecipeArgs.pop(p), RunArgs.pop(p)
        gates, backend = pop_gates(p), pop_backend_options(p)
        assert not p, f"unhandled build parameters: {sorted(p)}"
        return cls(paths, data, recipe, run, gates, backend, ctx.obj["verbose"], ctx)

    def given(self, name: str) -> bool:
        return self.ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE

    def options(self, model: Path | None) -> BuildOptions:
        d, r = self.data, self.recipe
        return BuildOptions(
            model=model,  # type: ignore[arg-type]  # None: from the manifest
            target=r.target,
            data=d.data,
            eval_data=d.eval_data,
            recipe=r.recipe,
            io_dtype=r.io_dtype,
            out=self.run.out,
            preflight_only=r.preflight_only,
            image_size=d.image_size,
            mean=d.mean,
            std=d.std,
            scale=d.scale,
            eval_fraction=d.eval_fraction,
            seed=d.seed,
            max_samples=d.max_samples,
            verbose=self.verbose,
            trust_model=r.trust_model,
            backend_options=self.backend_options,
            objective=r.objective,
            num_threads=r.num_threads,
            float_layers=r.float_layers,
            output_kinds=_output_kinds(r.output_kinds),
            sensitivity=r.sensitivity,
            input_shapes=_input_shapes(d.input_shapes),
        )

    def overrides(self, options: BuildOptions) -> tuple[dict[str, Any], dict[str, Any]]:
        """(shared, per target table): what the command line sets over a manifest."""
        base = {k: getattr(options, k) for k in SHARED_OVERRIDES if self.given(k)}
        base["verbose"] = options.verbose
        base["trust_model"] = options.trust_model  # only from the command line, never from a manifest
        return base, {k: getattr(options, k) for k in TARGET_OVERRIDES if self.given(k)}

    @property
    def budget_from_command_line(self) -> bool:
        return any(self.gates[k] is not None for k in FIDELITY_MEASURES)

    @property
    def select(self) -> str | None:
        return self.recipe.target if self.given("target") else None


@click.command(cls=BuildCommand)
@click.argument("model", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-t",
    "--target",
    default="cpu",
    show_default=True,
    help="Backend(s), comma-separated (with a manifest: its target tables).",
)
@click.option("-d", "--data", help="Representative data: FILE.npz, FILE.npy, IMAGE_DIR, module:function, random:N.")
@click.option("--eval-data", help="Separate held-out data for verification (same forms as --data).")
@click.option("-r", "--recipe", help="Recipe name (default: the target's choice). See README.")
@click.option("--io-dtype", type=click.Choice(["float32", "int8", "uint8", "int16"]), help="Inputs/outputs dtype.")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("build"), show_default=True)
@click.option("--preflight-only", is_flag=True, help="Stop after the per-op check (no artifact).")
@click.option("--image-size", help="HxW for image folders (default: the model's input size).")
@click.option(
    "--input-shape",
    "input_shapes",
    multiple=True,
    metavar="NAME=DIMS",
    help="Static shape for an input with dynamic dimensions, batch first, e.g. image=1x96x96x3 "
    "(NAME= may be left out for a model with one input). Repeatable.",
)
@click.option("--mean", help="Per-channel mean for image normalization, e.g. 127.5.")
@click.option("--std", help="Per-channel std for image normalization, e.g. 127.5.")
@click.option("--scale", type=float, help="Multiply pixels by this (default 1/255 unless --mean/--std).")
@click.option(
    "--eval-fraction",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of --data held back for verification when no --eval-data is given.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--max-samples",
    type=click.IntRange(1, MAX_SAMPLES_CAP),
    help="Most samples one data source may give (--data, --eval-data) [default: HWQUANT_MAX_SAMPLES or 100000].",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print report.json on stdout and nothing else (several targets: an object keyed by target folder).",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print only the verdict block(s) on stdout; on stderr only errors (no progress, notes or warnings).",
)
@click.option("--manifest", type=click.Path(path_type=Path), help="Manifest to build without MODEL [./hwquant.toml].")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Build cache folder [user cache dir].")
@click.option("--no-cache", is_flag=True, help="Neither restore from nor write to the build cache.")
@click.option(
    "--trust-model",
    is_flag=True,
    help="Load Keras files with safe_mode=False: Lambda layers run their Python code. Trusted files only.",
)
@click.option(
    "--objective",
    type=click.Choice(["size", "latency"]),
    default="size",
    show_default=True,
    help="What the recipe search minimizes within the accuracy budget.",
)
@click.option(
    "--num-threads",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="LiteRT CPU threads when the search times candidates (--objective latency).",
)
@click.option(
    "--float-layer",
    "float_layers",
    multiple=True,
    help="Keep this op (its output tensor name, see --sensitivity) float; repeatable.",
)
@click.option(
    "--output-kind",
    "output_kinds",
    multiple=True,
    metavar="NAME=KIND",
    help="What an output is: probabilities, logits, multi-label or regression (default: read from the "
    "model's graph); decides its fidelity measures. Repeatable.",
)
@click.option("--sensitivity", is_flag=True, help="Only analyse per-layer int8 sensitivity (no artifact).")
@click.option("--job", help="Build exactly this job of `hwquant plan` (same PATHS and --out as the plan).")
@click.option("-j", "--jobs", type=int, help="Build the models of a workspace in N worker processes.")
@gate_options
@click.pass_context
def build(ctx: click.Context, /, model: tuple[Path, ...], **params: Any) -> None:
    """Quantize MODEL for a target, verify the artifact, package it, and report.

    Without MODEL, builds every target table of ./hwquant.toml (flags given here override it).
    Given model folders (each with a hwquant.toml), manifests or a workspace file instead, builds
    every (model, target table) job of the workspace (see `hwquant plan`).
    """
    from hwquant.cli import fanout as fanout_cli
    from hwquant.cli.main import run_guarded

    args = BuildArgs.of(ctx, model, params)
    workspace = fanout_cli.wants_workspace(model, args.run.job, args.run.jobs)
    with output_mode(args.run.quiet, args.run.as_json):
        run_guarded(build_workspace if workspace else build_one, args)


@contextlib.contextmanager
def output_mode(quiet: bool, as_json: bool) -> Iterator[None]:
    """-q and --json for the command (and the errors run_guarded reports); as before afterwards."""
    before = console_mod.is_quiet(), shared.as_json
    console_mod.set_quiet(quiet)
    shared.as_json = as_json
    try:
        yield
    finally:
        console_mod.set_quiet(before[0])
        shared.as_json = before[1]


def progress_shown(args: BuildArgs) -> contextlib.AbstractContextManager[None]:
    """The progress display on stderr (terminals only): not with -q, nor with -v, whose log lines
    from TensorFlow and Vela would write through it."""
    return progress.shown(err_console, enabled=not args.run.quiet and not args.verbose)


def build_workspace(args: BuildArgs) -> None:
    """Every (model, target table) job of the workspace the paths name."""
    from hwquant.cli import fanout as fanout_cli

    base, per = args.overrides(args.options(None))
    run = args.run
    fanout_cli.build_workspace(
        (*args.paths, *([run.manifest] if run.manifest else [])),
        base=base,
        per_target=per,
        backend_options=args.backend_options,
        select=args.select,
        job=run.job,
        jobs=run.jobs,
        cache_dir=run.cache,
        gate_args=dict(args.gates),
        as_json=run.as_json,
        console=console,
        log=log,
        progress_shown=progress_shown(args),
    )


def _from_manifest(args: BuildArgs, options: BuildOptions, gate_args: dict[str, Any]) -> tuple[BuildOptions, Any]:
    """The manifest's options and target tables with the command line over them; its gates under ours."""
    from hwquant.config import manifest as manifest_mod

    m = manifest_mod.load(args.run.manifest or Path(manifest_mod.FILENAME))
    base, per = args.overrides(options)
    options, plan = manifest_mod.with_overrides(m, base, args.select, per, options.backend_options)
    gate_args.update({k: v for k, v in m.gates.items() if gate_args.get(k) is None})
    return options, plan


def build_one(args: BuildArgs) -> list[Any]:
    """One model: the MODEL argument with flags, or ./hwquant.toml (or --manifest)."""
    from hwquant.common import interrupts
    from hwquant.common.errors import HwquantError, TargetsFailed
    from hwquant.config.manifest import FILENAME as MANIFEST
    from hwquant.config.workspace import apply_budget  # the fidelity gates are the accuracy budget
    from hwquant.pipeline.many import build_many
    from hwquant.report.gates import Gates, raise_fails
    from hwquant.report.result import record_gates

    options = args.options(args.paths[0] if args.paths else None)
    gate_args, plan = dict(args.gates), None
    if options.model is None:
        options, plan = _from_manifest(args, options, gate_args)
    gates = Gates.of(**gate_args)
    apply_budget(options, plan or {}, gates, args.budget_from_command_line)
    as_json = args.run.as_json

    def record(built: list[Any]) -> list[str]:
        """Each built target's job id (a manifest build: `hwquant plan`'s, for `check --plan`) and its gates'
        verdict, in its report.json: `hwquant check` then judges it as this build did."""
        if plan is not None:
            _tag_jobs(built, args.run.manifest or Path(MANIFEST))
        return record_gates(built, gates) if gates.any and not options.preflight_only else []

    try:
        with progress_shown(args), progress.stage(f"building {options.model}"):
            results = build_many(options, log, args.run.cache, gates.max_latency_ms is not None, plan)
    except HwquantError as exc:  # --json: the reports that exist, as one document, before the error
        built = [exc.result] if exc.result is not None else list(getattr(exc, "results", []))
        if isinstance(exc, TargetsFailed) and built and not interrupts.pending():
            for line in record(built):  # the targets that did build; the exit code stays the failed target's
                log(f"gate failed: {line}")
        if as_json and built and not interrupts.pending():
            click.echo(shared.reports_json([(_folder(r), r.report) for r in built], isinstance(exc, TargetsFailed)))
        raise
    gate_fails = record(results)
    if as_json:
        click.echo(shared.reports_json([(_folder(r), r.report) for r in results], len(results) > 1))
    for r in results:
        show(r)
    if gates.any and options.preflight_only:  # nothing was converted to measure: say so, fail nothing
        given = ", ".join(f"{k}={v}" for k, v in gates.to_dict().items())
        log(
            f"note: --preflight-only builds no artifact, so the gates and the accuracy budget ({given}) were not applied"
        )
    elif gates.any:
        raise_fails(gate_fails)  # recorded in each report.json first: `hwquant check` sees the verdict
        log(f"gates passed: {', '.join(f'{k}={v}' for k, v in gates.to_dict().items())}")
    return results


def _folder(result: Any) -> str:
    return str(result.report.get("folder") or result.report.get("target"))


def _tag_jobs(results: list[Any], manifest: Path) -> None:
    """Each result's job id as `hwquant plan MANIFEST` names it (model name from the manifest's place)."""
    from hwquant.config import workspace
    from hwquant.fanout.jobs import tag

    [(path, root)] = workspace.manifest_paths([manifest])
    name = workspace.model_name(path, root)
    for r in results:
        if r.target_dir is not None:
            tag(r, f"{name}.{r.target_dir.name}")
