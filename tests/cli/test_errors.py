"""Bad input: a clear message naming problem and fix, a documented exit code, no partial output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from tests.helpers import models


def run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r


def assert_fails(r, code, *words, out=None):
    assert r.exit_code == code, r.output
    for w in words:
        assert w in r.output, (w, r.output)
    if out is not None:
        assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


def test_missing_model(tmp_path):
    assert_fails(
        run("build", tmp_path / "nope.keras", "-o", tmp_path / "o"), 2, "no such file", "hint", out=tmp_path / "o"
    )


def test_corrupt_model(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"PK\x03\x04 definitely not a keras zip")
    assert_fails(run("build", bad, "-o", tmp_path / "o"), 2, "cannot load", str(bad), out=tmp_path / "o")
    bad_sm = tmp_path / "sm"
    bad_sm.mkdir()
    (bad_sm / "saved_model.pb").write_bytes(b"\x00garbage")
    (bad_sm / "variables").mkdir()
    assert_fails(run("build", bad_sm, "-o", tmp_path / "o"), 2, "tried:", "TF2", "TF1", out=tmp_path / "o")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_fails(run("build", empty), 2, "without saved_model.pb")


@pytest.mark.parametrize(
    "case,words",
    [
        ("shape", ["has shape (1, 4, 4, 1)", "(N, 8, 8, 1)"]),
        ("shape-of-another-name", ["array 'pixels' (for input 'image') has shape (1, 4, 4, 1)", "array 'pixels' must"]),
        ("dtype", ["is int32", "expects float32"]),
        ("uint8", ["is uint8", "255"]),
        ("nan", ["contains NaN", "non-finite"]),
        ("name", ["no data for input", "image"]),
    ],
)
def test_bad_data(keras_model, tmp_path, case, words):
    x = models.keras_samples(5)
    arrays = {
        "shape": {"image": x[:, :4, :4]},
        "shape-of-another-name": {"pixels": x[:, :4, :4]},  # the error names the array the file holds
        "dtype": {"image": (x * 10).astype(np.int32)},
        "uint8": {"image": (x * 255).astype(np.uint8)},
        "nan": {"image": np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x).astype(np.float32)},
        "name": {"image_typo": x, "other": x},
    }[case]
    np.savez(tmp_path / "d.npz", **arrays)
    out = tmp_path / "o"
    assert_fails(run("build", keras_model, "--data", tmp_path / "d.npz", "-o", out), 2, *words, out=out)


def test_unknown_target_and_recipe(keras_model, tmp_path):
    assert_fails(run("build", keras_model, "--target", "tpu9000"), 2, "unknown target 'tpu9000'", "cpu")
    assert_fails(run("build", keras_model, "--recipe", "int4"), 2, "unknown recipe 'int4'", "int8-only")


def test_recipe_needs_data(keras_model, tmp_path):
    assert_fails(
        run("build", keras_model, "--recipe", "int8-only", "-o", tmp_path),
        2,
        "needs representative data",
        "--data",
        out=tmp_path,
    )


def test_recipe_io_mismatch(keras_model, tmp_path):
    assert_fails(
        run("build", keras_model, "--recipe", "float16", "--io-dtype", "uint8", "-o", tmp_path),
        2,
        "cannot have uint8",
        out=tmp_path,
    )


def test_bad_data_spec(keras_model, tmp_path):
    assert_fails(run("build", keras_model, "--data", "random:zero"), 2, "random:N")
    assert_fails(run("build", keras_model, "--data", tmp_path / "x.csv"), 2, "no such data file")
    assert_fails(run("build", keras_model, "--data", "no_such_module:fn"), 2, "cannot import")


def test_previous_build_survives_a_failed_one(keras_model, tmp_path):
    ok = run("build", keras_model, "-o", tmp_path)
    assert ok.exit_code == 0, ok.output
    before = (tmp_path / "cpu" / "model.tflite").read_bytes()
    np.savez(tmp_path / "bad.npz", image=np.full((3, 8, 8, 1), np.inf, np.float32))
    assert run("build", keras_model, "--data", tmp_path / "bad.npz", "-o", tmp_path).exit_code == 2
    assert (tmp_path / "cpu" / "model.tflite").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npz", "cpu"]


@pytest.mark.slow
def test_interrupt_mid_build_leaves_nothing(keras_model, tmp_path):
    """Ctrl-C while the target folder is being filled: exit 130, no target folder, no temp folder.

    The LiteRT comparison runs before the staging folder exists (it decides the recipe), so the
    signal is sent while mcu's own verify (TFLM arena and cross-check on 3,000 samples) runs inside it.
    """
    np.savez(tmp_path / "eval.npz", image=models.keras_samples(3000))
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hwquant.cli",
            "build",
            str(keras_model),
            "--target",
            "mcu",
            "--data",
            "random:8",
            "--eval-data",
            str(tmp_path / "eval.npz"),
            "-o",
            str(out),
            "--no-cache",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 180
    while (
        time.time() < deadline
        and proc.poll() is None
        and not (out.exists() and any(p.name.startswith(".mcu.tmp") for p in out.iterdir()))
    ):
        time.sleep(0.02)
    assert proc.poll() is None, "the build ended before reaching its staging folder: " + proc.communicate()[1]
    assert out.exists(), "the build never reached its staging folder"
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: no artifact was written" in err
    assert not (out / "mcu").exists()
    assert not out.exists() or list(out.iterdir()) == []


def test_missing_data_is_found_before_the_model_loads(tmp_path):
    """mcu calibrates whatever recipe it picks: without --data the build stops before loading (this model
    file is not even readable, and loading it would be the first error otherwise)."""
    from click.testing import CliRunner

    from hwquant.cli.main import main

    bad = tmp_path / "model.keras"
    bad.write_bytes(b"not a keras zip")
    r = CliRunner().invoke(main, ["build", str(bad), "-t", "cpu,mcu", "-o", str(tmp_path / "out"), "--no-cache"])
    assert r.exit_code == 2, r.output
    assert "needs representative data" in r.output and "cannot load" not in r.output
    assert not (tmp_path / "out").exists()
