"""Bad usage caught before anything is loaded: --out, numeric options, model format, init's folder,
image normalization per channel, and a calibration set the eval split would empty (issue 11 items
6, 7, 11; issue 12 item 7)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from tests.helpers import models


def run(*args, cwd=None):
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        r = CliRunner().invoke(main, [str(a) for a in args])
    finally:
        os.chdir(old)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output
    return r


def assert_usage(r, *words):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    for w in words:
        assert w in r.output, (w, r.output)


def test_out_is_a_regular_file(keras_model, tmp_path):
    f = tmp_path / "out.txt"
    f.write_text("keep me")
    assert_usage(run("build", keras_model, "-o", f, "--no-cache"), "exists and is not a folder")
    assert f.read_text() == "keep me"


def test_out_below_dev_null(keras_model):
    assert_usage(run("build", keras_model, "-o", "/dev/null/x", "--no-cache"), "/dev/null is not a folder")


def test_out_not_writable(keras_model, tmp_path):
    if os.geteuid() == 0:  # root ignores permission bits: use a folder no one may create files in
        target = Path("/sys/hwquant-out")
        if os.access("/sys", os.W_OK) and not Path("/sys/kernel").exists():
            pytest.skip("no unwritable folder available")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = ro / "out"
    assert_usage(run("build", keras_model, "-o", target, "--no-cache"), "cannot write in")
    assert not target.exists()


@pytest.mark.parametrize("value", ["nan", "0", "-0.5", "1.5", "inf"])
def test_eval_fraction_out_of_range(keras_model, tmp_path, value):
    assert_usage(
        run("build", keras_model, "--data", "random:10", "--eval-fraction", value, "-o", tmp_path / "o", "--no-cache"),
        "(0, 1]",
    )
    assert not (tmp_path / "o").exists()


def test_eval_fraction_one_leaves_nothing_to_calibrate(keras_model, tmp_path):
    """Before: every sample went to verification and the int8 build silently came out float."""
    np.savez(tmp_path / "d.npz", image=models.keras_samples(10))
    r = run(
        "build", keras_model, "--data", tmp_path / "d.npz", "--eval-fraction", "1", "-o", tmp_path / "o", "--no-cache"
    )
    assert_usage(r, "leaving none to calibrate", "--eval-data")
    assert not (tmp_path / "o").exists()


def test_image_mean_per_channel_must_match(keras_model, tmp_path):
    from PIL import Image

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8), i * 40, np.uint8), "L").save(imgs / f"{i}.png")
    assert_usage(
        run("build", keras_model, "--data", imgs, "--mean", "1,2,3", "-o", tmp_path / "o", "--no-cache"),
        "--mean has 3 values",
        "1 channel",
    )
    assert_usage(
        run("build", keras_model, "--data", imgs, "--mean", "0", "--std", "0", "-o", tmp_path / "o", "--no-cache"),
        "--std must not be 0",
    )


def test_manifest_mean_not_a_number(keras_model, tmp_path):
    (tmp_path / "hwquant.toml").write_text(f'model = "{keras_model}"\nmean = ["a"]\n[targets.cpu]\n')
    assert_usage(run("build", "--manifest", tmp_path / "hwquant.toml", "--no-cache"), "hwquant.toml:2", "mean")


def test_init_into_missing_folder(keras_model, tmp_path):
    assert_usage(run("init", keras_model, "-o", tmp_path / "missing" / "dir" / "hwquant.toml"), "does not exist")
    assert not (tmp_path / "missing").exists()


def test_not_a_model_fails_before_hashing(tmp_path, monkeypatch):
    """`hwquant build /usr` used to hash the whole tree for the cache key first (25 s)."""
    from hwquant.common import hashing

    hashed = []
    real = hashing.tree_sha256
    monkeypatch.setattr(hashing, "tree_sha256", lambda p: hashed.append(p) or real(p))
    import hwquant.cache.store as cache_mod

    monkeypatch.setattr(cache_mod, "tree_sha256", hashing.tree_sha256)
    folder = tmp_path / "tree"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "big.bin").write_bytes(b"x" * 1000)
    assert_usage(run("build", folder, "-o", tmp_path / "o", "--cache-dir", tmp_path / "c"), "not a SavedModel")
    assert hashed == []
