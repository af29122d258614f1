"""The IO contract is kept (issue 18, item 3): the search never picks a candidate whose inputs and
outputs differ from the target's default or the user's --io-dtype; such candidates are listed as
"needs --io-dtype X" with their measured fidelity. A tiny regression model whose one activation tensor
carries a large constant channel: int8's per-tensor scale crushes the other channels, 16x8 keeps them.
Real TFLiteConverter, LiteRT and the TFLM interpreter (mcu)."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.choice import search
from hwquant.cli.main import main
from hwquant.plugin.recipe import preset

OFFSET = 60.0  # the constant channel: int8 steps of 60/255 are coarser than the other channels' range


@pytest.fixture(scope="module")
def wide_range(tmp_path_factory):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("io")
    rng = np.random.default_rng(0)
    inp = tf.keras.Input((16,), name="x")
    h = tf.keras.layers.Dense(32, activation="relu", name="d1")(inp)
    mid = tf.keras.layers.Dense(9, activation="relu", name="mid")
    h = mid(h)
    last = tf.keras.layers.Dense(8, name="out")
    model = tf.keras.Model(inp, last(h))
    w = rng.normal(scale=0.1, size=(32, 9)).astype(np.float32)
    w[:, 8] = 0.0
    b = np.zeros(9, np.float32)
    b[8] = OFFSET
    mid.set_weights([w, b])
    w2 = rng.normal(scale=0.5, size=(9, 8)).astype(np.float32)
    w2[8] = 0.0
    last.set_weights([w2, np.zeros(8, np.float32)])
    model.save(folder / "wide.keras")
    np.savez(folder / "data.npz", x=rng.normal(size=(300, 16)).astype(np.float32))
    return folder / "wide.keras", folder / "data.npz"


def _build(tmp_path, model, data, *extra):
    out = tmp_path / "out"
    args = ["build", str(model), "--target", "mcu", "--data", str(data), "--out", str(out), "--no-cache", *extra]
    r = CliRunner().invoke(main, args)
    report = out / "mcu" / "report.json"
    return r, (json.loads(report.read_text()) if report.is_file() else None)


def test_candidates_with_other_io_are_marked_and_never_chosen():
    int8 = search.Candidate(preset("int8-only").with_io("int8"), "rule proposal", b"x" * 10)
    int16 = search.Candidate(preset("int16x8").with_io("int16"), "allowed recipe", b"x" * 5)
    search.keep_io_contract([int8, int16], "int8", ("int8", "int16"))
    assert int8.needs is None and int16.needs == "--io-dtype int16"
    assert search.choose([int8, int16], "size") is int8  # the smaller int16x8 changes the IO
    assert int16.to_dict()["needs"] == "needs --io-dtype int16"
    float_io = search.Candidate(preset("int16x8"), "allowed recipe", b"x")
    search.keep_io_contract([float_io], "int8", ("int8", "int16"))
    assert float_io.needs == "--io-dtype int16"  # mcu takes no float IO: the activations' dtype


@pytest.mark.slow
def test_mcu_keeps_int8_io_when_int8_misses_and_int16_is_opt_in(wide_range, tmp_path):
    model, data = wide_range
    r, rep = _build(tmp_path / "a", model, data)
    assert r.exit_code == 0, r.output
    assert rep["recipe"]["name"] == "int8-only" and rep["recipe"]["fields"]["io_dtype"] == "int8"
    cands = {c["recipe"]: c for c in rep["search"]["candidates"]}
    assert cands["int16x8"]["needs"] == "needs --io-dtype int16" and not cands["int16x8"]["chosen"]
    assert cands["int16x8"]["snr_db"] > cands["int8-only"]["snr_db"] + 10  # measured, shown
    assert any("--io-dtype int16" in w for w in rep["warnings"]), rep["warnings"]
    assert "--io-dtype int16" in r.output
    r16, rep16 = _build(tmp_path / "b", model, data, "--io-dtype", "int16")
    assert r16.exit_code == 0, r16.output
    assert rep16["recipe"]["name"] == "int16x8" and rep16["recipe"]["fields"]["io_dtype"] == "int16"


@pytest.mark.slow
def test_ethos_u_with_io_dtype_int16_builds_int16x8(repo_root, tmp_path):
    ex = repo_root / "examples" / "digits"
    out = tmp_path / "out"
    args = ["build", str(ex / "model.keras"), "--target", "ethos-u", "--io-dtype", "int16"]
    args += ["--data", str(ex / "calibration.npz"), "--out", str(out), "--no-cache"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    rep = json.loads((out / "ethos-u" / "report.json").read_text())
    assert rep["recipe"]["name"] == "int16x8" and rep["recipe"]["fields"]["io_dtype"] == "int16"
    assert "verdict ethos-u: int16x8, IO int16" in r.output
    assert "differs from the target's default: int16 inputs and outputs requested with --io-dtype int16" in r.output
