"""One TOML reader for manifests and boards files: tomllib on 3.11+, tomli on 3.10.

Files are read through ``common.files`` (a regular file within the size limit of its kind, never a
FIFO or a device); nesting too deep for the parser is a TOMLDecodeError like any other bad TOML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwquant.common.errors import InputError, UsageError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    try:
        import tomli as tomllib  # type: ignore[no-redef]
    except ModuleNotFoundError:  # pragma: no cover - the base install pulls tomli on 3.10
        tomllib = None  # type: ignore[assignment]

TOMLDecodeError = tomllib.TOMLDecodeError if tomllib is not None else ValueError


def loads(text: str) -> dict[str, Any]:
    if tomllib is None:  # pragma: no cover
        raise UsageError("reading TOML needs Python 3.11+ or the tomli package", hint="pip install tomli")
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise TOMLDecodeError("arrays or tables nested too deeply") from None


def read_text(path: Path, what: str) -> str:
    """The file's text, or an InputError naming ``what`` (missing, a folder, a FIFO or device, too large,
    not UTF-8). Boards files (``what`` mentions boards) have their own size limit."""
    from hwquant.common import files

    kind = "boards" if "boards" in what else "manifest"
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a TOML file")
    return files.read_text(path, kind, what=what)


def load(path: Path, what: str) -> dict[str, Any]:
    """Parse a TOML file; every failure is an InputError that names ``what`` and the file."""
    text = read_text(path, what)
    try:
        return loads(text)
    except TOMLDecodeError as exc:
        raise InputError(f"{what} {path} is not valid TOML: {exc}") from None
