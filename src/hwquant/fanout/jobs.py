"""Build a workspace's jobs, in this process or in N worker processes (`hwquant build --jobs N`).

Workers fork from this process after it imported TensorFlow once (Linux; elsewhere each worker
starts a fresh interpreter). The unit of work handed to a worker is one model with the target tables chosen for it: its
targets share one load, one float conversion and one calibration (``build_many``), and one
output folder lock, exactly as a plain `hwquant build` of that manifest. Different models run in
parallel; the cache is shared (entries are published atomically, see cache.py). A failing model
does not stop the others; every failure is reported, naming its manifest, and the first one's
exit code is kept.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from hwquant.common import interrupts
from hwquant.common.console import is_quiet
from hwquant.common.errors import HwquantError, TargetsFailed
from hwquant.config.workspace import Job, Model, relative, targets_of
from hwquant.plugin.facts import BuildOptions
from hwquant.report import assemble
from hwquant.report.result import BuildResult


@dataclass
class Unit:
    """One model's chosen tables: what one worker builds in one go."""

    name: str
    manifest: Path
    base: BuildOptions
    targets: dict[str, tuple[str, BuildOptions]]
    job_ids: dict[str, str]  # table -> job id


@dataclass
class UnitOutcome:
    name: str
    built: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (job id, target dir, report)
    failures: list[tuple[str, int, str, str | None]] = field(default_factory=list)  # (label, exit, message, hint)
    interrupted: int | None = None  # the signal that stopped a worker's unit
    written: list[str] = field(default_factory=list)  # folders it moved into place before it stopped


def units(models: list[Model], chosen: list[Job]) -> list[Unit]:
    out = []
    for m in models:
        targets = targets_of(m, chosen)
        if targets:
            out.append(
                Unit(m.name, m.manifest.path, m.base, targets, {j.table: j.id for j in chosen if j.model == m.name})
            )
    return out


def tag(result: BuildResult, job_id: str) -> None:
    """Record the job id in the target's report.json (replaced atomically)."""
    result.report = assemble.tagged(result.report, job_id).to_json()
    if result.target_dir is not None and (result.target_dir / "report.json").is_file():
        tmp = result.target_dir / f".report.json.tmp-{os.getpid()}"
        result.write(tmp)
        os.replace(tmp, result.target_dir / "report.json")


def run_unit(unit: Unit, cache_dir: Path | None, measure_latency: bool, prefix: bool = True) -> UnitOutcome:
    """Build one unit (runs in a worker process with --jobs); errors come back as plain data."""
    from hwquant.pipeline.many import build_many

    where = relative(unit.manifest)

    def log(msg: str) -> None:
        if not is_quiet():  # -q: errors only (they come back as data)
            print(f"{unit.name}: {msg}" if prefix else msg, file=sys.stderr, flush=True)

    outcome = UnitOutcome(unit.name)
    results: list[BuildResult] = []
    try:
        results = build_many(unit.base, log, cache_dir, measure_latency, unit.targets)
    except TargetsFailed as exc:
        results = list(exc.results)
        for folder, err in exc.failures.items():
            outcome.failures.append(
                (unit.job_ids.get(folder, folder), err.exit_code, f"{where}: {err.message}", err.hint)
            )
    except HwquantError as exc:
        label = next(iter(unit.job_ids.values())) if len(unit.job_ids) == 1 else unit.name
        outcome.failures.append((label, exc.exit_code, f"{where}: {exc.message}", exc.hint))
        if exc.result is not None:
            results = [exc.result]
    by_dir = dict(unit.job_ids.items())
    for r in results:
        folder = str(r.report.get("folder") or r.report.get("target"))
        job_id = by_dir.get(folder, f"{unit.name}.{folder}")
        tag(r, job_id)
        outcome.built.append((job_id, str(r.target_dir) if r.target_dir else "", r.report))
    return outcome


def _in_worker(unit: Unit, cache_dir: Path | None, measure_latency: bool) -> UnitOutcome:
    """run_unit in a worker: an interrupt comes back as data, with the folders written before it."""
    try:
        with interrupts.working():
            return run_unit(unit, cache_dir, measure_latency, True)
    except KeyboardInterrupt as exc:
        return UnitOutcome(
            unit.name, interrupted=getattr(exc, "signum", signal.SIGINT), written=[str(p) for p in interrupts.written()]
        )


def _note(outcome: UnitOutcome) -> None:
    """What a worker wrote, recorded here so an interrupted command names every folder it wrote."""
    for p in [*(d for _, d, _ in outcome.built if d), *outcome.written]:
        interrupts.note_written(Path(p))


def run(
    todo: list[Unit],
    jobs: int,
    cache_dir: Path | None,
    measure_latency: bool,
    cached: frozenset[str] | set[str] = frozenset(),
    on_done: Callable[[UnitOutcome], None] = lambda o: None,
) -> list[UnitOutcome]:
    """Run every unit; ``jobs`` > 1 uses that many worker processes (never more than units).

    Units whose jobs are all in ``cached`` (job ids the plan found in the cache) are restored here
    first: a restore needs no TensorFlow, so no worker is started for them. SIGINT/SIGTERM here
    stops the workers at their next stage boundary (each removes its temporary folders) and the
    command ends interrupted, naming the folders that were written."""
    many = len(todo) > 1
    done: dict[int, UnitOutcome] = {}
    warm = [i for i, u in enumerate(todo) if set(u.job_ids.values()) <= cached]
    cold = [i for i in range(len(todo)) if i not in warm]
    workers = max(1, min(jobs, len(cold)))
    pool, futures = None, {}
    if workers > 1:  # workers fork at the first submit; interrupts.in_worker sets their signals up
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=_worker_context(todo[0].base.verbose), initializer=interrupts.in_worker
        )
        futures = {pool.submit(_in_worker, todo[i], cache_dir, measure_latency): i for i in cold}
    try:
        with interrupts.handling():
            for i in warm if pool is not None else warm + cold:
                done[i] = run_unit(todo[i], cache_dir, measure_latency, many)
                on_done(done[i])
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    done[futures[f]] = outcome = f.result()
                    _note(outcome)
                    if outcome.interrupted:
                        raise interrupts.Interrupted(outcome.interrupted)
                    on_done(outcome)
    except BaseException:
        if pool is not None:
            for proc in list(getattr(pool, "_processes", {}).values()):
                if proc.is_alive():
                    proc.terminate()  # SIGTERM: the worker stops at its next stage boundary and cleans up
            pool.shutdown(wait=True, cancel_futures=True)
            for f, i in futures.items():
                if i not in done and f.done() and not f.cancelled() and f.exception() is None:
                    _note(f.result())
        raise
    if pool is not None:
        pool.shutdown(wait=True)
    return [done[i] for i in range(len(todo))]


def _worker_context(verbose: bool) -> Any:
    """How worker processes start. On Linux they fork from this process after it imported TensorFlow
    once (3 s of CPU that N workers would otherwise each spend: on small models that is most of the
    work); TensorFlow is imported but has run nothing yet, so no runtime state is shared. Elsewhere
    (fork is unsafe on macOS) each worker is a fresh interpreter."""
    if sys.platform.startswith("linux"):
        from hwquant.convert import converter as convert

        convert.tf(verbose)
        return get_context("fork")
    return get_context("spawn")


def raise_failures(outcomes: list[UnitOutcome]) -> None:
    """One TargetsFailed naming every failed job (exit code of the first), with what did build."""
    failures: dict[str, HwquantError] = {}
    for o in outcomes:
        for label, code, message, hint in o.failures:
            err = HwquantError(message, hint)
            err.exit_code = code
            failures[label] = err
    if failures:
        built = [BuildResult(rep, Path(d) if d else None) for o in outcomes for _, d, rep in o.built]
        raise TargetsFailed(failures, built)
