"""Loading sorts failures by fault: unreadable file exit 2, Keras safe-mode refusal exit 2 with
--trust-model offered, converter failure exit 4, a bug in hwquant exit 1 (issue 11 item 11)."""

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


def test_converter_failure_is_a_toolchain_failure(tmp_path):
    """A SavedModel that reads fine but whose op (MatrixDeterminant) has no TFLite builtin."""
    import tensorflow as tf

    class M(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 3, 3], tf.float32)])
        def f(self, x):
            return {"y": tf.linalg.det(x)}

    m = M()
    tf.saved_model.save(m, str(tmp_path / "sm"), signatures={"serving_default": m.f})
    r = run("build", tmp_path / "sm", "-o", tmp_path / "o", "--no-cache")
    assert r.exit_code == 4, r.output
    assert "cannot convert SavedModel" in r.output and "TF2" in r.output and "TF1" in r.output, r.output
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
    assert isinstance(r.exception, AttributeError)
    assert not (tmp_path / "o").exists()


def test_unreadable_savedmodel_is_bad_input(tmp_path):
    sm = tmp_path / "sm"
    sm.mkdir()
    (sm / "saved_model.pb").write_bytes(np.random.default_rng(0).bytes(64))
    (sm / "variables").mkdir()
    r = run("build", sm, "-o", tmp_path / "o", "--no-cache")
    assert r.exit_code == 2, r.output
    assert "cannot read SavedModel" in r.output
