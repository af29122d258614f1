"""`hwquant build`: one straight line of named stages.

    load -> float reference -> data -> plan (recipe) -> convert -> check (per-op report)
         -> verify (invoke the artifact, compare with float) -> package -> report

Everything shared by several targets (loading, the float reference, the data) is done once
in ``prepare``; ``build_target`` runs the per-target stages into a temporary folder that is
moved into place only when every stage succeeded.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from hwquant.common import interrupts
from hwquant.common.interrupts import checkpoint
from hwquant.pipeline import data as data_mod
from hwquant.pipeline import outpath
from hwquant.plugin.backend import Backend, BuildContext
from hwquant.common.errors import HwquantError, IncompatibleError, TargetsFailed, UsageError
from hwquant.plugin.facts import BuildOptions, ModelFacts, SignatureSpec, TensorSpec
from hwquant.plugin import options as backend_opts
from hwquant.plugin.manager import registry
from hwquant.plugin.recipe import preset
from hwquant.pipeline.gates import host_latency_ms
from hwquant.common.hashing import tree_sha256
from hwquant.pipeline.report import SCHEMA_VERSION, BuildResult
from hwquant.pipeline.versions import versions
from hwquant.device.tflite_model import TfliteModel


class Timer:
    """Collects wall time per named stage."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - t0, 4)


@dataclass
class Prepared:
    """What every target of one build shares."""

    options: BuildOptions
    loaded: Any  # hwquant.convert.LoadedModel
    float_model: bytes
    facts: ModelFacts
    calibration: data_mod.DataSet | None
    evaluation: data_mod.DataSet
    timings: dict[str, float]
    inputs: dict[str, Any] = field(default_factory=dict)
    converted: dict[Any, bytes] = field(default_factory=dict)  # recipe -> artifact, shared across targets
    calibrated: Any = None  # hwquant.convert.Calibrated: one calibration for every int8-family recipe
    cache_keys: dict[str, str] = field(default_factory=dict)  # target -> cache key (recorded in the report)
    measure_latency: bool = False  # host latency in the report (for --max-latency-ms)
    reference_outputs: Any = None  # the float model's outputs on the evaluation set, computed once
    sensitivity: Any = None  # per-layer int8 sensitivity (choice.sensitivity), computed once
    range_warnings: Any = None  # eval inputs beyond the calibration range (choice.range_warnings)


def facts_from(float_model: bytes, loaded) -> ModelFacts:
    """Model facts read off the float32 conversion (names and shapes the converter kept)."""
    m = TfliteModel(float_model, "float32 reference")
    sigs = []
    spec = lambda name, t: TensorSpec(name, t.shape_signature, t.dtype)  # noqa: E731
    if m.signatures:
        for key, s in m.signatures.items():
            sigs.append(SignatureSpec(key, tuple(spec(n, t) for n, t in s["inputs"].items()),
                                      tuple(spec(n, t) for n, t in s["outputs"].items())))
    else:  # TF1 converter output without a SignatureDef: tensor names, in input order
        ins, outs = m.io(0)
        sigs.append(SignatureSpec(loaded.signature_keys[0], tuple(spec(t.name, t) for t in ins),
                                  tuple(spec(t.name, t) for t in outs)))
    return ModelFacts(str(loaded.path), loaded.format, loaded.loader, tuple(sigs), len(float_model),
                      dict(m.op_counts()), tuple(loaded.notes))


def resolve_backends(options: BuildOptions) -> list[Backend]:
    names = [t.strip() for t in str(options.target).split(",") if t.strip()]
    if not names:
        raise UsageError("no target given", hint="--target cpu (see `hwquant targets`)")
    backends = [registry().get(n) for n in names]
    if options.recipe and options.recipe != "auto":
        preset(options.recipe)  # unknown names fail before any loading
        for b in backends:
            if options.recipe not in b.allowed_recipes:
                raise b.refused(options.recipe)
    return backends


def prepare(options: BuildOptions, log: Callable[[str], None] = print) -> Prepared:
    from hwquant.pipeline import convert

    timer = Timer()
    with timer.stage("load"):  # includes the float32 conversion, which proves the loader works
        loaded = convert.load(options.model, options.verbose, options.trust_model)
    try:
        checkpoint()
        float_model = loaded.float_model
        facts = facts_from(float_model, loaded)
        with timer.stage("data"):
            calib = data_mod.load(options.data, facts, options) if options.data else None
            eval_src = data_mod.load(options.eval_data, facts, options) if options.eval_data else None
            if calib is not None:
                calib, evaluation = data_mod.split(calib, eval_src, options)
            elif eval_src is not None:
                evaluation = eval_src
            else:
                evaluation = data_mod.load("random:8", facts, options)
                evaluation.source = "random:8 (no data given: verification only checks that the artifact runs)"
        checkpoint()
    except BaseException:
        loaded.cleanup()
        raise
    for ds in (calib, eval_src if options.eval_data else None):
        for w in (ds.warnings if ds is not None else []):
            log(f"warning: {w}")
    inputs = {"model": {"path": str(options.model), "sha256": tree_sha256(Path(options.model))}}
    if calib is not None:
        inputs["data"] = calib.describe()
    inputs["eval_data"] = evaluation.describe()
    return Prepared(options, loaded, float_model, facts, calib, evaluation, timer.timings, inputs)


@contextlib.contextmanager
def staging(out: Path, target: str):
    """A temporary target folder inside ``out``, moved to ``out/target`` on success only.

    The folder is yielded as an absolute path: backends run tools in it (Vela with cwd set there,
    compilers in containers) and a relative ``--out`` must mean the same to them."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    tmp = (out / f".{target}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}").absolute()
    tmp.mkdir()
    try:
        yield tmp
        checkpoint()  # the last chance to honour an interrupt before the earlier build is replaced
    except BaseException:
        with interrupts.shielded():
            shutil.rmtree(tmp, ignore_errors=True)
            if created and not any(out.iterdir()):
                out.rmdir()
        raise
    with interrupts.shielded():  # a signal here is honoured at the next checkpoint, after the move
        final = out / target
        old = out / f".{target}.old-{uuid.uuid4().hex[:8]}"
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        interrupts.note_written(final)
        shutil.rmtree(old, ignore_errors=True)


def build_target(prep: Prepared, backend: Backend, log: Callable[[str], None] = print,
                 options: BuildOptions | None = None, folder: str | None = None) -> BuildResult:
    """One target's stages; ``options``/``folder`` override the shared ones (manifest tables)."""
    from hwquant.pipeline import choice
    options, facts, folder = options or prep.options, prep.facts, folder or backend.name
    timer = Timer()
    checkpoint()
    if options.sensitivity:
        return _sensitivity_only(prep, backend, options, folder, timer)
    with timer.stage("plan"):
        recipe, reasons = backend.choose_recipe(facts, choice.plain_options(options))
        if options.float_layers:
            choice.validate_float_layers(prep, options.float_layers)
            recipe = recipe.with_float_layers(options.float_layers)
            reasons.append(f"{len(recipe.float_layers)} layer(s) kept float with --float-layer")
    checkpoint()
    with timer.stage("convert"):
        artifact = choice.artifact_for(prep, recipe, timer)
    checkpoint()
    model = TfliteModel(artifact, f"{backend.name} artifact")
    with timer.stage("check"):
        op_report = backend.check(model, options)
    checkpoint()
    decision = None
    if not options.preflight_only and (not op_report.unsupported or options.recipe == "auto"):
        with timer.stage("verify" if options.recipe != "auto" else "search"):
            decision = choice.decide(prep, backend, options, recipe, reasons, artifact, log, timer)
        checkpoint()
        if decision.artifact is not artifact:
            recipe, artifact = decision.recipe, decision.artifact
            model = TfliteModel(artifact, f"{backend.name} artifact")
            op_report = backend.check(model, options)
        reasons = decision.reasons
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "target": backend.name, "preflight_only": options.preflight_only,
        "recipe": {"name": recipe.name, "label": recipe.label, "fields": recipe.to_dict(), "reasons": reasons},
        "model": facts.to_dict(), "ops": op_report.to_dict(), "inputs": prep.inputs,
        "versions": versions(),
    }
    if folder != backend.name:
        report["folder"] = folder
    if folder in prep.cache_keys:
        report["cache"] = {"hit": False, "key": prep.cache_keys[folder]}
    if prep.calibration is not None and prep.calibration.random:
        report["warnings"] = ["random representative data: for testing only"]
    if getattr(prep.calibrated, "fallback", None):  # TensorFlow's internals failed: converted directly
        report["warnings"] = report.get("warnings", []) + [prep.calibrated.fallback]
        log(f"warning: {prep.calibrated.fallback}")
    if decision is not None:
        report.update(decision.sections)
        if decision.warnings:
            report["warnings"] = report.get("warnings", []) + decision.warnings
    if options.preflight_only:  # report.json holds the predicted mapping; no artifact
        report["timings_s"] = {**prep.timings, **timer.timings}
        report["artifacts"] = ["report.json"]
        with staging(Path(options.out), folder) as tmp:
            result = BuildResult(report, Path(options.out) / folder)
            result.write(tmp / "report.json")
        if op_report.counts().get("target", 0) == 0:
            raise IncompatibleError(f"nothing in the model maps to target {backend.name!r}", hint=_unsupported_hint(
                op_report)).with_result(result)
        return result
    if op_report.unsupported:
        raise IncompatibleError(
            f"{len(op_report.unsupported)} op(s) cannot run on target {backend.name!r}: "
            + "; ".join(f"{v.op} ({', '.join(v.reasons)})" for v in op_report.unsupported[:5]),
            hint=_unsupported_hint(op_report))
    with staging(Path(options.out), folder) as tmp:
        (tmp / backend.artifact_name).write_bytes(artifact)
        ctx = BuildContext(options, facts, recipe, artifact, prep.float_model, model, prep.calibration,
                           prep.evaluation, tmp, op_report, log=log)
        with timer.stage("verify"):
            fidelity = decision.fidelity
            backend_verify = backend.verify(ctx)
            if prep.measure_latency:
                report["latency_ms"] = host_latency_ms(artifact)
        checkpoint()
        with timer.stage("package"):
            packaged = backend.package(ctx)
        if decision.candidates:
            from hwquant.pipeline import search_plot
            packaged.files = [*packaged.files, *search_plot.write(tmp / "search.png", decision.candidates, log)]
        files = sorted({backend.artifact_name, *packaged.files, "report.json"})
        report.update({
            "artifact_name": backend.artifact_name,  # the converted model's file among the artifacts
            "artifacts": files,
            "size_bytes": {"original": _size(Path(options.model)), "float32_tflite": len(prep.float_model),
                           "artifact": len(artifact), "ratio_to_float32": round(len(artifact) / len(prep.float_model), 4),
                           **({"deployed": packaged.deployed_bytes} if packaged.deployed_bytes is not None else {})},
            "fidelity": fidelity,
            "verify": {"runtime": "LiteRT interpreter", "samples": len(prep.evaluation),
                       "eval_source": prep.evaluation.source, backend.name: backend_verify},
            backend.name: {**ctx.report, **packaged.report},
        })
        report["timings_s"] = {**prep.timings, **timer.timings}
        report["timings_shared"] = sorted(prep.timings)  # done once for all targets of this build
        result = BuildResult(report, Path(options.out) / folder)
        result.write(tmp / "report.json")
    return result


def _sensitivity_only(prep: Prepared, backend: Backend, options: BuildOptions, folder: str,
                      timer: Timer) -> BuildResult:
    """`--sensitivity`: the per-layer int8 analysis only; report.json and no artifact."""
    from hwquant.pipeline import choice
    if prep.calibration is None:
        raise UsageError("--sensitivity needs representative data (it calibrates int8)", hint="pass --data")
    with timer.stage("sensitivity"):
        rows = choice.sensitivity(prep)
    report = {"schema_version": SCHEMA_VERSION, "target": backend.name, "sensitivity_only": True,
              "preflight_only": True, "model": prep.facts.to_dict(), "inputs": prep.inputs, "sensitivity": rows,
              "timings_s": {**prep.timings, **timer.timings}, "artifacts": ["report.json"], "versions": versions()}
    with staging(Path(options.out), folder) as tmp:
        result = BuildResult(report, Path(options.out) / folder)
        result.write(tmp / "report.json")
    return result


def _unsupported_hint(op_report) -> str:
    names = sorted({v.op for v in op_report.verdicts if v.placement != "target"})
    return (f"see `hwquant targets {op_report.target} --ops` for what the target runs; unsupported here: "
            + ", ".join(names[:10]))


def _size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


@contextlib.contextmanager
def output_lock(out: Path, log: Callable[[str], None] = print):
    """Serialize builds into the same output folder (across processes).

    The lock file lives in the temp dir, named by the folder's resolved path, so the output
    folder holds only build results and a failed build still leaves it empty.
    """
    from filelock import FileLock, Timeout

    folder = Path(tempfile.gettempdir()) / "hwquant-locks"
    folder.mkdir(exist_ok=True)
    lock = FileLock(str(folder / (hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:32] + ".lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log(f"waiting for another hwquant build writing to {out} ...")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _restore(files, options: BuildOptions, backend: Backend, folder: str, key: str, t0: float,
             measure_latency: bool) -> BuildResult:
    """Copy a verified cache entry into OUT/<folder>/ and mark its report as restored."""
    with staging(Path(options.out), folder) as tmp:
        files.copy_to(tmp)  # bytes hashed again as they are copied; never through a symlink
        report = json.loads((tmp / "report.json").read_text())
        report.pop("folder", None)
        if folder != backend.name:
            report["folder"] = folder
        report["cache"] = {"hit": True, "key": key, "built_timings_s": report.get("timings_s", {})}
        if measure_latency and "latency_ms" not in report and (tmp / backend.artifact_name).is_file():
            report["latency_ms"] = host_latency_ms((tmp / backend.artifact_name).read_bytes())
        report["timings_s"] = {"restore": round(time.perf_counter() - t0, 4)}
        result = BuildResult(report, Path(options.out) / folder)
        result.write(tmp / "report.json")
    return result


def build_many(options: BuildOptions, log: Callable[[str], None] = print, cache_dir: Path | None = None,
               measure_latency: bool = False,
               targets: dict[str, tuple[str, BuildOptions]] | None = None) -> list[BuildResult]:
    """Build every target from one preparation (one load, one float conversion, one calibration).

    ``targets`` maps an output folder to (backend name, that target's options), as a manifest
    gives them; by default every name in ``options.target`` builds with ``options``. With
    ``cache_dir``, targets whose inputs are unchanged are restored from the cache (verified by
    sha256) and only the others are built; the model is loaded only if one of them misses.
    """
    from hwquant.pipeline import cache as cache_mod
    from hwquant.pipeline import precheck
    from hwquant.pipeline import targets as targets_mod
    if targets is None:
        backends = resolve_backends(options)
        given = backend_opts.split(options.backend_options, [b.name for b in backends], registry().names())
        targets = {b.name: (b.name, replace(options, backend_options=given[b.name])) for b in backends}
    plan = targets_mod.resolve(targets)
    outpath.check_targets(options.out, targets, options.model, options.data, options.eval_data)
    for _, _, opts in plan:  # before anything is loaded or hashed
        precheck.check(opts)
    results: dict[str, BuildResult] = {}
    keys: dict[str, tuple[str, dict]] = {}
    with interrupts.handling(), output_lock(Path(options.out), log):
        store = cache_mod.Cache(cache_dir) if cache_dir is not None and not options.preflight_only else None
        if store is not None:
            vers = versions()
            for folder, b, opts in plan:
                inputs = cache_mod.key_inputs(opts, b, vers)
                if inputs is None:
                    log(f"{folder}: not cached: data from module:function cannot be hashed before it runs")
                    continue
                t0 = time.perf_counter()
                keys[folder] = (cache_mod.make_key(inputs), inputs)
                files, why = store.lookup(keys[folder][0])
                if why:
                    log(f"warning: {folder}: {why}")
                if files is not None:
                    try:
                        results[folder] = _restore(files, opts, b, folder, keys[folder][0], t0, measure_latency)
                    except cache_mod.CorruptEntry as exc:  # a file changed since the lookup
                        store.discard(keys[folder][0])
                        log(f"warning: {folder}: cache entry {keys[folder][0][:12]} was corrupted ({exc}); rebuilding")
                        continue
                    log(f"{folder}: restored from cache (key {keys[folder][0][:12]}, every file's sha256 verified)")
        todo = [(f, b, o) for f, b, o in plan if f not in results]
        if todo:
            prep = prepare(options, log)
            prep.cache_keys = {n: k for n, (k, _) in keys.items()}
            prep.measure_latency = measure_latency
            failures: dict[str, HwquantError] = {}
            try:
                for folder, b, opts in todo:
                    try:
                        results[folder] = r = build_target(prep, b, log, opts, folder)
                    except HwquantError as exc:  # the other targets still build; all failures are reported
                        if len(plan) == 1:
                            raise
                        failures[folder] = exc
                        log(f"{folder}: failed (exit {exc.exit_code}), building the other targets")
                        continue
                    checkpoint()
                    if store is not None and folder in keys and r.target_dir is not None:
                        store.store(keys[folder][0], r.target_dir, keys[folder][1])
            finally:
                with interrupts.shielded():
                    prep.loaded.cleanup()
            if failures:
                raise TargetsFailed(failures, [results[f] for f, _, _ in plan if f in results])
    return [results[f] for f, _, _ in plan]


def build(model, target: str = "cpu", log: Callable[[str], None] | None = None, **kwargs) -> BuildResult:
    """Python API: build one target; returns the BuildResult (content of report.json)."""
    for key in ("out", "model"):
        if key in kwargs and kwargs[key] is not None:
            kwargs[key] = Path(kwargs[key])
    options = BuildOptions(model=Path(model), target=target, **kwargs)
    results = build_many(options, log or (lambda s: None))
    return results[0] if len(results) == 1 else results
