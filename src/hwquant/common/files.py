"""Every user-supplied file is checked by type and size before it is opened.

``checked(path, kind)`` answers with ``os.stat`` alone (a FIFO is never opened, so it cannot hang the
build): the path must be a regular file (or a folder where ``folder_ok``), readable, and within the
size limit of its kind. FIFOs, character and block devices (``/dev/zero``), sockets, and symlinks
to any of them are an InputError (exit 2) naming the path and what it is. OS errors of the lookup
itself (a symlink loop, a name too long, a permission denied) are InputErrors too.

``read_bytes``/``read_text`` check, then open without blocking and check the opened file again
(``fstat``), so a path swapped for a FIFO between the check and the open is refused as well, and
read at most the limit (a file growing while it is read is refused, not read forever).

Limits per kind are module constants; ``HWQUANT_MAX_<KIND>_BYTES`` (e.g. ``HWQUANT_MAX_MODEL_BYTES``, ``HWQUANT_MAX_DATA_BYTES``)
overrides one for a run.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from hwquant.common.errors import InputError, os_error

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

# The largest file hwquant reads, per kind of input. Generous for real use, finite for hostile input.
LIMITS: dict[str, int] = {
    "model": 4 * GiB,  # a .keras / .h5 file, or one file of a SavedModel folder
    "data": 8 * GiB,  # .npz / .npy representative or evaluation data
    "module": 16 * MiB,  # the Python file of a module:function data source
    "image": 256 * MiB,  # one image of an image folder (pixel counts are bounded separately)
    "manifest": 4 * MiB,  # hwquant.toml, workspace files, recipe files
    "boards": 4 * MiB,  # a boards TOML file
    "report": 64 * MiB,  # a report.json read by `check`
    "cache-entry": 16 * MiB,  # a cache entry's entry.json
    "plan": 64 * MiB,  # a `--plan` JSON file
    "tflite": 2 * GiB,  # a .tflite for `inspect` / `bench` (a flatbuffer cannot be larger)
    "config": 4 * MiB,  # a tool's configuration file (Vela's .ini)
}

_WHAT = {
    "model": "model",
    "data": "data file",
    "module": "data module",
    "image": "image",
    "manifest": "manifest",
    "boards": "boards file",
    "report": "report",
    "cache-entry": "cache entry",
    "plan": "plan file",
    "tflite": ".tflite model",
    "config": "configuration file",
}


def limit(kind: str) -> int:
    """The size limit of ``kind`` in bytes (the env override ``HWQUANT_MAX_<KIND>_BYTES`` wins)."""
    env = os.environ.get(f"HWQUANT_MAX_{kind.upper().replace('-', '_')}_BYTES")
    if env:
        try:
            value = int(env)
        except ValueError:
            value = -1
        if value <= 0:
            from hwquant.common.errors import UsageError

            raise UsageError(
                f"HWQUANT_MAX_{kind.upper().replace('-', '_')}_BYTES={env!r} is not a positive integer",
                hint="unset it, or give a size in bytes",
            )
        return value
    return LIMITS[kind]


def _size(n: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def file_type(mode: int) -> str:
    """What a stat mode is, in words."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def os_problem(exc: OSError) -> str:
    """What an OSError means, in the words of the one table (hwquant.common.errors.OS_ERRORS)."""
    return os_error(exc).why


def checked(
    path: str | os.PathLike[str],
    kind: str,
    *,
    max_bytes: int | None = None,
    folder_ok: bool = False,
    what: str | None = None,
    hint: str | None = None,
) -> Path:
    """``path`` as a Path when it is a readable regular file within the limit of ``kind`` (or a folder
    where ``folder_ok``); an InputError naming the path otherwise. Uses ``os.stat`` only: opens nothing."""
    p = Path(path)
    what = what or _WHAT.get(kind, kind)
    cap = limit(kind) if max_bytes is None else max_bytes
    try:
        st = p.stat()
    except OSError as exc:
        raise InputError(f"{what} {_show(p)}: {os_problem(exc)}", hint=hint) from None
    except ValueError:  # an embedded NUL byte
        raise InputError(f"{what} {_show(p)}: the path holds a NUL character", hint=hint) from None
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        if folder_ok:
            if not os.access(p, os.R_OK | os.X_OK):
                raise InputError(f"{what} {_show(p)}: the folder cannot be read (permission denied)", hint=hint)
            return p
        raise InputError(f"{what} {_show(p)} is a folder, not a file", hint=hint)
    if not stat.S_ISREG(mode):
        link = " (through a symlink)" if p.is_symlink() else ""
        raise InputError(
            f"{what} {_show(p)} is {file_type(mode)}{link}, not a regular file; hwquant does not read from it",
            hint=hint or f"pass a regular {what} file",
        )
    if st.st_size > cap:
        raise InputError(
            f"{what} {_show(p)} is {_size(st.st_size)}, over the {_size(cap)} limit for a {what}",
            hint=f"pass a smaller file, or raise the limit with HWQUANT_MAX_{kind.upper().replace('-', '_')}_BYTES",
        )
    if not os.access(p, os.R_OK):
        raise InputError(f"{what} {_show(p)} cannot be read (permission denied)", hint=hint)
    return p


def _open(p: Path, kind: str, what: str, cap: int) -> BinaryIO:
    """Open a checked path without blocking and check the opened file again (a swap since the check)."""
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"{what} {_show(p)}: {os_problem(exc)}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > cap:
        os.close(fd)
        raise InputError(f"{what} {_show(p)} changed while it was read (now {file_type(st.st_mode)})")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bytes(
    path: str | os.PathLike[str], kind: str, *, max_bytes: int | None = None, what: str | None = None
) -> bytes:
    """The bytes of a checked file (see ``checked``), reading at most its kind's limit."""
    cap = limit(kind) if max_bytes is None else max_bytes
    what = what or _WHAT.get(kind, kind)
    p = checked(path, kind, max_bytes=cap, what=what)
    with _open(p, kind, what, cap) as f:
        try:
            content: bytes = f.read(cap + 1)
        except OSError as exc:
            raise InputError(f"{what} {_show(p)} cannot be read: {os_problem(exc)}") from None
    if len(content) > cap:
        raise InputError(f"{what} {_show(p)} grew past the {_size(cap)} limit while it was read")
    return content


def read_text(path: str | os.PathLike[str], kind: str, *, max_bytes: int | None = None, what: str | None = None) -> str:
    """The UTF-8 text of a checked file; InputError when it is not UTF-8."""
    what = what or _WHAT.get(kind, kind)
    content = read_bytes(path, kind, max_bytes=max_bytes, what=what)
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {_show(Path(path))} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def output_file(path: str | os.PathLike[str], what: str) -> Path:
    """A path hwquant may write a file to: absent, or an existing regular file. A FIFO would block the write
    forever, a device or socket take it elsewhere, a folder fail it: each is an InputError naming the path."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        return p
    except OSError as exc:
        raise InputError(f"{what} {_show(p)}: {os_problem(exc)}") from None
    except ValueError:
        raise InputError(f"{what} {_show(p)}: the path holds a NUL character") from None
    if not stat.S_ISREG(mode):
        raise InputError(
            f"{what} {_show(p)} is {file_type(mode)}; hwquant writes only regular files", hint="choose another path"
        )
    return p


def checked_tree(
    folder: str | os.PathLike[str], kind: str, *, max_files: int = 100_000, what: str | None = None
) -> Path:
    """A folder whose every entry (recursively, symlinks followed by stat) is a checked regular file or
    folder of ``kind``: what a SavedModel or an image folder must be before anything in it is read."""
    what = what or _WHAT.get(kind, kind)
    root = checked(folder, kind, folder_ok=True, what=what)
    count = 0
    for dirpath, dirs, names in os.walk(root, onerror=None, followlinks=False):
        for name in [*dirs, *names]:
            count += 1
            if count > max_files:
                raise InputError(f"{what} {_show(root)} holds more than {max_files} files")
            checked(Path(dirpath, name), kind, folder_ok=True, what=f"{what} file")
    return root


def _show(p: Path) -> str:
    """The path as shown in messages: one line, bounded (a hostile name cannot flood the terminal)."""
    s = str(p)
    s = s.encode("unicode_escape").decode("ascii") if not s.isprintable() else s
    return s if len(s) <= 300 else s[:140] + " ... " + s[-140:]
