"""The command line: errors become documented exit codes here and nowhere else."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from hwquant.cli.fanout import plan as fanout_plan
from hwquant.common import interrupts, quiet
from hwquant.common.console import make_console
from hwquant.common.errors import EXIT_INTERRUPTED, HwquantError
from hwquant.common.version import __version__
from hwquant.plugin.facts import BuildOptions

console = make_console()
err_console = make_console(stderr=True)


def _fail(exc: HwquantError) -> None:
    err_console.print("[red]error:[/red] ", end="")
    err_console.print(exc.message, markup=False, soft_wrap=True)
    if exc.hint:
        err_console.print(f"  hint: {exc.hint}", markup=False, soft_wrap=True)
    sys.exit(exc.exit_code)


def run_guarded(fn, *args, **kwargs):
    """Run a command body, mapping errors and Ctrl-C / SIGTERM to exit codes.

    An interrupt is never lost: one swallowed anywhere (a finalizer, an error handler) is still
    recorded and ends the command with exit 130, saying exactly which folders were written.
    """
    with interrupts.handling():
        try:
            result = fn(*args, **kwargs)
            interrupts.checkpoint()
            return result
        except HwquantError as exc:
            if interrupts.pending():  # an error caused by the interrupt (e.g. a killed child process)
                _interrupted()
            if exc.result is not None:
                _show(exc.result)
            for result in getattr(exc, "results", []):  # targets that built before or after a failed one
                _show(result)
            _fail(exc)
        except KeyboardInterrupt:
            _interrupted()


def _interrupted() -> None:
    with interrupts.shielded():
        err_console.print(f"interrupted: {interrupts.describe_written()}", markup=False, soft_wrap=True)
        sys.exit(EXIT_INTERRUPTED)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hwquant")
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's (and Vela's) own log output.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Hardware-targeted post-training quantization builds for TensorFlow / Keras models.

    Exit codes: 0 ok, 2 bad usage or input, 3 model incompatible with target, 4 toolchain
    failure, 5 gate failed, 130 interrupted.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    quiet.set_verbose(verbose)  # LiteRT's native INFO lines are shown only with -v
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _parse_size(value: str | None):
    if not value:
        return None
    try:
        h, w = value.lower().replace(",", "x").split("x")
        return int(h), int(w)
    except ValueError:
        raise click.BadParameter("expected HxW, e.g. 224x224") from None


def _floats(value: str | None):
    if value is None:
        return None
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("expected comma-separated numbers, e.g. 127.5 or 0.485,0.456,0.406") from None


def _registry():
    """The backend registry; plugins that failed to load are reported once, as warnings."""
    from hwquant.plugin.manager import registry

    reg = registry()
    if not getattr(reg, "_warned", False):
        reg._warned = True
        for name, why in reg.skipped:
            err_console.print(f"warning: plugin {name!r} skipped: {why}", markup=False, soft_wrap=True)
    return reg


def _backend_options():
    """Each backend's declared options become `hwquant build --<backend>-<option>` flags."""
    from hwquant.common.errors import HwquantError

    try:
        backends = _registry().all()
    except HwquantError:  # not installed: `build --help` still works; a build says how to install
        return []
    params = []
    for b in backends:
        for o in b.backend_options:
            flag = o.flag(b.name)
            kw = {
                "help": f"[{b.name}] {o.help}" + (f" [default: {o.default}]" if o.default not in (None, False) else ""),
                "default": None,
                "multiple": o.multiple,
            }
            dest = f"{BACKEND_OPT}{len(_FLAGS)}"
            _FLAGS[dest] = (b.name, o.key)
            if o.type is bool:
                params.append(click.Option([f"{flag}/--no-{flag[2:]}", dest], **kw))
                continue
            kw["type"] = click.Choice(o.choices) if o.choices else o.type
            params.append(click.Option([flag, dest], **kw))
    return params


BACKEND_OPT = "backend_opt_"  # parameter names of the backend flags; _FLAGS maps them to (backend, key)
_FLAGS: dict[str, tuple[str, str]] = {}


def _namespaced(values: dict) -> dict[str, dict]:
    """{backend: {option key: value}} from the backend flags given."""
    out: dict[str, dict] = {}
    for k, v in values.items():
        if v in (None, ()):
            continue
        backend, key = _FLAGS[k]
        out.setdefault(backend, {})[key] = v
    return out


def _gate_options(fn):
    """CI gates shared by `build` and `check`; a failed gate exits with code 5."""
    for decl, kw in reversed(
        [
            ("--max-size", {"help": "Fail if the artifact is larger (bytes or 244KiB, 1.5MB)."}),
            (
                "--max-arena",
                {"help": "Fail if the tensor arena is larger (mcu: measured; ethos-u: from Vela's figures)."},
            ),
            ("--min-snr", {"type": float, "help": "Fail if any output's SNR vs float is lower (dB)."}),
            ("--min-agreement", {"type": float, "help": "Fail if top-1 agreement with float is lower (0-1)."}),
            (
                "--max-latency-ms",
                {"type": float, "help": "Fail if the mean latency is higher (host LiteRT, or bench)."},
            ),
            ("--min-cosine", {"type": float, "help": "Fail if any output's cosine similarity with float is lower."}),
            (
                "--max-accuracy-drop",
                {"type": float, "help": "Fail if accuracy drops more (percentage points; needs labels)."},
            ),
            (
                "--min-est-fps",
                {
                    "type": float,
                    "help": "Fail if the estimated inferences/s is lower (ethos-u: Vela's "
                    "estimate, not a measurement).",
                },
            ),
        ]
    ):
        fn = click.option(decl, **kw)(fn)
    return fn


class BuildCommand(click.Command):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._extra_loaded = False

    def get_params(self, ctx):
        if not self._extra_loaded:
            self.params.extend(_backend_options())
            self._extra_loaded = True
        return super().get_params(ctx)


@main.command(cls=BuildCommand)
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
@click.option("--json", "as_json", is_flag=True, help="Print report.json instead of the summary.")
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
@click.option("--sensitivity", is_flag=True, help="Only analyse per-layer int8 sensitivity (no artifact).")
@click.option("--job", help="Build exactly this job of `hwquant plan` (same PATHS and --out as the plan).")
@click.option("-j", "--jobs", type=int, help="Build the models of a workspace in N worker processes.")
@_gate_options
@click.pass_context
def build(
    ctx,
    model,
    target,
    data,
    eval_data,
    recipe,
    io_dtype,
    out,
    preflight_only,
    image_size,
    mean,
    std,
    scale,
    eval_fraction,
    seed,
    as_json,
    manifest,
    cache_dir,
    no_cache,
    trust_model,
    objective,
    num_threads,
    float_layers,
    sensitivity,
    job,
    jobs,
    max_size,
    max_arena,
    min_snr,
    min_agreement,
    max_latency_ms,
    min_cosine,
    max_accuracy_drop,
    min_est_fps,
    **backend_options,
):
    """Quantize MODEL for a target, verify the artifact, package it, and report.

    Without MODEL, builds every target table of ./hwquant.toml (flags given here override it).
    Given model folders (each with a hwquant.toml), manifests or a workspace file instead, builds
    every (model, target table) job of the workspace (see `hwquant plan`).
    """
    from hwquant.cli import fanout as fanout_cli

    workspace = fanout_cli.wants_workspace(model, job, jobs)
    paths = (*model, *([manifest] if manifest else []))
    model = None if workspace or not model else model[0]
    from hwquant.pipeline.many import build_many
    from hwquant.report.gates import Gates, enforce

    options = BuildOptions(
        model=model,
        target=target,
        data=data,
        eval_data=eval_data,
        recipe=recipe,
        io_dtype=io_dtype,
        out=out,
        preflight_only=preflight_only,
        image_size=_parse_size(image_size),
        mean=_floats(mean),
        std=_floats(std),
        scale=scale,
        eval_fraction=eval_fraction,
        seed=seed,
        verbose=ctx.obj["verbose"],
        trust_model=trust_model,
        backend_options=_namespaced(backend_options),
        objective=objective,
        num_threads=num_threads,
        float_layers=tuple(float_layers),
        sensitivity=sensitivity,
    )
    gate_args = {
        "max_size": max_size,
        "max_arena": max_arena,
        "min_snr": min_snr,
        "min_agreement": min_agreement,
        "max_latency_ms": max_latency_ms,
        "min_cosine": min_cosine,
        "max_accuracy_drop": max_accuracy_drop,
        "min_est_fps": min_est_fps,
    }
    budget_source = (
        "command line"
        if any(gate_args[k] is not None for k in ("min_snr", "min_agreement", "min_cosine", "max_accuracy_drop"))
        else None
    )

    def log(msg: str) -> None:
        err_console.print(msg, markup=False, highlight=False)

    def body():
        nonlocal options
        plan = None
        given = lambda n: ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE  # noqa: E731
        base = {
            k: getattr(options, k)
            for k in (
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
                "objective",
                "num_threads",
                "float_layers",
                "sensitivity",
            )
            if given(k)
        }
        base["verbose"] = options.verbose
        base["trust_model"] = options.trust_model  # only from the command line, never from a manifest
        per = {k: getattr(options, k) for k in ("recipe", "io_dtype") if given(k)}
        if workspace:
            return fanout_cli.build_workspace(
                paths,
                base=base,
                per_target=per,
                backend_options=options.backend_options,
                select=target if given("target") else None,
                job=job,
                jobs=jobs,
                cache_dir=None if no_cache else (cache_dir or default_cache_dir()),
                gate_args=gate_args,
                as_json=as_json,
                console=console,
                log=log,
            )
        if model is None:
            from hwquant.config import manifest as manifest_mod

            m = manifest_mod.load(manifest or Path(manifest_mod.FILENAME))
            options, plan = manifest_mod.with_overrides(
                m, base, target if given("target") else None, per, options.backend_options
            )
            gate_args.update({k: v for k, v in m.gates.items() if gate_args.get(k) is None})
        gates = Gates.of(**gate_args)
        from hwquant.config.workspace import apply_budget  # the fidelity gates are the accuracy budget

        apply_budget(options, plan or {}, gates, budget_source is not None)
        cache = None if no_cache else (cache_dir or default_cache_dir())
        with (
            console.status(f"building {options.model} ...", spinner="dots")
            if not as_json and console.is_terminal
            else _null()
        ):
            results = build_many(options, log, cache, gates.max_latency_ms is not None, plan)
        for r in results:
            if as_json:
                click.echo(r.to_json())
            else:
                _show(r)
        if gates.any:
            enforce([r.report for r in results], gates)
            log(f"gates passed: {', '.join(f'{k}={v}' for k, v in gates.to_dict().items())}")
        return results

    run_guarded(body)


def default_cache_dir() -> Path:
    from hwquant.cache.store import default_dir

    return default_dir()


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("hwquant.toml"), show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing manifest.")
def init(model, output, force):
    """Write a commented starter hwquant.toml for MODEL."""
    from hwquant.config.manifest import starter

    def body():
        if output.exists() and not force:
            from hwquant.common.errors import UsageError

            raise UsageError(f"{output} exists", hint="pass --force to overwrite it")
        from hwquant.common.errors import UsageError

        if not output.parent.is_dir():
            raise UsageError(
                f"cannot write {output}: folder {output.parent} does not exist",
                hint=f"create it first (mkdir -p {output.parent}) or pass -o in an existing folder",
            )
        rel = Path(os.path.relpath(model.resolve(), output.resolve().parent))
        try:
            output.write_text(starter(rel, _registry().all()))
        except OSError as exc:
            raise UsageError(f"cannot write {output} ({exc.strerror or exc})") from None
        console.print(f"wrote {output}: edit it, then run `hwquant build`")

    run_guarded(body)


@main.command()
@click.argument("report", type=click.Path(path_type=Path))
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(path_type=Path),
    help="plan.json from `hwquant plan --json`: every planned job must have left a report.",
)
@_gate_options
def check(report, plan_file, **gate_args):
    """Apply gates to an existing REPORT.json, OUT/<target>/ or OUT/ (exit 5 when one fails).

    Given a folder, reads every report.json below it (e.g. all CI jobs' downloaded artifacts) and
    prints one verdict and a row per model and target.
    """
    from hwquant.report.gates import Gates, enforce, load_reports

    def body():
        if plan_file is not None or report.is_dir():
            from hwquant.cli.fanout import check_tree

            return check_tree(report, plan_file, gate_args, console)
        gates = Gates.of(**gate_args)
        if not gates.any:
            from hwquant.common.errors import UsageError

            raise UsageError(
                "no gate given",
                hint="--max-size, --max-arena, --min-snr, --min-agreement, --max-latency-ms, --min-est-fps",
            )
        reports = load_reports(report)
        enforce(reports, gates)
        console.print(f"{len(reports)} report(s) pass: {', '.join(f'{k}={v}' for k, v in gates.to_dict().items())}")
        return None

    run_guarded(body)


def _show(result) -> None:
    from hwquant.report.result import render

    render(result, console)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


@main.command()
@click.argument("name", required=False)
@click.option("--ops", is_flag=True, help="Print the target's op table (from its constraint docstrings).")
@click.option("--json", "as_json", is_flag=True)
def targets(name, ops, as_json):
    """List every backend (built-in and third-party) or describe one."""

    def body():
        reg = _registry()
        backends = [reg.get(name)] if name else reg.all()
        if as_json:
            out = [dict(b.describe(), **({"op_table": b.op_table()} if ops else {})) for b in backends]
            click.echo(json.dumps(out, indent=2))
            return
        from hwquant.cli.targets_view import render_ops, render_targets

        if ops:
            for b in backends:
                render_ops(b, console)
        else:
            render_targets(backends, reg.sources, console)

    run_guarded(body)


def _add_runtime_commands() -> None:
    try:
        from hwquant.cli.runtime import bench, inspect
    except ImportError:  # pragma: no cover - written alongside
        return
    main.add_command(bench)
    main.add_command(inspect)


_add_runtime_commands()
main.add_command(_gate_options(fanout_plan))  # plan keys jobs with the same budget as build

if __name__ == "__main__":  # pragma: no cover
    main()
