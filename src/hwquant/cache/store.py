"""Content-addressed build cache: one entry per target, restored only when every file's hash matches.

The key is a sha256 over everything a target's output depends on: the model's bytes, the data's
bytes, the target, the requested recipe/IO dtype and every build option, the versions of hwquant
(plus a hash of its source and of the backend's source), TensorFlow, LiteRT and numpy, and what
the backend's ``cache_key_extras`` returns: the options that backend declares (another backend's
options do not enter) and its toolchain's identity (tflite-micro version, compiler image ID). The resolved recipe is a pure function of these (the
backend chooses it from the model and the options), so the key is computed before anything is
loaded and a hit costs no TensorFlow import. Data given as ``module:function`` cannot be hashed
without running it, so such builds are not cached (the report says why).

An entry holds regular files only. It is restored by copying bytes, hashed again as they are
read, never by following a link; an entry.json of the wrong shape, a path escaping the entry, a
symlink or a hash mismatch discards the entry and the target is rebuilt.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import stat
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from hwquant.common.hashing import file_sha256, tree_sha256

ENTRY_FORMAT = 2  # 2: regular files only, report.json required; backend key from cache_key_extras


def default_dir() -> Path:
    import platformdirs

    return Path(os.environ.get("HWQUANT_CACHE_DIR") or platformdirs.user_cache_dir("hwquant"))


@functools.cache  # sources do not change within one process (plan keys 100 jobs)
def _source_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*.py")):
        h.update(str(f.relative_to(folder)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def data_hash(spec: str | None) -> str | None:
    """Hash of a data spec's content; None when it cannot be known without running code."""
    if spec is None:
        return "none"
    if spec.startswith("random:"):
        return "spec:" + spec
    p = Path(spec)
    if p.exists():
        return tree_sha256(p)
    return None  # module:function


def key_inputs(options, backend, versions: dict[str, Any]) -> dict[str, Any] | None:
    """The plain data the key hashes, or None when the build cannot be cached."""
    data, eval_data = data_hash(options.data), data_hash(options.eval_data)
    if data is None or eval_data is None:
        return None
    import inspect

    src = Path(inspect.getfile(type(backend)))
    backend_src = _source_hash(src.parent) if src.name == "__init__.py" else file_sha256(src)
    return {
        "format": ENTRY_FORMAT,
        "model": tree_sha256(Path(options.model)),
        "data": data,
        "eval_data": eval_data,
        "target": backend.name,
        "recipe": options.recipe,
        "io_dtype": options.io_dtype,
        "options": {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in sorted(vars(options).items())
            if k
            not in ("model", "data", "eval_data", "target", "out", "verbose", "backend_options", "recipe", "io_dtype")
        },
        "versions": versions,
        "hwquant_source": _source_hash(Path(__file__).resolve().parents[1]),
        "backend_source": backend_src,
        # the backend's own options and its toolchain's identity (Backend.cache_key_extras)
        "backend": backend.cache_key_extras(options),
    }


def make_key(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


class CorruptEntry(ValueError):
    """A cache entry that must not be used: discarded, and the target rebuilt."""


_HEX = re.compile(r"[0-9a-f]{64}")


def _files_of(meta: Any) -> dict[str, str]:
    """entry.json's file list, checked: relative paths inside the entry, sha256 digests, a report."""
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
        raise CorruptEntry("entry.json is not an object with a 'files' table")
    files = meta["files"]
    for rel, digest in files.items():
        parts = PurePosixPath(rel).parts
        if (
            not rel
            or rel.startswith("/")
            or "\\" in rel
            or any(p in ("..", ".") for p in parts)
            or "/".join(parts) != rel
        ):
            raise CorruptEntry(f"entry.json names a path outside the entry: {rel!r}")
        if not isinstance(digest, str) or not _HEX.fullmatch(digest):
            raise CorruptEntry(f"entry.json has no sha256 for {rel!r}")
    if "report.json" not in files:
        raise CorruptEntry("the entry holds no report.json")
    return files


def _open_regular(path: Path):
    """Open a regular file for reading without following a symlink (CorruptEntry otherwise)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise CorruptEntry(f"{path.name} cannot be opened as a regular file ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CorruptEntry(f"{path.name} is not a regular file")
    return os.fdopen(fd, "rb")


def _tree(folder: Path) -> set[str]:
    """Relative paths of the regular files under ``folder``; CorruptEntry on a symlink or special file."""
    if folder.is_symlink() or not folder.is_dir():
        raise CorruptEntry("files/ is not a folder")
    found = set()
    for dirpath, dirs, names in os.walk(folder, followlinks=False):
        for name in [*dirs, *names]:
            p = Path(dirpath, name)
            mode = os.lstat(p).st_mode
            if stat.S_ISLNK(mode):
                raise CorruptEntry(f"{p.relative_to(folder)} is a symlink")
            if stat.S_ISREG(mode):
                found.add(p.relative_to(folder).as_posix())
            elif not stat.S_ISDIR(mode):
                raise CorruptEntry(f"{p.relative_to(folder)} is not a regular file")
    return found


def _copy_checked(src: Path, dest: Path | None, digest: str, keep: bool = False) -> bytes:
    """Stream ``src`` (never through a symlink) into ``dest`` while hashing; CorruptEntry on a mismatch.

    Returns the bytes read when ``keep`` (for report.json), else b"".
    """
    h, kept = hashlib.sha256(), []
    with _open_regular(src) as f, open(dest, "wb") if dest is not None else contextlib.nullcontext() as out:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            if out is not None:
                out.write(chunk)
            if keep:
                kept.append(chunk)
    if h.hexdigest() != digest:
        raise CorruptEntry(f"{src.name} does not match its recorded sha256")
    return b"".join(kept)


class Entry:
    """A verified cache entry: regular files only, each matching its recorded sha256."""

    def __init__(self, path: Path, files: dict[str, str]):
        self.path, self.files = path, files

    def copy_to(self, dest: Path) -> None:
        """Copy every file's bytes into ``dest``, hashing them again as they are read (CorruptEntry
        when one changed since the lookup). Never follows a symlink."""
        for rel, digest in sorted(self.files.items()):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy_checked(self.path / "files" / rel, target, digest)


class Cache:
    """Entries live at DIR/<key[:2]>/<key>/ with files/ and entry.json (file list with sha256)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def discard(self, key: str) -> None:
        """Remove an entry that must not be used. A folder is renamed away first (atomic), so a
        reader on another machine never sees it half-deleted."""
        entry = self.entry(key)
        if entry.is_symlink() or entry.is_file():
            entry.unlink(missing_ok=True)
            return
        trash = entry.parent / f".{key}.trash-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(entry, trash)
        except OSError:
            return  # already gone (another reader discarded it)
        shutil.rmtree(trash, ignore_errors=True)

    def holds(self, key: str) -> bool:
        """Whether a published entry exists (cheap, for `hwquant plan`; a build verifies it before use)."""
        return (self.entry(key) / "entry.json").is_file()

    def lookup(self, key: str) -> tuple[Entry | None, str | None]:
        """(entry, None) on a verified hit; (None, why) when absent or corrupted (then removed).

        Corrupted: entry.json that is not the expected shape, a path escaping the entry, a file
        that is a symlink or not regular, a missing or unrecorded file, a sha256 mismatch, or a
        report.json that is not a JSON object.
        """
        entry = self.entry(key)
        meta_file = entry / "entry.json"
        if not os.path.lexists(entry) or (entry.is_dir() and not entry.is_symlink() and not os.path.lexists(meta_file)):
            return None, None
        try:
            if entry.is_symlink() or not entry.is_dir():
                raise CorruptEntry("the entry is not a folder")
            with _open_regular(meta_file) as f:
                meta = json.loads(f.read())
            files = _files_of(meta)
            if _tree(entry / "files") != set(files):
                raise CorruptEntry("the entry's files differ from those it recorded")
            for rel, digest in files.items():
                content = _copy_checked(entry / "files" / rel, None, digest, keep=rel == "report.json")
                if rel == "report.json" and not isinstance(json.loads(content), dict):
                    raise CorruptEntry("report.json is not a JSON object")
        except (OSError, ValueError) as exc:  # CorruptEntry and JSON errors are ValueErrors
            self.discard(key)
            return None, f"cache entry {key[:12]} was corrupted ({exc}); rebuilt it"
        return Entry(entry, files), None

    def store(self, key: str, target_dir: Path, inputs: dict[str, Any]) -> None:
        """Publish a finished target folder as the entry for ``key``, atomically.

        The entry is assembled in a temporary folder next to it (same file system) and renamed
        into place with entry.json already inside, so a reader on any machine sharing the
        folder sees either no entry or a complete one. When another writer published the key
        first, its entry is kept (same key, same inputs) and ours is dropped: a published entry
        is never replaced or deleted while someone may be restoring from it.
        """
        entry = self.entry(key)
        tmp = entry.parent / f".{key}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(target_dir, tmp / "files")
            files = {
                p.relative_to(tmp / "files").as_posix(): file_sha256(p)
                for p in sorted((tmp / "files").rglob("*"))
                if p.is_file()
            }
            (tmp / "entry.json").write_text(
                json.dumps({"key": key, "files": files, "inputs": inputs}, indent=1, default=str)
            )
            os.rename(tmp, entry)  # fails when the entry exists (a non-empty folder): someone else won
        except OSError:
            pass  # published by another writer, or a cache that cannot be written: it only costs time
        finally:  # also when interrupted: no half-written entry is left behind
            shutil.rmtree(tmp, ignore_errors=True)
