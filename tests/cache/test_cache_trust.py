"""The cache trust model (issue 20, item 2): entries do not vouch for themselves.

With HWQUANT_CACHE_KEY every entry carries an HMAC over its entry.json (file hashes, inputs, artifact,
recipe); a forged or untagged entry is rebuilt, never restored. Without a key a restore re-checks what
it can: the report's recorded artifact size and hashes, the requested target and recipe, and that the
entry's inputs hash to the key. An entry restores only the files its report declares.

One real cpu build (module fixture) makes the cache; every test works on a copy of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from hwquant.cache import store as cache_mod
from hwquant.pipeline.many import build_many
from hwquant.plugin.facts import BuildOptions
from tests.helpers import models

SECRET = "ci-secret-for-tests"


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture(scope="module")
def built(keras_model, tmp_path_factory):
    """(options maker, a cache with one keyed entry, one unkeyed, the artifact's bytes)."""
    root = tmp_path_factory.mktemp("trust")
    cal = root / "cal.npz"
    np.savez(cal, image=models.keras_samples(20))
    caches = {}
    old = os.environ.pop(cache_mod.KEY_ENV, None)
    try:
        for keyed in (True, False):
            if keyed:
                os.environ[cache_mod.KEY_ENV] = SECRET
            else:
                os.environ.pop(cache_mod.KEY_ENV, None)
            opts = BuildOptions(model=keras_model, target="cpu", data=str(cal), out=root / f"out-{keyed}")
            first = build_many(opts, lambda s: None, cache_dir=root / f"cache-{keyed}")[0]
            caches[keyed] = root / f"cache-{keyed}"
    finally:
        os.environ.pop(cache_mod.KEY_ENV, None)
        if old is not None:
            os.environ[cache_mod.KEY_ENV] = old
    return {"keras_model": keras_model, "cal": cal, "caches": caches, "key": first.cache["key"]}


def _setup(built, tmp_path, monkeypatch, keyed: bool):
    cache = tmp_path / "cache"
    shutil.copytree(built["caches"][keyed], cache)
    if keyed:
        monkeypatch.setenv(cache_mod.KEY_ENV, SECRET)
    else:
        monkeypatch.delenv(cache_mod.KEY_ENV, raising=False)
    entry = next(cache.glob(f"*/{built['key']}"))
    return cache, entry


def _build(built, tmp_path, cache):
    lines: list[str] = []
    opts = BuildOptions(model=built["keras_model"], target="cpu", data=str(built["cal"]), out=tmp_path / "out")
    result = build_many(opts, lines.append, cache_dir=cache)[0]
    return result, lines


def _rewrite(entry: Path, rel: str, content: bytes, report_too: bool = False) -> None:
    """Replace a cached file and rewrite its sha256 (and the artifact record) in entry.json: the forgery
    an unauthenticated writer can always make."""
    (entry / "files" / rel).write_bytes(content)
    meta = json.loads((entry / "entry.json").read_text())
    meta["files"][rel] = _sha(content)
    if meta.get("artifact") and meta["artifact"]["name"] == rel:
        meta["artifact"].update(sha256=_sha(content), size=len(content))
    if report_too:
        report = json.loads((entry / "files" / "report.json").read_text())
        report["size_bytes"]["artifact"] = len(content)
        (entry / "files" / "report.json").write_text(json.dumps(report))
        meta["files"]["report.json"] = _sha((entry / "files" / "report.json").read_bytes())
    (entry / "entry.json").write_text(json.dumps(meta))


def test_a_keyed_entry_carries_a_tag_and_restores_with_the_marker(built, tmp_path, monkeypatch):
    cache, entry = _setup(built, tmp_path, monkeypatch, keyed=True)
    meta = json.loads((entry / "entry.json").read_text())
    assert meta["tag"] == cache_mod.tag_of(meta, SECRET.encode())
    assert meta["format"] == cache_mod.ENTRY_FORMAT and meta["recipe"] == "int8-float-fallback"
    assert meta["artifact"]["size"] == (entry / "files" / "model.tflite").stat().st_size
    assert ".hwquant-build" not in meta["files"]  # the ownership marker is not cached
    result, lines = _build(built, tmp_path, cache)
    assert result.cache["hit"] is True, lines
    assert json.loads((tmp_path / "out" / "cpu" / ".hwquant-build").read_text())["tool"] == "hwquant"


def test_keyed_a_replaced_model_with_its_hash_rewritten_is_rebuilt(built, tmp_path, monkeypatch):
    cache, entry = _setup(built, tmp_path, monkeypatch, keyed=True)
    genuine = (entry / "files" / "model.tflite").read_bytes()
    foreign = genuine[:-8] + b"\0" * 8  # same size: only the tag can tell
    assert foreign != genuine
    _rewrite(entry, "model.tflite", foreign, report_too=True)  # consistent in every way but the tag
    result, lines = _build(built, tmp_path, cache)
    assert result.cache["hit"] is False
    assert (tmp_path / "out" / "cpu" / "model.tflite").read_bytes() == genuine
    assert any("not restored" in s and "HMAC tag does not verify" in s for s in lines), lines


def test_keyed_an_edited_report_with_its_hash_rewritten_is_refused(built, tmp_path, monkeypatch):
    cache, entry = _setup(built, tmp_path, monkeypatch, keyed=True)
    report = json.loads((entry / "files" / "report.json").read_text())
    for out in report["fidelity"]["outputs"].values():
        out["snr_db"] = 99.0
    _rewrite(entry, "report.json", json.dumps(report).encode())
    got, why = cache_mod.Cache(cache).lookup(built["key"])
    assert got is None and "HMAC" in why and not entry.exists()


def test_keyed_an_untagged_entry_or_one_tagged_with_another_key_is_rebuilt(built, tmp_path, monkeypatch):
    cache, _ = _setup(built, tmp_path, monkeypatch, keyed=False)  # written without a key
    monkeypatch.setenv(cache_mod.KEY_ENV, SECRET)
    got, why = cache_mod.Cache(cache).lookup(built["key"])
    assert got is None and "carries no HMAC tag" in why
    cache, _ = _setup(built, tmp_path / "b", monkeypatch, keyed=True)
    monkeypatch.setenv(cache_mod.KEY_ENV, "another secret")
    got, why = cache_mod.Cache(cache).lookup(built["key"])
    assert got is None and "does not verify" in why


def test_unkeyed_a_replaced_model_that_no_longer_matches_the_report_is_refused(built, tmp_path, monkeypatch):
    cache, entry = _setup(built, tmp_path, monkeypatch, keyed=False)
    genuine = (entry / "files" / "model.tflite").read_bytes()
    _rewrite(entry, "model.tflite", genuine + b"\0" * 64)  # the report still records the genuine size
    result, lines = _build(built, tmp_path, cache)
    assert result.cache["hit"] is False
    assert (tmp_path / "out" / "cpu" / "model.tflite").read_bytes() == genuine
    assert any("corrupted" in s and "the report" in s for s in lines), lines


def test_unkeyed_a_keyed_entry_still_restores(built, tmp_path, monkeypatch):
    cache, _ = _setup(built, tmp_path, monkeypatch, keyed=True)
    monkeypatch.delenv(cache_mod.KEY_ENV)
    entry, why = cache_mod.Cache(cache).lookup(built["key"])
    assert why is None and entry is not None


@pytest.mark.parametrize("keyed", [True, False])
def test_an_undeclared_file_listed_in_entry_json_is_never_restored(built, tmp_path, monkeypatch, keyed):
    cache, entry = _setup(built, tmp_path, monkeypatch, keyed=keyed)
    _rewrite(entry, "evil.sh", b"#!/bin/sh\nrm -rf ~\n")
    result, lines = _build(built, tmp_path, cache)
    assert result.cache["hit"] is False
    assert not (tmp_path / "out" / "cpu" / "evil.sh").exists()
    why = "HMAC" if keyed else "'evil.sh', which the report does not declare"
    assert any(why in s for s in lines), lines


def test_an_entry_under_another_key_is_refused(built, tmp_path, monkeypatch):
    cache, entry = _setup(built, tmp_path, monkeypatch, keyed=False)
    other = "ff" + built["key"][2:]
    (cache / other[:2]).mkdir(exist_ok=True)
    shutil.copytree(entry, cache / other[:2] / other)
    meta = json.loads((cache / other[:2] / other / "entry.json").read_text())
    meta["key"] = other
    (cache / other[:2] / other / "entry.json").write_text(json.dumps(meta))
    got, why = cache_mod.Cache(cache).lookup(other)
    assert got is None and "do not hash to its key" in why


def test_a_requested_recipe_the_report_contradicts_is_refused(built, tmp_path, monkeypatch):
    cache, entry = _setup(built, tmp_path, monkeypatch, keyed=False)
    meta = json.loads((entry / "entry.json").read_text())
    meta["inputs"]["recipe"] = "float16"  # as if the build had asked for float16 (it made int8-float-fallback)
    new_key = cache_mod.make_key(meta["inputs"])
    meta["key"] = new_key
    dest = cache / new_key[:2] / new_key
    dest.parent.mkdir(exist_ok=True)
    shutil.copytree(entry / "files", dest / "files")
    (dest / "entry.json").write_text(json.dumps(meta))
    got, why = cache_mod.Cache(cache).lookup(new_key)
    assert got is None and "not the requested 'float16'" in why, why


def _huge(p: Path) -> None:
    p.write_bytes(b" " * (cache_mod._size_limit("cache-entry") + 1))


def _deep(p: Path) -> None:
    p.write_text("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize("make", [os.mkfifo, _huge, _deep])
def test_a_hostile_entry_json_fifo_huge_or_deep_is_a_corrupt_entry_at_once(built, tmp_path, monkeypatch, make):
    cache, entry = _setup(built, tmp_path, monkeypatch, keyed=False)
    (entry / "entry.json").unlink()
    make(entry / "entry.json")
    box: dict = {}
    t = threading.Thread(target=lambda: box.update(r=cache_mod.Cache(cache).lookup(built["key"])), daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "lookup blocked on entry.json"
    got, why = box["r"]
    assert got is None and "corrupted" in why, why
