"""Content-addressed build cache: one entry per target, restored only when every file's hash matches.

The key is a sha256 over everything a target's output depends on: the model's bytes, the data's
bytes, the target, the requested recipe/IO dtype and every build option, the backend options,
and the versions of hwquant (plus a hash of its source and of the backend's source), TensorFlow,
LiteRT, numpy and the backend's toolchain. The resolved recipe is a pure function of these (the
backend chooses it from the model and the options), so the key is computed before anything is
loaded and a hit costs no TensorFlow import. Data given as ``module:function`` cannot be hashed
without running it, so such builds are not cached (the report says why).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from hwquant.common.hashing import file_sha256, tree_sha256

ENTRY_FORMAT = 1


def default_dir() -> Path:
    import platformdirs

    return Path(os.environ.get("HWQUANT_CACHE_DIR") or platformdirs.user_cache_dir("hwquant"))


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
    import hwquant

    data, eval_data = data_hash(options.data), data_hash(options.eval_data)
    if data is None or eval_data is None:
        return None
    import inspect

    src = Path(inspect.getfile(type(backend)))
    backend_src = _source_hash(src.parent) if src.name == "__init__.py" else file_sha256(src)
    return {
        "format": ENTRY_FORMAT,
        "model": tree_sha256(Path(options.model)), "data": data, "eval_data": eval_data,
        "target": backend.name, "recipe": options.recipe, "io_dtype": options.io_dtype,
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(vars(options).items())
                    if k not in ("model", "data", "eval_data", "target", "out", "verbose", "backend_options",
                                 "recipe", "io_dtype")},
        "backend_options": {k: (list(v) if isinstance(v, tuple) else v)
                            for k, v in sorted(options.backend_options.items())},
        "versions": versions,
        "hwquant_source": _source_hash(Path(hwquant.__file__).parent),
        "backend_source": backend_src,
        "toolchain": backend.toolchain().detail,
        "toolchain_version": getattr(backend, "toolchain_version", lambda: None)(),
    }


def make_key(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


class Cache:
    """Entries live at DIR/<key[:2]>/<key>/ with files/ and entry.json (file list with sha256)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def lookup(self, key: str) -> tuple[Path | None, str | None]:
        """(files dir, None) on a verified hit; (None, why) when absent or corrupted (then removed)."""
        entry = self.entry(key)
        meta_file = entry / "entry.json"
        if not meta_file.is_file():
            return None, None
        try:
            meta = json.loads(meta_file.read_text())
            files = meta["files"]
            for rel, digest in files.items():
                f = entry / "files" / rel
                if not f.is_file() or file_sha256(f) != digest:
                    raise ValueError(f"{rel} does not match its recorded sha256")
            extra = {str(p.relative_to(entry / "files")) for p in (entry / "files").rglob("*") if p.is_file()}
            if extra != set(files):
                raise ValueError("the entry holds files it did not record")
        except (OSError, ValueError, KeyError) as exc:
            shutil.rmtree(entry, ignore_errors=True)
            return None, f"cache entry {key[:12]} was corrupted ({exc}); rebuilt it"
        return entry / "files", None

    def store(self, key: str, target_dir: Path, inputs: dict[str, Any]) -> None:
        """Copy a finished target folder into the cache (atomically: temp dir then rename)."""
        entry = self.entry(key)
        tmp = entry.parent / f".{key}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            shutil.copytree(target_dir, tmp / "files")
            files = {str(p.relative_to(tmp / "files")): file_sha256(p)
                     for p in sorted((tmp / "files").rglob("*")) if p.is_file()}
            (tmp / "entry.json").write_text(json.dumps({"key": key, "files": files, "inputs": inputs},
                                                       indent=1, default=str))
            shutil.rmtree(entry, ignore_errors=True)
            tmp.rename(entry)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # a cache that cannot be written only costs time
