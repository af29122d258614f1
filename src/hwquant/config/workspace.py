"""Workspaces: several models, each with its own hwquant.toml, built as (model, target table) jobs.

    hwquant build models/*/            # folders holding a hwquant.toml, or manifest files
    hwquant build hwquant-workspace.toml

A workspace file lists model folders (globs allowed), relative to itself:

    models = ["kws", "person", "gestures/*"]

Every job has a stable id, ``<model>.<table>``: the model part is the manifest's folder relative
to the workspace file's folder (or to the current folder for paths given on the command line),
with ``/`` written as ``-`` (plus the file's stem when it is not named hwquant.toml). The same
arguments give the same ids on every machine, so `hwquant plan` on one runner and
`hwquant build --job ID` on another agree. Nothing here loads a model or imports TensorFlow.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwquant.common import toml
from hwquant.common.errors import UsageError
from hwquant.config import manifest as manifest_mod
from hwquant.plugin.facts import BuildOptions
from hwquant.report.gates import FIDELITY_MEASURES, Gates

WORKSPACE_KEY = "models"


@dataclass(frozen=True)
class Job:
    """One (model, target table) build."""

    id: str
    model: str  # the model part of the id
    manifest: Path
    table: str  # the target table = output folder name
    backend: str
    options: BuildOptions  # the table's options, command-line overrides applied; options.out is the model's out

    @property
    def out(self) -> Path:
        return Path(self.options.out) / self.table


@dataclass
class Model:
    """One manifest of a workspace and what the command line put over it."""

    name: str
    manifest: manifest_mod.Manifest
    base: BuildOptions
    targets: dict[str, tuple[str, BuildOptions]]
    gates: Any  # hwquant.report.gates.Gates: the manifest's [gates] with the command line's over them


FIDELITY_FLAGS = FIDELITY_MEASURES  # the fidelity gates of the gate table


def apply_budget(
    base: BuildOptions, targets: dict[str, tuple[str, BuildOptions]], gates: Any, from_command_line: bool
) -> None:
    """The fidelity gates are the build's accuracy budget (the recipe search reads it) on every
    target's options. The budget enters the cache key, so `hwquant plan` sets it the same way."""
    base.budget = gates.fidelity or None
    base.budget_source = "command line" if from_command_line else ("manifest" if gates.fidelity else None)
    for _, opts in targets.values():
        opts.budget, opts.budget_source = base.budget, base.budget_source


def is_workspace_arg(path: Path) -> bool:
    """True for a folder holding a hwquant.toml or a .toml file (manifest or workspace file)."""
    p = Path(path)
    return (p.is_dir() and (p / manifest_mod.FILENAME).is_file()) or (p.suffix == ".toml" and p.is_file())


def manifest_paths(args: list[Path]) -> list[tuple[Path, Path]]:
    """(manifest, id root) for every argument: folders, manifests, workspace files."""
    found: list[tuple[Path, Path]] = []
    cwd = Path.cwd()
    for arg in map(Path, args):
        if arg.is_dir():
            if not (arg / manifest_mod.FILENAME).is_file():
                raise UsageError(
                    f"{arg}: no {manifest_mod.FILENAME} in this folder",
                    hint="each model folder of a workspace holds its own hwquant.toml "
                    "(write one with `hwquant init MODEL`)",
                )
            found.append((arg / manifest_mod.FILENAME, cwd))
        elif arg.suffix == ".toml" and arg.is_file():
            doc = _read(arg)
            if WORKSPACE_KEY in doc and "model" not in doc:
                found.extend((m, arg.parent) for m in _workspace_file(arg, doc))
            else:
                found.append((arg, cwd))
        else:
            raise UsageError(
                f"{arg}: not a folder with a {manifest_mod.FILENAME}, a manifest or a workspace file",
                hint="hwquant build models/*/ or hwquant build hwquant-workspace.toml",
            )
    seen: dict[Path, Path] = {}
    unique = []
    for m, root in found:
        if m.resolve() not in seen:
            seen[m.resolve()] = m
            unique.append((m, root))
    return unique


def _read(path: Path) -> dict[str, Any]:
    try:
        return toml.loads(toml.read_text(path, "manifest"))
    except toml.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None


def _workspace_file(path: Path, doc: dict[str, Any]) -> list[Path]:
    extra = sorted(set(doc) - {WORKSPACE_KEY})
    if extra:
        raise UsageError(
            f"{path}: unknown key(s) {', '.join(extra)} in a workspace file",
            hint=f'a workspace file holds only {WORKSPACE_KEY} = ["model-folder", ...]',
        )
    entries = doc[WORKSPACE_KEY]
    if not isinstance(entries, list) or not entries or not all(isinstance(e, str) for e in entries):
        raise UsageError(
            f"{path}: {WORKSPACE_KEY} must be a non-empty list of folder names",
            hint=f'{WORKSPACE_KEY} = ["kws", "person"]',
        )
    out = []
    for entry in entries:
        matches = sorted(path.parent.glob(entry)) if any(c in entry for c in "*?[") else [path.parent / entry]
        matches = [m for m in matches if m.is_dir() or m.suffix == ".toml"]
        if not matches:
            raise UsageError(f"{path}: {WORKSPACE_KEY}: {entry!r} matches no folder")
        for m in matches:
            manifest = m if m.suffix == ".toml" else m / manifest_mod.FILENAME
            if not manifest.is_file():
                raise UsageError(f"{path}: {WORKSPACE_KEY}: {m} holds no {manifest_mod.FILENAME}")
            out.append(manifest)
    return out


def model_name(manifest: Path, root: Path) -> str:
    folder = manifest.resolve().parent
    try:
        parts = list(folder.relative_to(root.resolve()).parts)
    except ValueError:  # outside the root: its folder's name
        parts = [folder.name]
    if manifest.name != manifest_mod.FILENAME:
        parts.append(manifest.stem)
    name = "-".join(parts) or folder.name
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def load(
    args: list[Path],
    base: dict[str, Any] | None = None,
    per_target: dict[str, Any] | None = None,
    backend_options: dict[str, Any] | None = None,
    gate_args: dict[str, Any] | None = None,
) -> list[Model]:
    """Read every manifest (errors name the manifest) and put the command-line values over each.

    ``gate_args`` are the command line's gates: over each manifest's [gates], and (the fidelity
    ones) its accuracy budget, as for a plain `hwquant build` of that manifest.

    ``base["out"]``, when given, is shared by every model: each writes to OUT/<model>/ then
    (OUT/ itself when there is only one model, as a plain `hwquant build` does).
    """
    base = dict(base or {})
    out = base.pop("out", None)
    paths = manifest_paths(args)
    models, names = [], {}
    for path, root in paths:
        m = manifest_mod.load(path)
        name = model_name(path, root)
        if name in names:
            raise UsageError(
                f"{path} and {names[name]} get the same model name {name!r} in job ids",
                hint="give the manifests distinct folders or file names",
            )
        names[name] = path
        over = dict(base)
        if out is not None:
            over["out"] = Path(out) if len(paths) == 1 else Path(out) / name
        opts, targets = manifest_mod.with_overrides(m, over, None, dict(per_target or {}), dict(backend_options or {}))
        given = {k: v for k, v in (gate_args or {}).items() if v is not None}
        gates = Gates.of(**{**m.gates, **given})
        apply_budget(opts, targets, gates, any(k in given for k in FIDELITY_FLAGS))
        models.append(Model(name, m, opts, targets, gates))
    return models


def jobs(models: list[Model], select: str | None = None) -> list[Job]:
    """Every (model, table) job in workspace order; ``select`` keeps the named tables only."""
    out = [
        Job(f"{m.name}.{table}", m.name, m.manifest.path, table, backend, opts)
        for m in models
        for table, (backend, opts) in m.targets.items()
    ]
    if select:
        wanted = [n.strip() for n in select.split(",") if n.strip()]
        unknown = [n for n in wanted if not any(j.table == n for j in out)]
        if unknown:
            tables = sorted({j.table for j in out})
            raise UsageError(
                f"no manifest has target table(s) {', '.join(unknown)}", hint="tables here: " + ", ".join(tables)
            )
        out = [j for j in out if j.table in wanted]
    return out


def find_job(all_jobs: list[Job], job_id: str) -> Job:
    for j in all_jobs:
        if j.id == job_id:
            return j
    close = [
        j.id
        for j in all_jobs
        if job_id.rsplit(".", maxsplit=1)[-1] == j.table or j.id.startswith(job_id.split(".", maxsplit=1)[0])
    ]
    raise UsageError(
        f"no job {job_id!r} in this workspace",
        hint="jobs: " + ", ".join((close or [j.id for j in all_jobs])[:20]) + " (`hwquant plan` lists them)",
    )


def targets_of(model: Model, chosen: list[Job]) -> dict[str, tuple[str, BuildOptions]]:
    """The subset of a model's target tables that ``chosen`` jobs name, in manifest order."""
    tables = {j.table for j in chosen if j.model == model.name}
    return {t: v for t, v in model.targets.items() if t in tables}


def relative(path: Path) -> str:
    """A path as shown in plans and tables: relative to the current folder when below it."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return os.fspath(p)
