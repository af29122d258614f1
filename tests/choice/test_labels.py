"""Honest labels (issue 18, item 4): the report counts what each artifact quantized, a recipe that
quantized nothing is never reported under its quantized name, float ops left in an integer recipe are
listed, and every reason either describes the final recipe or is attributed to the rule's proposal.
Tiny Keras models built here; the real TFLiteConverter, LiteRT and TFLM interpreter."""

from __future__ import annotations

import json
import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.choice import census
from hwquant.cli.main import main
from tests.helpers import models_search


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Every weight tensor below dynamic range's 1024-value threshold: dynamic-int8 quantizes nothing."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("tiny")
    inp = tf.keras.Input((8,), name="x")
    h = tf.keras.layers.Dense(6, activation="relu")(inp)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(3, activation="softmax")(h))
    model.save(folder / "tiny.keras")
    np.savez(folder / "d.npz", x=np.random.default_rng(0).normal(size=(250, 8)).astype(np.float32))
    return folder / "tiny.keras", folder / "d.npz"


def _build(out, model, *extra, target="cpu"):
    args = ["build", str(model), "--target", target, *map(str, extra), "--out", str(out), "--no-cache"]
    r = CliRunner().invoke(main, args)
    report = out / target / "report.json"
    return r, (json.loads(report.read_text()) if report.is_file() else None)


def _quantizes(fields):
    return fields["weights"] != "float32" or fields["activations"] != "float32"


@pytest.mark.slow
def test_dynamic_range_that_quantizes_nothing_is_reported_as_float32(tiny, tmp_path):
    model, data = tiny
    r, rep = _build(tmp_path / "pinned", model, "--recipe", "dynamic-int8")
    assert r.exit_code == 0, r.output
    assert rep["recipe"]["name"] == "float32", rep["recipe"]
    assert rep["quantized"]["quantized_fraction"] == 0.0
    assert any("no tensor was quantized" in w for w in rep["warnings"]) and "no tensor was quantized" in r.output
    assert any(x.startswith("the rule's proposal (dynamic-int8)") for x in rep["recipe"]["reasons"])
    r, rep = _build(tmp_path / "auto", model, "--data", data, "--recipe", "auto")
    assert r.exit_code == 0, r.output
    dyn = next(c for c in rep["search"]["candidates"] if c["recipe"] == "dynamic-int8")
    assert not dyn["chosen"] and "no tensor was quantized" in dyn["why_not"][0]
    assert _quantizes(rep["recipe"]["fields"]) <= (rep["quantized"]["quantized_fraction"] > 0)


@pytest.mark.slow
def test_layernorm_int8_only_lists_the_float_ops_it_keeps(tmp_path):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((16,), name="x")
    h = tf.keras.layers.Dense(16)(inp)
    h = tf.keras.layers.LayerNormalization()(h)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(4)(h))
    model.save(tmp_path / "ln.keras")
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).normal(size=(250, 16)).astype(np.float32))
    r, rep = _build(tmp_path / "o", tmp_path / "ln.keras", "--recipe", "int8-only", "--data", tmp_path / "d.npz")
    assert r.exit_code == 0, r.output
    assert rep["quantized"]["float_ops"] == ["NEG", "QUANTIZE"]  # the LayerNorm: kept float
    assert "2 float ops remain: NEG, QUANTIZE (float32) in the int8-only artifact" in rep["warnings"]
    assert "2 float ops remain: NEG, QUANTIZE (float32)" in r.output


def test_census_counts_weights_and_ops_by_dtype(tiny):
    import tensorflow as tf

    model = tf.keras.models.load_model(tiny[0])
    flat = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    c = census.of(flat)
    assert c.weight_bytes.get("float32", 0) > 0 and c.quantized_fraction == 0.0 and c.nothing_quantized
    assert c.ops.get("float32", 0) >= 2 and "FULLY_CONNECTED" in c.float_ops
    from hwquant.plugin.recipe import preset

    assert "no tensor was quantized" in census.hollow(preset("dynamic-int8"), c)
    assert census.hollow(preset("float32"), c) is None
    assert c.float_ops_line().startswith(f"{len(c.float_ops)} float ops remain: FULLY_CONNECTED")


# what a reason says, and the recipe fields that must then hold
CLAIMS = [
    (r"every op int8|int8 inputs and outputs", lambda f: f["activations"] == "int8" and f["io_dtype"] == "int8"),
    (r"int16 inputs and outputs", lambda f: f["io_dtype"] == "int16"),
    (r"float fallback|with float fallback", lambda f: f["float_fallback"] or f["activations"] == "float32"),
    (r"16x8", lambda f: f["activations"] == "int16"),
    (r"float16 weights", lambda f: f["weights"] == "float16"),
]


def _check_reasons(rep):
    fields = rep["recipe"]["fields"]
    for reason in rep["recipe"]["reasons"]:
        if reason.startswith(("the rule's proposal (", "the rule proposed")):
            continue  # attributed to the proposal, not to the final recipe
        for pattern, holds in CLAIMS:
            if re.search(pattern, reason):
                assert holds(fields), f"{rep['target']} {rep['recipe']['name']}: reason {reason!r} contradicts {fields}"


@pytest.fixture(scope="module")
def outlier(tmp_path_factory):
    return models_search.outlier_classifier(tmp_path_factory.mktemp("outlier"), epochs=4)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cpu", "mcu"])
@pytest.mark.parametrize("path", ["default", "auto", "pinned"])
def test_every_reason_describes_its_own_recipe(outlier, tiny, tmp_path, target, path):
    model, calib, ev = outlier
    extra = {"default": [], "auto": ["--recipe", "auto"], "pinned": ["--recipe", "int8-only"]}[path]
    for m, data in ((model, ["--data", calib, "--eval-data", ev]), (tiny[0], ["--data", tiny[1]])):
        r, rep = _build(tmp_path / m.stem, m, *data, *extra, target=target)
        if rep is None:
            assert r.exit_code in (2, 3, 4, 5), r.output  # refused, a toolchain fault, or no recipe fits: no label
            continue
        _check_reasons(rep)
        if _quantizes(rep["recipe"]["fields"]):
            assert rep["quantized"]["quantized_fraction"] > 0, rep["quantized"]


def test_float_io_boundary_ops_are_not_float_ops_left(tflite_models):
    """int8 with float IO converts at the graph's edge (a QUANTIZE of the float input, a DEQUANTIZE into the
    float output): that is the IO the recipe asked for, not float compute left in the integer model."""
    from hwquant import TfliteModel

    model = TfliteModel.from_file(tflite_models["int8"])
    boundary = [op.name for op in model.ops if op.name == "QUANTIZE" and op.dtype == "float32"]
    assert boundary, "the float-IO int8 model should quantize its float input"
    c = census.of(model)
    assert "QUANTIZE" not in c.float_ops and c.ops.get("float32", 0) >= len(boundary)
    assert census.of(TfliteModel.from_file(tflite_models["float32"])).float_ops  # a float model's ops all count
