"""Output kinds (issue 18, item 1): each output is judged by the measure that fits what it is, read
from the float model's graph. Tiny Keras models built here, the real TFLiteConverter and LiteRT."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.choice import budget, kinds
from hwquant.cli.main import main
from hwquant.common.errors import UsageError
from hwquant.device import metrics


def _tf():
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    return tf


def _build(tmp_path, model, *extra, target="cpu"):
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main, ["build", str(model), "--target", target, *map(str, extra), "--out", str(out), "--no-cache"]
    )
    report = out / target / "report.json"
    return r, (json.loads(report.read_text()) if report.is_file() else None)


@pytest.fixture(scope="module")
def autoencoder(tmp_path_factory):
    """A dense autoencoder 64 -> 8 -> 64, trained to reconstruct low-rank data (the issue's done-when)."""
    tf = _tf()
    folder = tmp_path_factory.mktemp("ae")
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(600, 6)) @ rng.normal(size=(6, 64))).astype(np.float32)
    inp = tf.keras.Input((64,), name="x")
    code = tf.keras.layers.Dense(8, activation="relu", name="encode")(inp)
    out = tf.keras.layers.Dense(64, name="decode")(code)
    model = tf.keras.Model(inp, out)
    model.compile("adam", "mse")
    model.fit(x[:400], x[:400], epochs=30, batch_size=32, verbose=0)
    model.save(folder / "ae.keras")
    np.savez(folder / "data.npz", x=x[400:])
    return folder / "ae.keras", folder / "data.npz"


@pytest.mark.slow
def test_autoencoder_is_regression_judged_by_snr_without_agreement(autoencoder, tmp_path):
    model, data = autoencoder
    r, rep = _build(tmp_path, model, "--data", data)
    assert r.exit_code == 0, r.output
    (out,) = rep["fidelity"]["outputs"].values()
    assert out["kind"] == "regression" and "FULLY_CONNECTED" in out["kind_why"]
    assert "top1_agreement" not in out and "top1_agreement" not in out["measures"]
    snr = out["measures"]["snr_db"]
    assert snr["limit"] == 20.0 and snr["verdict"] in ("pass", "miss", "undecided") and snr["samples"] == 100
    assert snr["low"] <= snr["value"] <= snr["high"]
    assert out["measures"]["cosine"]["limit"] is None  # the default budget reads SNR on regression outputs
    assert "agrees on top-1" not in r.output and out["measures"]["snr_db"]["verdict"] == "pass"


def test_kinds_are_read_from_the_graph_and_can_be_overridden(tmp_path):
    tf = _tf()
    inp = tf.keras.Input((16,), name="x")
    h = tf.keras.layers.Dense(12, activation="relu")(inp)
    outs = {
        "probs": tf.keras.layers.Dense(4, activation="softmax")(h),
        "tags": tf.keras.layers.Dense(5, activation="sigmoid")(h),
        "scores": tf.keras.layers.Dense(3)(h),
        "embedding": tf.keras.layers.Dense(6, activation="tanh")(h),
    }
    model = tf.keras.Model(inp, outs)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    flat = conv.convert()
    found = kinds.of_model(flat, labelled=False)
    by_kind = sorted(k.kind for k in found.values())
    assert by_kind == ["multi-label", "probabilities", "regression", "regression"], found
    assert sorted(k.kind for k in kinds.of_model(flat, labelled=True).values()) == [
        "logits",
        "multi-label",
        "probabilities",
        "regression",
    ]
    name = next(n for n, k in found.items() if k.kind == "multi-label")
    over = kinds.of_model(flat, labelled=False, overrides=[f"{name}=regression"])
    assert over[name].kind == "regression" and "--output-kind" in over[name].why
    with pytest.raises(UsageError, match="NAME=KIND"):
        kinds.of_model(flat, False, ["nonsense"])
    with pytest.raises(UsageError, match="names no output"):
        kinds.of_model(flat, False, ["nope=logits"])


@pytest.mark.slow
def test_multi_label_sigmoid_is_judged_per_label_decision(tmp_path):
    tf = _tf()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    inp = tf.keras.Input((16,), name="x")
    h = tf.keras.layers.Dense(16, activation="relu")(inp)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(5, activation="sigmoid", name="tags")(h))
    model.save(tmp_path / "ml.keras")
    np.savez(tmp_path / "d.npz", x=x)
    r, rep = _build(tmp_path, tmp_path / "ml.keras", "--data", tmp_path / "d.npz")
    assert r.exit_code == 0, r.output
    (out,) = rep["fidelity"]["outputs"].values()
    assert out["kind"] == "multi-label" and "top1_agreement" not in out
    assert 0.0 <= out["label_agreement"] <= 1.0
    agree = out["measures"]["label_agreement"]
    assert agree["limit"] == 0.98 and agree["samples"] == 100 * 5  # one decision per sample and label
    assert out["measures"]["snr_db"]["limit"] is None


def test_a_collapsed_1000_class_softmax_does_not_agree_and_fails_the_default_budget():
    """int8 probabilities of a near-uniform 1000-class softmax all quantize to one value (0)."""
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=0.1, size=(50, 1000))
    ref = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    got = np.round(ref * 256) / 256  # the int8 softmax output's scale: every value rounds to 0
    assert np.unique(got).size == 1
    m = metrics.compare_output(ref, got, "probabilities")
    assert m["top1_agreement"] == 0.0 and m["snr_db"] < 10
    fid = {"outputs": {"probs": {**metrics.json_safe(m), "kind": "probabilities"}}}
    lines = budget.Budget({"min_agreement": 0.98}, "default").misses(fid)
    assert any("lost their resolution" in line for line in lines), lines


@pytest.mark.slow
def test_a_real_1000_class_softmax_collapsing_in_int8_is_not_reported_as_agreeing(tmp_path):
    tf = _tf()
    rng = np.random.default_rng(2)
    inp = tf.keras.Input((32,), name="x")
    dense = tf.keras.layers.Dense(1000, name="logits")
    model = tf.keras.Model(inp, tf.keras.layers.Softmax(name="probs")(dense(inp)))
    w = rng.normal(scale=0.02, size=(32, 1000)).astype(np.float32)
    dense.set_weights([w, np.zeros(1000, np.float32)])
    model.save(tmp_path / "wide.keras")
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(200, 32)).astype(np.float32))
    r, rep = _build(tmp_path, tmp_path / "wide.keras", "--data", tmp_path / "d.npz", "--recipe", "auto")
    assert r.exit_code == 0, r.output
    int8 = [c for c in rep["search"]["candidates"] if c["recipe"].startswith("int8") and c["size_bytes"]]
    assert int8, rep["search"]["candidates"]
    for c in int8:
        assert c["top1_agreement"] < 0.5 and not c["within_budget"], c
        assert any("lost their resolution" in w for w in c["why_not"]), c
    (out,) = rep["fidelity"]["outputs"].values()
    assert out["kind"] == "probabilities" and out["measures"]["top1_agreement"]["verdict"] == "pass"


@pytest.mark.slow
def test_output_kind_from_the_command_line_and_the_manifest(tmp_path, monkeypatch):
    """A final FULLY_CONNECTED without labels is regression, unless the user says it is a classifier."""
    tf = _tf()
    rng = np.random.default_rng(3)
    inp = tf.keras.Input((16,), name="x")
    h = tf.keras.layers.Dense(16, activation="relu")(inp)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(5, name="scores")(h))
    model.save(tmp_path / "fc.keras")
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(300, 16)).astype(np.float32))
    r, rep = _build(tmp_path / "plain", tmp_path / "fc.keras", "--data", tmp_path / "d.npz")
    assert r.exit_code == 0, r.output
    ((name, out),) = rep["fidelity"]["outputs"].items()
    assert out["kind"] == "regression" and "--output-kind" in out["kind_why"]
    r, rep = _build(
        tmp_path / "cli", tmp_path / "fc.keras", "--data", tmp_path / "d.npz", "--output-kind", f"{name}=logits"
    )
    assert r.exit_code == 0, r.output
    out = rep["fidelity"]["outputs"][name]
    assert out["kind"] == "logits" and out["measures"]["top1_agreement"]["limit"] == 0.98
    bad = CliRunner().invoke(main, ["build", str(tmp_path / "fc.keras"), "--output-kind", "scores:logits"])
    assert bad.exit_code == 2 and "NAME=KIND" in bad.output
    (tmp_path / "hwquant.toml").write_text(
        f'model = "fc.keras"\ndata = "d.npz"\nout = "m"\n[outputs]\n{name} = "logits"\n[targets.cpu]\n'
    )
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["build", "--no-cache"])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "m" / "cpu" / "report.json").read_text())
    assert rep["fidelity"]["outputs"][name]["kind"] == "logits"
    (tmp_path / "hwquant.toml").write_text('model = "fc.keras"\n[outputs]\nx = "softmax"\n[targets.cpu]\n')
    bad = CliRunner().invoke(main, ["build", "--no-cache"])
    assert bad.exit_code == 2 and "outputs.x" in bad.output
