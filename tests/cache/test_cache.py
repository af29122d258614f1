"""The build cache: a repeated build restores verified files; a corrupted entry is rebuilt, never used."""

from __future__ import annotations

import numpy as np

from hwquant.pipeline.many import build_many
from hwquant.plugin.facts import BuildOptions
from tests.helpers import models


def _build(model, tmp_path, cache, data, log=None):
    opts = BuildOptions(model=model, target="cpu", data=str(data), out=tmp_path / "out")
    return build_many(opts, log or (lambda s: None), cache_dir=cache)[0]


def test_hit_restores_identical_files_and_corruption_rebuilds(keras_model, tmp_path):
    data = tmp_path / "cal.npz"
    np.savez(data, image=models.keras_samples(20))
    cache = tmp_path / "cache"
    first = _build(keras_model, tmp_path, cache, data)
    assert first.cache["hit"] is False
    artifact = first.artifact_path.read_bytes()
    lines: list[str] = []
    second = _build(keras_model, tmp_path, cache, data, lines.append)
    assert second.cache == {**second.cache, "hit": True, "key": first.cache["key"]}
    assert second.artifact_path.read_bytes() == artifact and list(second.timings_s) == ["restore"]
    assert any("restored from cache" in s for s in lines)
    # corrupt the cached artifact: detected by hash, entry dropped, target rebuilt
    entry = next(cache.glob(f"*/{first.cache['key']}"))
    (entry / "files" / "model.tflite").write_bytes(b"garbage")
    lines.clear()
    third = _build(keras_model, tmp_path, cache, data, lines.append)
    assert third.cache["hit"] is False and third.artifact_path.read_bytes() == artifact
    assert any("corrupted" in s for s in lines)
    # a change to the data changes the key
    np.savez(data, image=models.keras_samples(20, seed=1))
    fourth = _build(keras_model, tmp_path, cache, data)
    assert fourth.cache["hit"] is False and fourth.cache["key"] != first.cache["key"]
