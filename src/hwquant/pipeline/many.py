"""Several targets from one preparation, with the cache in front: restore what is unchanged, build the
rest, report every failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from hwquant.common import interrupts
from hwquant.common.errors import HwquantError, TargetsFailed
from hwquant.common.interrupts import checkpoint
from hwquant.config import outpath
from hwquant.config.versions import versions
from hwquant.device.bench import host_latency_ms
from hwquant.pipeline.prepare import prepare, resolve_backends
from hwquant.pipeline.staging import output_lock, staging
from hwquant.pipeline.target import build_target
from hwquant.plugin import options as backend_opts
from hwquant.plugin.backend import Backend
from hwquant.plugin.facts import BuildOptions
from hwquant.plugin.manager import registry
from hwquant.plugin.recipe import preset
from hwquant.report import assemble
from hwquant.report.result import BuildResult


def _restore(
    files: Any, options: BuildOptions, backend: Backend, folder: str, key: str, t0: float, measure_latency: bool
) -> BuildResult:
    """Copy a verified cache entry into OUT/<folder>/ and mark its report as restored."""
    with staging(Path(options.out), folder) as tmp:
        files.copy_to(tmp)  # bytes hashed again as they are copied; never through a symlink
        cached = json.loads((tmp / "report.json").read_text())
        artifact = tmp / backend.artifact_name
        wants = measure_latency and "latency_ms" not in cached and artifact.is_file()
        latency = host_latency_ms(artifact.read_bytes()) if wants else None
        report = assemble.restored(cached, backend.name, folder, key, latency, time.perf_counter() - t0)
        result = BuildResult.of(report, Path(options.out) / folder)
        result.write(tmp / "report.json")
    return result


Plan = list[tuple[str, Backend, BuildOptions]]  # (output folder, backend, that target's options)
Keys = dict[str, tuple[str, dict[str, Any]]]  # folder -> (cache key, the inputs it hashes)


def build_many(
    options: BuildOptions,
    log: Callable[[str], None] = print,
    cache_dir: Path | None = None,
    measure_latency: bool = False,
    targets: dict[str, tuple[str, BuildOptions]] | None = None,
) -> list[BuildResult]:
    """Build every target from one preparation (one load, one float conversion, one calibration).

    ``targets`` maps an output folder to (backend name, that target's options), as a manifest
    gives them; by default every name in ``options.target`` builds with ``options``. With
    ``cache_dir``, targets whose inputs are unchanged are restored from the cache (verified by
    sha256) and only the others are built; the model is loaded only if one of them misses.
    """
    plan = _resolve(options, targets)
    with interrupts.handling(), output_lock(Path(options.out), log):
        store = _open_cache(cache_dir, options)
        keys = _cache_keys(store, plan, log)
        results = _restore_hits(store, plan, keys, measure_latency, log)
        todo = [(f, b, o) for f, b, o in plan if f not in results]
        if todo:
            _build_misses(options, plan, todo, keys, store, results, measure_latency, log)
    return [results[f] for f, _, _ in plan]


def _resolve(options: BuildOptions, targets: dict[str, tuple[str, BuildOptions]] | None) -> Plan:
    """(folder, backend, options) per target, checked before anything is loaded or hashed."""
    from hwquant.config import precheck
    from hwquant.config import targets as targets_mod

    if targets is None:
        backends = resolve_backends(options)
        given = backend_opts.split(options.backend_options, [b.name for b in backends], registry().names())
        targets = {b.name: (b.name, replace(options, backend_options=given[b.name])) for b in backends}
    plan: Plan = targets_mod.resolve(targets)
    outpath.check_targets(options.out, targets, options.model, options.data, options.eval_data)
    for _, backend, opts in plan:
        precheck.check(opts)
        _data_given_if_needed(backend, opts)
    return plan


def _data_given_if_needed(backend: Backend, options: BuildOptions) -> None:
    """Missing representative data, found before the model loads: the recipe asked for, or every recipe
    the target allows, calibrates (mcu, ethos-u, edgetpu), and the backend says why."""
    if options.has_data:
        return
    named = options.recipe if options.recipe and options.recipe != "auto" else None
    candidates = [preset(named)] if named else [preset(r) for r in backend.allowed_recipes]
    if candidates and all(r.needs_data for r in candidates):
        raise backend.missing_data_error(candidates[0])


def _open_cache(cache_dir: Path | None, options: BuildOptions) -> Any:
    from hwquant.cache import store as cache_mod

    return cache_mod.Cache(cache_dir) if cache_dir is not None and not options.preflight_only else None


def _cache_keys(store: Any, plan: Plan, log: Callable[[str], None]) -> Keys:
    """Each target's cache key (none for data a module:function makes: it cannot be hashed first)."""
    from hwquant.cache import store as cache_mod

    keys: Keys = {}
    if store is None:
        return keys
    vers = versions()
    for folder, b, opts in plan:
        inputs = cache_mod.key_inputs(opts, b, vers)
        if inputs is None:
            log(f"{folder}: not cached: data from module:function cannot be hashed before it runs")
        else:
            keys[folder] = (cache_mod.make_key(inputs), inputs)
    return keys


def _restore_hits(
    store: Any, plan: Plan, keys: Keys, measure_latency: bool, log: Callable[[str], None]
) -> dict[str, BuildResult]:
    """Every target whose entry is in the cache, restored (a corrupted entry is discarded and rebuilt)."""
    results: dict[str, BuildResult] = {}
    for folder, b, opts in plan:
        if folder in keys:
            restored = _restore_one(store, folder, b, opts, keys[folder][0], measure_latency, log)
            if restored is not None:
                results[folder] = restored
    return results


def _restore_one(
    store: Any, folder: str, b: Backend, opts: BuildOptions, key: str, measure_latency: bool, log: Callable[[str], None]
) -> BuildResult | None:
    from hwquant.cache import store as cache_mod

    t0 = time.perf_counter()
    files, why = store.lookup(key)
    if why:
        log(f"warning: {folder}: {why}")
    if files is None:
        return None
    try:
        result = _restore(files, opts, b, folder, key, t0, measure_latency)
    except cache_mod.CorruptEntry as exc:  # a file changed since the lookup
        store.discard(key)
        log(f"warning: {folder}: cache entry {key[:12]} was corrupted ({exc}); rebuilding")
        return None
    log(f"{folder}: restored from cache (key {key[:12]}, every file's sha256 verified)")
    return result


def _build_misses(
    options: BuildOptions,
    plan: Plan,
    todo: Plan,
    keys: Keys,
    store: Any,
    results: dict[str, BuildResult],
    measure_latency: bool,
    log: Callable[[str], None],
) -> None:
    """One preparation, then each target not restored; the others still build when one fails."""
    prep = prepare(options, log)
    prep.cache_keys = {n: k for n, (k, _) in keys.items()}
    prep.measure_latency = measure_latency
    failures: dict[str, HwquantError] = {}
    try:
        for folder, b, opts in todo:
            _build_one(prep, folder, b, opts, len(plan) == 1, results, failures, log)
            checkpoint()
            if folder in results and store is not None and folder in keys:
                _store(store, keys[folder], results[folder])
    finally:
        with interrupts.shielded():
            prep.loaded.cleanup()
    if failures:
        raise TargetsFailed(failures, [results[f] for f, _, _ in plan if f in results])


def _build_one(
    prep: Any,
    folder: str,
    b: Backend,
    opts: BuildOptions,
    alone: bool,
    results: dict[str, BuildResult],
    failures: dict[str, HwquantError],
    log: Callable[[str], None],
) -> None:
    try:
        results[folder] = build_target(prep, b, log, opts, folder)
    except HwquantError as exc:  # the other targets still build; all failures are reported
        _mark_earlier_build(Path(opts.out) / folder, exc)
        if alone:
            raise
        failures[folder] = exc
        log(f"{folder}: failed (exit {exc.exit_code}), building the other targets")


def _mark_earlier_build(target_dir: Path, exc: HwquantError) -> None:
    """A failed target leaves its earlier build in place (all-or-nothing output); that build's report.json
    now says the latest build failed, so `hwquant check` fails it instead of passing a stale report."""
    from hwquant.common import files
    from hwquant.config.outpath import owner_problem

    report = target_dir / "report.json"
    if exc.result is not None or owner_problem(target_dir) or not report.is_file():
        return  # this build wrote its own report (preflight), or there is no earlier build of ours
    try:
        earlier = json.loads(files.read_text(report, "report"))
        marked = assemble.superseded(earlier, exc.exit_code, exc.message, exc.hint)
    except (OSError, ValueError, RecursionError, HwquantError):  # ReportTypeError, UnknownVersion: ValueError
        return  # an unreadable earlier report is left as it is (`check` refuses it as bad input)
    BuildResult.of(marked, target_dir).rewrite()


def _store(store: Any, key: tuple[str, dict[str, Any]], result: BuildResult) -> None:
    if result.target_dir is not None:
        store.store(key[0], result.target_dir, key[1])
