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

Trust model
-----------
Who may write the cache: anyone who can write its folder can make an entry, and an entry's own
hashes only prove that its files were not changed *after* its entry.json was written; an entry
cannot vouch for itself. So:

- With ``HWQUANT_CACHE_KEY`` set (a secret, e.g. a CI secret not exposed to pull-request jobs),
  the writer puts an HMAC-SHA256 tag over the whole entry.json (file list with every file's
  sha256, the key's inputs, the artifact's hash, size and recipe; everything but the tag itself)
  into entry.json, and a reader verifies it before anything is restored. An entry without a tag,
  or with a tag that does not verify under the reader's key, is discarded and rebuilt (never
  restored), and the build's log says why. A restore then proves: the files are byte for byte
  what a holder of the key stored under this key. Only jobs that hold the key can write entries
  that others will restore, so give the key to trusted jobs only (e.g. builds of the main branch)
  and let untrusted ones (pull requests) run without it or with their own cache.
- Without a key, a shared cache trusts every one of its writers: whoever can write the folder can
  make hwquant restore any bytes they like for any key. A restore then re-checks only what it can
  against the build's own inputs and the entry's internal consistency: entry.json's inputs must
  hash to the key the build computed, the cached report must be for the requested target and (for
  a named recipe) the requested recipe, and the artifact's sha256 and size must agree between the
  file, entry.json and the report (``size_bytes.artifact``, and every report section that names a
  file with its sha256). This catches a swapped model whose report was left alone, not a
  consistent forgery. Use an unkeyed cache only where everyone who can write it is trusted (a
  developer's own machine, one CI job's private cache).

In both cases an entry restores only the files its backend declared: the report's ``artifacts``
list (plus report.json). A file listed in entry.json that the report does not declare (an extra
``evil.sh``) makes the entry corrupt: it is discarded and the target rebuilt. Only declared files
are stored in the first place; the output folder's ``.hwquant-build`` marker is not cached (the
restore writes a fresh one).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import os
import re
import shutil
import stat
import uuid
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from hwquant.common.files import checked
from hwquant.common.files import limit as _size_limit
from hwquant.common.hashing import file_sha256, tree_sha256

# 2: regular files only, report.json required; backend key from cache_key_extras
# 3: only declared files, artifact hash/size and recipe in entry.json, HMAC tag with HWQUANT_CACHE_KEY
ENTRY_FORMAT = 3
KEY_ENV = "HWQUANT_CACHE_KEY"
MARKER = ".hwquant-build"  # config.outpath.MARKER: the output folder's ownership marker, never cached
_TAG_DOMAIN = b"hwquant cache entry v3\0"


def secret() -> bytes | None:
    """The cache key from the environment (HWQUANT_CACHE_KEY), or None when entries are not authenticated."""
    value = os.environ.get(KEY_ENV)
    return value.encode("utf-8", "surrogateescape") if value else None


def _canonical(meta: dict[str, Any]) -> bytes:
    body = {k: v for k, v in meta.items() if k != "tag"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def tag_of(meta: dict[str, Any], key: bytes) -> str:
    """HMAC-SHA256 over entry.json minus its tag (file hashes, inputs, artifact, recipe)."""
    return hmac.new(key, _TAG_DOMAIN + _canonical(meta), hashlib.sha256).hexdigest()


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
    if p.exists() or p.is_symlink():
        return tree_sha256(checked(p, "data", folder_ok=True))  # never a FIFO or a device
    return None  # module:function


def key_inputs(options: Any, backend: Any, versions: dict[str, Any]) -> dict[str, Any] | None:
    """The plain data the key hashes, or None when the build cannot be cached."""
    data, eval_data = data_hash(options.data), data_hash(options.eval_data)
    if data is None or eval_data is None:
        return None
    import inspect

    src = Path(inspect.getfile(type(backend)))
    backend_src = _source_hash(src.parent) if src.name == "__init__.py" else file_sha256(src)
    return {
        "format": ENTRY_FORMAT,
        "model": tree_sha256(checked(Path(options.model), "model", folder_ok=True)),
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
    checked_files: dict[str, str] = files
    return checked_files


def _open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading without following a symlink (CorruptEntry otherwise)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)  # a FIFO never blocks
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise CorruptEntry(f"{path.name} cannot be opened as a regular file ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CorruptEntry(f"{path.name} is not a regular file")
    os.set_blocking(fd, True)
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
        """(entry, None) on a verified hit; (None, why) when absent, unauthenticated or corrupted (then removed).

        Unauthenticated: with HWQUANT_CACHE_KEY set, an entry whose tag is missing or does not verify.
        Corrupted: entry.json that is not the expected shape (or too large, or nested too deep), inputs
        that do not hash to the key, a path escaping the entry, a file that is a symlink or not
        regular, a missing or unrecorded file, a file the report does not declare, a sha256
        mismatch, a report.json that is not a JSON object, or an artifact whose hash, size or recipe
        disagrees between the file, entry.json and the report (see the module's trust model).
        """
        entry = self.entry(key)
        meta_file = entry / "entry.json"
        if not os.path.lexists(entry) or (entry.is_dir() and not entry.is_symlink() and not os.path.lexists(meta_file)):
            return None, None
        try:
            if entry.is_symlink() or not entry.is_dir():
                raise CorruptEntry("the entry is not a folder")
            cap = _size_limit("cache-entry")
            with _open_regular(meta_file) as f:
                raw = f.read(cap + 1)
            if len(raw) > cap:
                raise CorruptEntry(f"entry.json is larger than {cap} bytes")
            try:
                meta = json.loads(raw)
            except RecursionError:
                raise CorruptEntry("entry.json is nested too deep") from None
            files = _files_of(meta)
            authenticate(meta)
            _check_key(meta, key)
            if _tree(entry / "files") != set(files):
                raise CorruptEntry("the entry's files differ from those it recorded")
            content = _copy_checked(entry / "files" / "report.json", None, files["report.json"], keep=True)
            try:
                report = json.loads(content)
            except RecursionError:
                raise CorruptEntry("report.json is nested too deep") from None
            if not isinstance(report, dict):
                raise CorruptEntry("report.json is not a JSON object")
            _check_declared(files, report)
            _check_consistent(meta, report, files, entry / "files")
            for rel, digest in files.items():
                if rel != "report.json":
                    _copy_checked(entry / "files" / rel, None, digest)
        except Unauthenticated as exc:
            self.discard(key)
            return None, f"cache entry {key[:12]} was not restored: {exc}; rebuilt it"
        except (OSError, ValueError) as exc:  # CorruptEntry and JSON errors are ValueErrors
            self.discard(key)
            return None, f"cache entry {key[:12]} was corrupted ({exc}); rebuilt it"
        return Entry(entry, files), None

    def store(self, key: str, target_dir: Path, inputs: dict[str, Any]) -> None:
        """Publish a finished target folder as the entry for ``key``, atomically.

        Only the files the report declares (its ``artifacts``, plus report.json) are stored; a
        folder whose report declares none is not cached. entry.json records each file's sha256,
        the key's inputs, the artifact's name, sha256 and size, and the recipe; with
        HWQUANT_CACHE_KEY set it also carries the HMAC tag over all of that.

        The entry is assembled in a temporary folder next to it (same file system) and renamed
        into place with entry.json already inside, so a reader on any machine sharing the
        folder sees either no entry or a complete one. When another writer published the key
        first, its entry is kept (same key, same inputs) and ours is dropped: a published entry
        is never replaced or deleted while someone may be restoring from it.
        """
        entry = self.entry(key)
        tmp = entry.parent / f".{key}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            report = json.loads((Path(target_dir) / "report.json").read_text())
            declared = _declared_names(report)
            entry.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(target_dir, tmp / "files", ignore=shutil.ignore_patterns(MARKER, ".*.tmp-*"), symlinks=True)
            files: dict[str, str] = {}
            for p in sorted((tmp / "files").rglob("*")):
                rel = p.relative_to(tmp / "files").as_posix()
                if p.is_symlink() or (p.is_file() and not _is_declared(rel, declared)):
                    p.unlink()  # an undeclared file is never cached (a restore would refuse it)
                elif p.is_file():
                    files[rel] = file_sha256(p)
            meta: dict[str, Any] = {"format": ENTRY_FORMAT, "key": key, "files": files, "inputs": inputs}
            meta.update(_artifact_facts(report, files, tmp / "files"))
            meta = json.loads(json.dumps(meta, default=str))  # what a reader will see, byte for byte
            k = secret()
            if k is not None:
                meta["tag"] = tag_of(meta, k)
            (tmp / "entry.json").write_text(json.dumps(meta, indent=1))
            os.rename(tmp, entry)  # fails when the entry exists (a non-empty folder): someone else won
        except (OSError, ValueError, TypeError, RecursionError):
            pass  # published by another writer, a cache that cannot be written, a report it cannot use: only time
        finally:  # also when interrupted: no half-written entry is left behind
            shutil.rmtree(tmp, ignore_errors=True)


class Unauthenticated(ValueError):
    """An entry whose HMAC tag is missing or wrong under HWQUANT_CACHE_KEY: rebuilt, never restored."""


def authenticate(meta: dict[str, Any]) -> None:
    """With HWQUANT_CACHE_KEY set, the entry's tag must verify (Unauthenticated otherwise)."""
    k = secret()
    if k is None:
        return
    tag = meta.get("tag")
    if not isinstance(tag, str):
        raise Unauthenticated(f"it carries no HMAC tag and {KEY_ENV} is set (written without the key)")
    if not hmac.compare_digest(tag, tag_of(meta, k)):
        raise Unauthenticated(f"its HMAC tag does not verify under {KEY_ENV} (changed, or written with another key)")


def _check_key(meta: dict[str, Any], key: str) -> None:
    """The entry is of this format and for this key: its recorded inputs hash to the key the build computed."""
    if meta.get("format") != ENTRY_FORMAT:
        raise CorruptEntry(f"entry format {meta.get('format')!r}, this hwquant reads {ENTRY_FORMAT}")
    if meta.get("key") != key or not isinstance(meta.get("inputs"), dict) or make_key(meta["inputs"]) != key:
        raise CorruptEntry("its recorded inputs do not hash to its key")


def _declared_names(report: Any) -> list[str]:
    """The files a report declares (its ``artifacts``), plus report.json."""
    names = report.get("artifacts") if isinstance(report, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise CorruptEntry("report.json declares no artifacts list")
    return sorted({*names, "report.json"})


def _is_declared(rel: str, declared: list[str]) -> bool:
    """A file is declared when it is named, or lies in a declared folder (a project's tree)."""
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in declared if d not in (".", "/"))


def _check_declared(files: dict[str, str], report: dict[str, Any]) -> None:
    declared = _declared_names(report)
    extra = sorted(rel for rel in files if not _is_declared(rel, declared))
    if extra:
        raise CorruptEntry(f"it holds {', '.join(map(repr, extra[:5]))}, which the report does not declare")


def _artifact_facts(report: dict[str, Any], files: dict[str, str], folder: Path) -> dict[str, Any]:
    """What entry.json records about the artifact: its name, sha256 and size, and the recipe."""
    name = report.get("artifact_name")
    recipe = report.get("recipe", {}).get("name") if isinstance(report.get("recipe"), dict) else None
    if not isinstance(name, str) or name not in files:
        return {"artifact": None, "recipe": recipe}
    return {
        "artifact": {"name": name, "sha256": files[name], "size": (folder / name).stat().st_size},
        "recipe": recipe,
    }


def _number(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_consistent(meta: dict[str, Any], report: dict[str, Any], files: dict[str, str], folder: Path) -> None:
    """What a restore re-checks without a key: the report is for the requested target and recipe, and the
    artifact's sha256 and size agree between the file, entry.json and the report."""
    inputs = meta["inputs"]
    if "target" in inputs and report.get("target") != inputs["target"]:
        raise CorruptEntry(f"the cached report is for target {report.get('target')!r}, not {inputs['target']!r}")
    recipe = report.get("recipe", {}).get("name") if isinstance(report.get("recipe"), dict) else None
    if meta.get("recipe") != recipe:
        raise CorruptEntry(f"the report's recipe {recipe!r} is not the entry's {meta.get('recipe')!r}")
    requested = inputs.get("recipe")
    named = isinstance(requested, str) and requested != "auto" and _is_preset(requested)
    if named and recipe is not None and recipe != requested:
        raise CorruptEntry(f"the report's recipe {recipe!r} is not the requested {requested!r}")
    art = meta.get("artifact")
    name = report.get("artifact_name")
    if name is None and art is None:
        return  # nothing but the report (a preflight- or sensitivity-only folder)
    if not isinstance(art, dict) or not isinstance(art.get("name"), str) or art["name"] != name:
        raise CorruptEntry(f"entry.json's artifact does not match the report's artifact_name {name!r}")
    if name not in files or files[name] != art.get("sha256"):
        raise CorruptEntry(f"{name}'s sha256 differs between the file list and the artifact record")
    size = os.lstat(folder / name).st_size
    reported = report.get("size_bytes", {}).get("artifact") if isinstance(report.get("size_bytes"), dict) else None
    if not (_number(art.get("size")) and art["size"] == size and _number(reported) and reported == size):
        raise CorruptEntry(
            f"{name} is {size} bytes; entry.json records {art.get('size')!r} and the report {reported!r}"
        )
    recorded = report.get("artifact_sha256")
    if recorded is not None and recorded != files[name]:
        raise CorruptEntry(f"{name}'s sha256 is not the one the report records")
    section = report.get(str(inputs.get("target")))
    for part in section.values() if isinstance(section, dict) else ():
        # a report section naming a file and its sha256 (ethos-u's compiled_model, mcu's c_array)
        if isinstance(part, dict) and isinstance(part.get("sha256"), str):
            held = part.get("file") or part.get("holds") or name
            if held in files and files[held] != part["sha256"]:
                raise CorruptEntry(f"{held}'s sha256 is not the one the report records")


def _is_preset(name: str) -> bool:
    try:
        from hwquant.plugin.recipe import PRESETS
    except ImportError:  # pragma: no cover
        return False
    return name in PRESETS
