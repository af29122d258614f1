"""Where a build may write: target folder names and the output folder, checked before anything is written.

A build replaces OUT/<name>/ wholesale, so a name must be a plain folder name (no path, no `..`,
nothing hidden like the staging folders), and OUT/<name>/ must never be, or hold, the model or the
data. A manifest's `out` must moreover not be the file-system root, the manifest's own folder, or
a folder holding the model or the data: a manifest from a pull request must not be able to point
the build at the repository it lives in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

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
        for p in inputs:
            r = _real(p)
            if f == r or f in r.parents:
                return f"{Path(out) / name} would replace the input {p}"
    return None


def check_targets(out: Path, folders: Iterable[str], model: object, *data: object) -> None:
    """UsageError (exit 2) when the build would write where it must not (see target_problem)."""
    from hwquant.common.errors import UsageError

    why = target_problem(Path(out), folders, input_paths(model, *data))
    if why:
        raise UsageError(
            f"cannot write the build there: {why}", hint="pass --out a folder of its own, e.g. --out build"
        )
