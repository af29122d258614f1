"""Cache entries cannot be poisoned (issue 11, item 2) and keys hold exactly what changes a target's
output (item 12)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.cache import store as cache_mod
from hwquant.cli.main import main
from hwquant.config.versions import versions
from hwquant.pipeline.many import build_many
from hwquant.plugin.facts import BuildOptions
from hwquant.plugin.manager import registry
from tests.helpers import models

INPUTS = {"target": "cpu", "recipe": "int8"}
KEY = cache_mod.make_key(INPUTS)


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


_SOUND = object()


def _meta(files: dict[str, bytes]) -> dict:
    """entry.json as Cache.store writes it for ``files`` (report.json parsed for the artifact facts)."""
    meta = {"format": cache_mod.ENTRY_FORMAT, "key": KEY, "files": {r: _sha(c) for r, c in files.items()}}
    meta["inputs"] = INPUTS
    meta["artifact"] = (
        {"name": "model.tflite", "sha256": _sha(files["model.tflite"]), "size": len(files["model.tflite"])}
        if "model.tflite" in files
        else None
    )
    meta["recipe"] = "int8"
    return meta


def _entry(root: Path, files: dict[str, bytes], meta=_SOUND) -> Path:
    """A cache entry as Cache.store writes it (or with ``meta`` as its entry.json)."""
    entry = root / KEY[:2] / KEY
    for rel, content in files.items():
        (entry / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
        (entry / "files" / rel).write_bytes(content)
    if meta is _SOUND:
        meta = _meta(files)
    (entry / "entry.json").write_text(json.dumps(meta))
    return entry


def _report(artifact: bytes = b"model", **extra) -> bytes:
    report = {
        "target": "cpu",
        "recipe": {"name": "int8"},
        "artifact_name": "model.tflite",
        "artifacts": ["model.tflite", "report.json", "sub"],
        "size_bytes": {"artifact": len(artifact)},
        **extra,
    }
    return json.dumps(report).encode()


REPORT = _report()


def test_a_sound_entry_is_restored_by_copying_bytes(tmp_path):
    _entry(tmp_path / "c", {"report.json": REPORT, "model.tflite": b"model", "sub/x.h": b"x"})
    entry, why = cache_mod.Cache(tmp_path / "c").lookup(KEY)
    assert why is None and entry is not None
    entry.copy_to(tmp_path / "dest")
    got = {
        p.relative_to(tmp_path / "dest").as_posix(): p.read_bytes()
        for p in (tmp_path / "dest").rglob("*")
        if p.is_file()
    }
    assert got == {"report.json": REPORT, "model.tflite": b"model", "sub/x.h": b"x"}


@pytest.mark.parametrize("link", ["model.tflite", "sub"])
def test_a_symlink_in_an_entry_is_a_corrupt_entry_even_with_its_hash_updated(tmp_path, link):
    secret = tmp_path / "secret"
    secret.write_bytes(b"the deploy key")
    (tmp_path / "secretdir").mkdir()
    (tmp_path / "secretdir" / "x.h").write_bytes(b"the deploy key")
    entry = _entry(tmp_path / "c", {"report.json": REPORT, "model.tflite": b"model", "sub/x.h": b"x"})
    meta = json.loads((entry / "entry.json").read_text())
    if link == "model.tflite":
        (entry / "files" / "model.tflite").unlink()
        (entry / "files" / "model.tflite").symlink_to(secret)
        meta["files"]["model.tflite"] = _sha(b"the deploy key")
    else:
        for p in sorted((entry / "files" / "sub").iterdir()):
            p.unlink()
        (entry / "files" / "sub").rmdir()
        (entry / "files" / "sub").symlink_to(tmp_path / "secretdir")
        meta["files"]["sub/x.h"] = _sha(b"the deploy key")
    (entry / "entry.json").write_text(json.dumps(meta))
    got, why = cache_mod.Cache(tmp_path / "c").lookup(KEY)
    assert got is None and "corrupted" in why and "symlink" in why, why
    assert not os.path.lexists(entry) and secret.read_bytes() == b"the deploy key"


def test_a_file_swapped_for_a_symlink_after_the_lookup_is_not_followed(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"model")  # same bytes as the recorded file: the hash alone cannot tell
    entry_dir = _entry(tmp_path / "c", {"report.json": REPORT, "model.tflite": b"model"})
    entry, _ = cache_mod.Cache(tmp_path / "c").lookup(KEY)
    (entry_dir / "files" / "model.tflite").unlink()
    (entry_dir / "files" / "model.tflite").symlink_to(secret)
    with pytest.raises(cache_mod.CorruptEntry):
        entry.copy_to(tmp_path / "dest")


@pytest.mark.parametrize(
    "meta",
    [
        [],
        {},
        {"files": []},
        {"files": None},
        {"files": "report.json"},
        "entry",
        None,
        3,
        {"files": {"report.json": 5}},
        {"files": {"report.json": "not-a-sha"}},
        {"files": {"report.json": _sha(REPORT), "../x": _sha(b"x")}},
        {"files": {"report.json": _sha(REPORT), "/etc/passwd": _sha(b"x")}},
        {"files": {"report.json": _sha(REPORT), "a/../../x": _sha(b"x")}},
        {"files": {"report.json": _sha(REPORT), "./x": _sha(b"x")}},
        {"files": {"model.tflite": _sha(b"m")}},  # no report.json
    ],
)
def test_entry_json_of_the_wrong_shape_is_discarded(tmp_path, meta):
    entry = _entry(tmp_path / "c", {"report.json": REPORT}, meta=meta)
    got, why = cache_mod.Cache(tmp_path / "c").lookup(KEY)
    assert got is None and "corrupted" in why
    assert not entry.exists()


@pytest.mark.parametrize("report", [b"[]", b"not json", b"null"])
def test_a_report_that_is_not_an_object_is_a_corrupt_entry(tmp_path, report):
    _entry(tmp_path / "c", {"report.json": report, "model.tflite": b"model"})
    got, why = cache_mod.Cache(tmp_path / "c").lookup(KEY)
    assert got is None and "corrupted" in why


def test_entry_json_that_is_a_symlink_or_an_entry_that_is_a_file_is_discarded(tmp_path):
    entry = _entry(tmp_path / "c", {"report.json": REPORT})
    real = tmp_path / "meta.json"
    real.write_text((entry / "entry.json").read_text())
    (entry / "entry.json").unlink()
    (entry / "entry.json").symlink_to(real)
    assert cache_mod.Cache(tmp_path / "c").lookup(KEY)[0] is None and not entry.exists() and real.exists()
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text("{}")
    got, why = cache_mod.Cache(tmp_path / "c").lookup(KEY)
    assert got is None and "corrupted" in why and not entry.exists()


@pytest.fixture(scope="module")
def cal(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cal") / "cal.npz"
    np.savez(p, image=models.keras_samples(20))
    return p


def _key(model, cal, target, **backend_options):
    opts = BuildOptions(model=model, target=target, data=str(cal), backend_options=backend_options)
    return cache_mod.key_inputs(opts, registry().get(target), versions())


@pytest.mark.parametrize("meta", [[], {"files": []}])
def test_a_build_over_a_poisoned_entry_rebuilds(keras_model, cal, tmp_path, meta):
    opts = BuildOptions(model=keras_model, target="cpu", data=str(cal), out=tmp_path / "out")
    first = build_many(opts, lambda s: None, cache_dir=tmp_path / "c")[0]
    artifact = first.artifact_path.read_bytes()
    entry = next((tmp_path / "c").glob(f"*/{first.cache['key']}"))
    (entry / "entry.json").write_text(json.dumps(meta))
    lines: list[str] = []
    again = build_many(opts, lines.append, cache_dir=tmp_path / "c")[0]
    assert again.cache["hit"] is False and again.artifact_path.read_bytes() == artifact
    assert any("corrupted" in line for line in lines), lines
    third = build_many(opts, lambda s: None, cache_dir=tmp_path / "c")[0]  # the rebuilt entry is sound
    assert third.cache["hit"] is True


def test_a_backend_option_enters_only_the_key_of_the_backend_that_declares_it(keras_model, cal):
    cpu, cpu_board = _key(keras_model, cal, "cpu"), _key(keras_model, cal, "cpu", board="cortex-m4")
    assert cache_mod.make_key(cpu) == cache_mod.make_key(cpu_board)
    mcu, mcu_board = _key(keras_model, cal, "mcu"), _key(keras_model, cal, "mcu", board="cortex-m4")
    assert cache_mod.make_key(mcu) != cache_mod.make_key(mcu_board)
    assert mcu_board["backend"]["options"] == {"board": "cortex-m4"}
    assert "toolchain_version" not in cpu  # looked up before, defined by no backend


def test_adding_board_does_not_rebuild_cpu(keras_model, cal, tmp_path):
    # Options are namespaced per backend: a cpu build never receives --mcu-board (alone it is exit 2,
    # before any work), and an mcu option reaching the cpu key would not be one of cpu's own options.
    args = [
        "build",
        str(keras_model),
        "--data",
        str(cal),
        "-o",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "c"),
        "--target",
        "cpu",
    ]
    r = CliRunner().invoke(main, [*args, "--mcu-board", "cortex-m4"])
    assert r.exit_code == 2 and "no target being built uses that backend" in r.output, r.output
    assert not (tmp_path / "out").exists()
    assert cache_mod.make_key(_key(keras_model, cal, "cpu", board="cortex-m4")) == cache_mod.make_key(
        _key(keras_model, cal, "cpu")
    )


@pytest.mark.slow
def test_adding_an_mcu_board_to_a_cpu_and_mcu_build_rebuilds_only_mcu(keras_model, cal, tmp_path):
    args = [
        "build",
        str(keras_model),
        "--data",
        str(cal),
        "-o",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "c"),
        "--target",
        "cpu,mcu",
    ]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(main, [*args, "--mcu-board", "cortex-m4"])
    assert second.exit_code == 0, second.output
    assert "cpu: restored from cache" in second.output and "mcu: restored" not in second.output, second.output


def test_mcu_key_holds_the_tflite_micro_version_templates_and_boards_file(keras_model, cal, tmp_path, monkeypatch):
    from importlib.metadata import version

    from hwquant_backends._tflm import arena

    inputs = _key(keras_model, cal, "mcu")
    assert inputs["backend"]["tflite_micro"] == version("tflite-micro")
    assert len(inputs["backend"]["templates"]) == 64
    monkeypatch.setattr(arena, "runtime_version", lambda: "0.other")
    assert cache_mod.make_key(_key(keras_model, cal, "mcu")) != cache_mod.make_key(inputs)
    boards = tmp_path / "boards.toml"
    boards.write_text("[boards.b]\nram_kib = 64\nflash_kib = 256\n")
    k1 = cache_mod.make_key(_key(keras_model, cal, "mcu", board="b", boards_file=str(boards)))
    boards.write_text("[boards.b]\nram_kib = 8\nflash_kib = 256\n")  # same path, other budget
    assert cache_mod.make_key(_key(keras_model, cal, "mcu", board="b", boards_file=str(boards))) != k1


def test_a_backend_adds_to_its_key_through_cache_key_extras(keras_model, cal):
    cpu = registry().get("cpu")

    class Versioned(type(cpu)):
        def cache_key_extras(self, options):
            return {**super().cache_key_extras(options), "sdk": "2.0"}

    opts = BuildOptions(model=keras_model, target="cpu", data=str(cal))
    inputs = cache_mod.key_inputs(opts, Versioned(), versions())
    assert inputs["backend"]["sdk"] == "2.0" and cache_mod.make_key(inputs) != cache_mod.make_key(
        cache_mod.key_inputs(opts, cpu, versions())
    )


def test_edgetpu_key_holds_the_native_compilers_version(keras_model, cal, tmp_path, monkeypatch):
    exe = tmp_path / "bin" / "edgetpu_compiler"
    exe.parent.mkdir()
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    keys = []
    for v in ("16.0.384591198", "15.0.340273435"):
        exe.write_text(f"#!/bin/sh\necho 'Edge TPU Compiler version {v}'\n")
        exe.chmod(0o755)
        inputs = _key(keras_model, cal, "edgetpu", toolchain="native")
        assert v in inputs["backend"]["compiler"], inputs["backend"]
        keys.append(cache_mod.make_key(inputs))
    assert keys[0] != keys[1]


def _docker():
    try:
        import docker

        c = docker.from_env(timeout=60)
        c.ping()
        return c
    except Exception as exc:
        pytest.skip(f"no Docker engine reachable ({exc})")


def _image(client, tag: str, content: bytes) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY marker /marker\n"), ("marker", content)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True)
    return image.id


def test_edgetpu_key_holds_the_image_id_not_only_its_tag(keras_model, cal):
    client = _docker()
    tag = "hwquant-test/key-image:1"
    try:
        ids, keys = [], []
        for content in (b"compiler build 1", b"compiler build 2"):  # rebuilt under the same tag
            ids.append(_image(client, tag, content))
            inputs = _key(keras_model, cal, "edgetpu", toolchain="docker", image=tag)
            assert ids[-1] in inputs["backend"]["compiler"], inputs["backend"]
            keys.append(cache_mod.make_key(inputs))
        assert ids[0] != ids[1] and keys[0] != keys[1]
    finally:
        for i in set(ids):
            try:
                client.images.remove(i, force=True)
            except Exception:
                pass
