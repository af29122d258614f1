"""The shared model factories (tests/helpers/models.py) build models that load, convert and run.

Also pins down the facts hwquant relies on: signature names the TFLite converter gives each kind of
model, and which TF1 SavedModels need the TF1 converter.
"""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from tests.helpers import models

tf = pytest.importorskip("tensorflow")


def _signatures(tflite: bytes) -> dict:
    return Interpreter(model_content=tflite).get_signature_list()


def _run_signature(tflite: bytes, key: str, feeds: dict) -> dict:
    runner = Interpreter(model_content=tflite).get_signature_runner(key)
    return runner(**feeds)


@pytest.mark.parametrize("fixture", ["keras_model", "h5_model", "static_keras_model"])
def test_keras_cnn_loads_converts_and_runs(fixture, request):
    path = request.getfixturevalue(fixture)
    assert path.suffix == (".h5" if fixture == "h5_model" else ".keras")
    model = tf.keras.models.load_model(path)
    assert [t.name for t in model.inputs] == [models.KERAS_INPUT]
    batch = 1 if fixture == "static_keras_model" else None
    assert tuple(model.inputs[0].shape) == (batch, *models.KERAS_SHAPE)

    tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    assert _signatures(tflite) == {"serving_default": {"inputs": ["image"], "outputs": ["output_0"]}}
    x = models.keras_samples(1)
    out = _run_signature(tflite, "serving_default", {"image": x})["output_0"]
    assert out.shape == (1, models.N_CLASSES)
    np.testing.assert_allclose(out.sum(), 1.0, rtol=1e-5)  # softmax
    np.testing.assert_allclose(out, model.predict(x, verbose=0), atol=1e-5)


def test_keras_and_h5_hold_the_same_weights(keras_model, h5_model):
    x = models.keras_samples(4)
    a = tf.keras.models.load_model(keras_model).predict(x, verbose=0)
    b = tf.keras.models.load_model(h5_model).predict(x, verbose=0)
    np.testing.assert_array_equal(a, b)


def test_keras_export_savedmodel_converts_to_serving_default(keras_export_savedmodel):
    assert set(tf.saved_model.load(str(keras_export_savedmodel)).signatures) == {"serve", "serving_default"}
    tflite = tf.lite.TFLiteConverter.from_saved_model(str(keras_export_savedmodel)).convert()
    assert _signatures(tflite) == {"serving_default": {"inputs": ["image"], "outputs": ["output_0"]}}


def test_single_signature_savedmodel(single_signature_savedmodel):
    tflite = tf.lite.TFLiteConverter.from_saved_model(str(single_signature_savedmodel)).convert()
    assert _signatures(tflite) == {"serving_default": {"inputs": ["features"], "outputs": ["probs"]}}
    out = _run_signature(tflite, "serving_default", {"features": models.feature_samples(1)})["probs"]
    assert out.shape == (1, 4)


def test_two_signature_savedmodel_calibrates_per_signature(two_signature_savedmodel):
    converter = tf.lite.TFLiteConverter.from_saved_model(str(two_signature_savedmodel))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]

    def representative():
        for i in range(10):
            yield "encode", {"x": models.feature_samples(1, seed=i)}
            yield "decode", {"code": models.feature_samples(1, width=8, seed=i)}

    converter.representative_dataset = representative
    tflite = converter.convert()
    assert _signatures(tflite) == {
        "encode": {"inputs": ["x"], "outputs": ["code"]},
        "decode": {"inputs": ["code"], "outputs": ["recon"]},
    }
    code = _run_signature(tflite, "encode", {"x": models.feature_samples(1)})["code"]
    recon = _run_signature(tflite, "decode", {"code": code})["recon"]
    assert code.shape == (1, 8) and recon.shape == (1, 16)
    assert np.all((recon >= 0) & (recon <= 1))  # sigmoid survived quantization


def _tf1_full_int8(path) -> bytes:
    converter = tf.compat.v1.lite.TFLiteConverter.from_saved_model(str(path))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([models.feature_samples(1, seed=i)] for i in range(20))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def _check_tf1_artifact(tflite: bytes, dtype):
    """TF1-converted models carry no SignatureDefs; run them through tensor indices."""
    interpreter = Interpreter(model_content=tflite)
    assert interpreter.get_signature_list() == {}
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert (inp["name"], out["name"]) == ("x", "probs")
    assert inp["dtype"] == dtype and out["dtype"] == dtype
    interpreter.set_tensor(inp["index"], np.zeros(inp["shape"], dtype))
    interpreter.invoke()
    assert interpreter.get_tensor(out["index"]).shape == (1, models.TF1_CLASSES)


def test_tf1_savedmodel_with_slots_needs_tf1_converter(tf1_savedmodel):
    with pytest.raises(Exception, match="Failed to prepare to lift variables") as info:
        tf.lite.TFLiteConverter.from_saved_model(str(tf1_savedmodel)).convert()
    assert "ApplyAdam" in str(info.value)
    _check_tf1_artifact(tf.compat.v1.lite.TFLiteConverter.from_saved_model(str(tf1_savedmodel)).convert(), np.float32)
    _check_tf1_artifact(_tf1_full_int8(tf1_savedmodel), np.int8)


def test_tf1_savedmodel_unliftable_is_rejected_by_tf2_loader(tf1_unliftable_savedmodel):
    with pytest.raises(Exception, match="needs an input for each placeholder"):
        tf.lite.TFLiteConverter.from_saved_model(str(tf1_unliftable_savedmodel), signature_keys=["serving_default"])
    _check_tf1_artifact(_tf1_full_int8(tf1_unliftable_savedmodel), np.int8)


def test_digits_example_data_matches_model(digits_dir, digits_model):
    calibration, held_out = np.load(digits_dir / "calibration.npz"), np.load(digits_dir / "eval.npz")
    assert set(calibration.files) == {"image"} and set(held_out.files) == {"image", "labels"}
    x_cal, x_eval, labels = calibration["image"], held_out["image"], held_out["labels"]
    assert x_cal.dtype == x_eval.dtype == np.float32
    assert x_cal.shape[1:] == x_eval.shape[1:] == (8, 8, 1)
    assert 100 <= len(x_cal) <= 500 and len(x_eval) == len(labels) >= 300
    assert min(x_cal.min(), x_eval.min()) >= 0.0 and max(x_cal.max(), x_eval.max()) <= 1.0
    model = tf.keras.models.load_model(digits_model)
    assert [t.name for t in model.inputs] == ["image"]
    accuracy = float(np.mean(model.predict(x_eval, verbose=0).argmax(axis=1) == labels))
    assert accuracy >= 0.95
