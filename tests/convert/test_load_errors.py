"""Loading sorts failures by fault: unreadable file exit 2, Keras safe-mode refusal exit 2 with
--trust-model offered, converter failure exit 4 (exit 3 naming the op when the converter says an op has
no TFLite builtin), a bug in hwquant exit 1 (issue 11 item 11)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.cli.main import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory):
    import keras

    inp = keras.Input((4,), name="x")
    out = keras.layers.Dense(2)(keras.layers.Lambda(lambda t: t * 2.0)(inp))
    path = tmp_path_factory.mktemp("lambda") / "lam.keras"
    keras.Model(inp, out).save(path)
    return path


def test_lambda_layer_refused_in_safe_mode_offers_trust_model(lambda_model, tmp_path):
    r = run("build", lambda_model, "-o", tmp_path / "o", "--no-cache")
    assert r.exit_code == 2, r.output
    assert "Lambda" in r.output and "safe mode" in r.output and "--trust-model" in r.output, r.output
    assert "complete" not in r.output  # it is not blamed on a truncated file
    assert not (tmp_path / "o").exists()
    ok = run("build", lambda_model, "-o", tmp_path / "o", "--no-cache", "--trust-model")
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "o" / "cpu" / "model.tflite").is_file()


def test_truncated_keras_file_is_bad_input(keras_model, tmp_path):
    cut = tmp_path / "cut.keras"
    data = keras_model.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    r = run("build", cut, "-o", tmp_path / "o", "--no-cache")
    assert r.exit_code == 2, r.output
    assert "cannot load" in r.output and "complete" in r.output


def test_savedmodel_op_without_tflite_builtin_is_exit_3_naming_it(tmp_path):
    """A SavedModel that reads fine but whose op (MatrixDeterminant) has no TFLite builtin: the
    converter fails, and the failure is the model's op, named (it was exit 4 "cannot convert")."""
    import tensorflow as tf

    class M(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 3, 3], tf.float32)])
        def f(self, x):
            return {"y": tf.linalg.det(x)}

    m = M()
    tf.saved_model.save(m, str(tmp_path / "sm"), signatures={"serving_default": m.f})
    r = run("build", tmp_path / "sm", "-o", tmp_path / "o", "--no-cache")
    assert r.exit_code == 3, r.output
    assert "no TFLite builtin kernel" in r.output and "MatrixDeterminant (float32, layer: " in r.output, r.output
    assert not (tmp_path / "o").exists()


def test_a_bug_in_hwquant_is_not_blamed_on_the_file(keras_model, tmp_path, monkeypatch):
    """An exception raised in hwquant's own code propagates (exit 1, a traceback to report)."""
    from hwquant.convert import converter as convert

    def broken(x, i):
        return x.no_such_attribute  # a bug

    monkeypatch.setattr(convert, "_input_name", broken)
    monkeypatch.setenv("HWQUANT_ISOLATE", "0")  # the patch lives in this process, not in the worker
    r = run("build", keras_model, "-o", tmp_path / "o", "--no-cache")
    assert r.exit_code == 1, r.output
    assert "internal error: AttributeError is a bug in hwquant" in r.output  # the CLI edge's policy for own faults
    assert "no_such_attribute" in r.output  # with the traceback to report
    assert not (tmp_path / "o").exists()


def test_unreadable_savedmodel_is_bad_input(tmp_path):
    sm = tmp_path / "sm"
    sm.mkdir()
    (sm / "saved_model.pb").write_bytes(np.random.default_rng(0).bytes(64))
    (sm / "variables").mkdir()
    r = run("build", sm, "-o", tmp_path / "o", "--no-cache")
    assert r.exit_code == 2, r.output
    assert "cannot read SavedModel" in r.output


def test_tensorflow_op_without_tflite_builtin_is_exit_3_naming_op_dtype_layer(tmp_path):
    """MatrixDeterminant has no TFLite builtin (only the Select TF ops runtime runs it): no target can,
    so every target's build is exit 3 naming the op, its dtype and its layer, not a converter failure."""
    import keras

    inp = keras.Input((4, 4), name="m")
    det = keras.ops.linalg.det(keras.layers.Dense(4)(inp))
    keras.Model(inp, keras.layers.Dense(2)(keras.ops.expand_dims(det, -1))).save(tmp_path / "det.keras")
    r = run("build", tmp_path / "det.keras", "-t", "cpu,mcu", "-d", "random:8", "-o", tmp_path / "o", "--no-cache")
    assert r.exit_code == 3, r.output
    assert "have no TFLite builtin kernel" in r.output, r.output
    assert "MatrixDeterminant (float32, layer: " in r.output and "MatrixDeterminant)" in r.output, r.output
    assert "ops_compatibility" in r.output and "MLIR" not in r.output
    assert not (tmp_path / "o").exists()


def test_select_ops_parsed_from_converter_text():
    from hwquant.convert.load_errors import tf_ops_without_builtin

    text = (
        'error: loc(callsite(fused["Erfinv:", "model/erfinv_1/Erfinv@__inference_call_1"] at x)): '
        "'tf.Erfinv' op is neither a custom op nor a flex op\n"
        "Some ops are not supported by the native TFLite runtime\n"
        "TF Select ops: Erfinv, MatrixDeterminant\nDetails:\n"
        '\ttf.Erfinv(tensor<1x3xf16>) -> (tensor<1x3xf16>) : {device = ""}\n'
        "\ttf.MatrixDeterminant(tensor<?x4x4xf32>) -> (tensor<?xf32>) : {T = f32}\n"
    )
    assert tf_ops_without_builtin(text) == [
        ("Erfinv", "float16", "model/erfinv_1/Erfinv"),
        ("MatrixDeterminant", "float32", "?"),
    ]
    assert tf_ops_without_builtin("Could not translate MLIR to FlatBuffer: something else") == []
