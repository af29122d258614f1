"""Several targets from one preparation, with the cache in front: restore what is unchanged, build the
rest, report every failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

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
from hwquant.report import assemble
from hwquant.report.result import BuildResult


def _restore(
    files, options: BuildOptions, backend: Backend, folder: str, key: str, t0: float, measure_latency: bool
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
    from hwquant.cache import store as cache_mod
    from hwquant.config import precheck
    from hwquant.config import targets as targets_mod

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
