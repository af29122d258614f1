"""One TOML reader for manifests and boards files: tomllib on 3.11+, tomli on 3.10."""

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
    return tomllib.loads(text)


def read_text(path: Path, what: str) -> str:
    """The file's text, or an InputError naming ``what`` (missing, a folder, not UTF-8)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a TOML file")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} {path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None


def load(path: Path, what: str) -> dict[str, Any]:
    """Parse a TOML file; every failure is an InputError that names ``what`` and the file."""
    text = read_text(path, what)
    try:
        return loads(text)
    except TOMLDecodeError as exc:
        raise InputError(f"{what} {path} is not valid TOML: {exc}") from None
