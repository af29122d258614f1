"""Where a build may write: target folder names and the output folder, checked before anything is written.

A build replaces OUT/<name>/ wholesale, so a name must be a plain folder name (no path, no `..`,
nothing hidden like the staging folders), and OUT/<name>/ must never be, or hold, the model or the
data. A manifest's `out` must moreover not be the file-system root, the manifest's own folder, or
a folder holding the model or the data: a manifest from a pull request must not be able to point
the build at the repository it lives in. A manifest's own `out` must stay inside the manifest's
folder (after symlinks are resolved); only `--out` on the command line may point elsewhere.

Ownership: hwquant replaces or deletes only folders it wrote itself. Every target folder carries
a marker file, ``.hwquant-build`` (a small JSON: tool, version; no time, so that builds stay
byte-reproducible), written by
``pipeline.staging`` with every build and every cache restore. Before OUT/<name> is replaced its
marker is checked: anything else there (a folder without the marker, a file, a symlink, a FIFO)
is exit 2 naming it, and nothing is renamed or deleted. Two jobs of one plan or workspace that
would write the same folder (or one inside the other) are refused before any work.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MARKER = ".hwquant-build"
MARKER_MAX_BYTES = 4096
OWNER_HINT = (
    "hwquant replaces only folders it wrote (they hold a .hwquant-build marker): remove or rename it "
    "yourself if it may go, or choose another --out"
)

FOLDER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
NAME_RULE = "a plain folder name: letters, digits, '_', '-', '.', not starting with '.' or '-', at most 100 characters"


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a target folder name (None when it can)."""
    if not isinstance(name, str) or not FOLDER_NAME.fullmatch(name):
        return f"{name!r} is not {NAME_RULE}"
    return None


def _real(p: Path) -> Path:
    return Path(p).expanduser().resolve()


def input_paths(*specs: object) -> list[Path]:
    """The model and data specs that name files or folders (random:N and module:function do not)."""
    out = []
    for s in specs:
        if s is None:
            continue
        p = Path(str(s))
        if p.exists():
            out.append(p)
    return out


def out_problem(out: Path, inputs: Iterable[Path], manifest_dir: Path | None = None) -> str | None:
    """Why a manifest's ``out`` is refused: the root, the manifest's folder, or a folder holding an input."""
    o = _real(out)
    if o == Path(o.anchor):
        return f"{out} is the file-system root"
    if manifest_dir is not None and o == _real(manifest_dir):
        return f"{out} is the manifest's own folder"
    for p in inputs:
        r = _real(p)
        if o == r or o in r.parents:
            return f"{out} holds the input {p}"
    return None


def target_problem(out: Path, folders: Iterable[str], inputs: Iterable[Path]) -> str | None:
    """Why writing OUT/<folder>/ is refused: a bad name, the root as OUT, or a folder that is or holds an input."""
    o = _real(out)
    if o == Path(o.anchor):
        return f"{out} is the file-system root"
    inputs = list(inputs)
    for name in folders:
        why = name_problem(name)
        if why:
            return f"target folder {why}"
        f = o / name
        cwd = _real(Path.cwd())
        if f == cwd or f in cwd.parents:
            return f"{Path(out) / name} would replace the current folder"
        for p in inputs:
            r = _real(p)
            if f == r or f in r.parents:
                return f"{Path(out) / name} would replace the input {p}"
    return None


def check_targets(out: Path, folders: Iterable[str], model: object, *data: object) -> None:
    """UsageError (exit 2) when the build would write where it must not (see target_problem), or
    would replace a folder hwquant did not write (see owner_problem)."""
    from hwquant.common.errors import UsageError

    folders = list(folders)
    why = target_problem(Path(out), folders, input_paths(model, *data))
    if why:
        raise UsageError(
            f"cannot write the build there: {why}", hint="pass --out a folder of its own, e.g. --out build"
        )
    check_owned(Path(out), folders)


def marker_content() -> str:
    """The marker's JSON: which tool wrote the folder and its version. No timestamp, on purpose: the same
    inputs give a byte-identical output folder (reproducible builds; the folder's mtime tells when)."""
    from hwquant.common.version import __version__

    return json.dumps({"tool": "hwquant", "version": __version__, "marker": 1}) + "\n"


def owner_problem(folder: Path) -> str | None:
    """Why hwquant may not replace ``folder`` (None when it is absent or a folder hwquant wrote).

    Looks with ``lstat`` only: a symlink is never followed, a FIFO never opened."""
    folder = Path(folder)
    try:
        mode = os.lstat(folder).st_mode
    except (FileNotFoundError, NotADirectoryError):  # absent (a bad --out itself is precheck's to report)
        return None
    except OSError as exc:
        return f"{folder} cannot be examined ({exc.strerror or exc})"
    if stat.S_ISLNK(mode):
        return f"{folder} is a symlink, not a folder hwquant wrote"
    if not stat.S_ISDIR(mode):
        from hwquant.common.files import file_type

        return f"{folder} is {file_type(mode)}, not a folder hwquant wrote"
    marker = folder / MARKER
    try:
        mst = os.lstat(marker)
    except OSError:
        return f"{folder} exists and was not written by hwquant (it holds no {MARKER} marker)"
    if not stat.S_ISREG(mst.st_mode) or mst.st_size > MARKER_MAX_BYTES:
        return f"{folder} holds a {MARKER} that is not hwquant's marker"
    try:
        with open(marker, "rb") as f:
            meta = json.loads(f.read(MARKER_MAX_BYTES))
    except (OSError, ValueError, RecursionError):
        meta = None
    if not isinstance(meta, dict) or meta.get("tool") != "hwquant":
        return f"{folder} holds a {MARKER} that is not hwquant's marker"
    return None


def check_owned(out: Path, folders: Iterable[str]) -> None:
    """UsageError (exit 2) when OUT/<folder> exists and hwquant did not write it (see owner_problem)."""
    from hwquant.common.errors import UsageError

    for name in folders:
        why = owner_problem(Path(out) / name)
        if why:
            raise UsageError(f"will not replace {why}", hint=OWNER_HINT)


def manifest_out_problem(out: Path, manifest_dir: Path) -> str | None:
    """Why a manifest's own ``out`` is refused: it leaves the manifest's folder (symlinks resolved).

    Only ``--out`` on the command line may point outside: a manifest (from a pull request, say)
    must not direct writes into a sibling or parent folder."""
    o, root = _real(out), _real(manifest_dir)
    if o != root and root not in o.parents:
        return f"{out} leaves the manifest's folder {manifest_dir}"
    return None


def check_manifest_out(out: Path, manifest_dir: Path) -> None:
    """UsageError (exit 2) for a manifest ``out`` outside the manifest's folder (see manifest_out_problem)."""
    from hwquant.common.errors import UsageError

    why = manifest_out_problem(out, manifest_dir)
    if why:
        raise UsageError(
            f"manifest out = {str(out)!r}: {why}",
            hint='keep out inside the manifest\'s folder (e.g. out = "build"), or pass --out on the command line',
        )


def check_unique_destinations(jobs: Iterable[Any]) -> None:
    """UsageError (exit 2) when two jobs would write the same target folder, or one inside the other's.

    ``jobs`` are objects with ``.out`` (the folder the job writes: OUT/<table>) and ``.id``
    (``config.workspace.Job``); paths are compared after resolving symlinks."""
    from hwquant.common.errors import UsageError

    seen: list[tuple[Path, Any]] = []
    for job in jobs:
        dest = _real(Path(job.out))
        for other_dest, other in seen:
            if dest == other_dest:
                clash = f"both write {job.out}"
            elif other_dest in dest.parents or dest in other_dest.parents:
                clash = f"{job.out} and {other.out} are nested (one build would replace the other)"
            else:
                continue
            raise UsageError(
                f"jobs {getattr(other, 'id', other)!r} and {getattr(job, 'id', job)!r}: {clash}",
                hint="give each model its own out, or rename one of the target tables",
            )
        seen.append((dest, job))
