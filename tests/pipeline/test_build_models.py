"""hwquant.build on every model format, every data form, with the real converter and LiteRT."""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

import hwquant
from hwquant.common.hashing import file_sha256
from hwquant.config import memory_data
from hwquant.report.result import BuildResult
from tests.helpers import models


def test_digits_int8_accuracy_within_one_point(digits_dir, tmp_path):
    res = hwquant.build(
        digits_dir / "model.keras",
        target="cpu",
        recipe="int8-only",
        data=str(digits_dir / "calibration.npz"),
        eval_data=str(digits_dir / "eval.npz"),
        out=tmp_path,
    )
    acc = res.fidelity["outputs"]["output_0"]["accuracy"]
    assert acc["float"] > 0.9
    assert abs(acc["quantized"] - acc["float"]) <= 0.01
    report = json.loads((tmp_path / "cpu" / "report.json").read_text())
    for key in (
        "schema_version",
        "target",
        "recipe",
        "artifacts",
        "size_bytes",
        "ops",
        "fidelity",
        "timings_s",
        "inputs",
        "versions",
    ):
        assert key in report, key
    assert report["recipe"]["fields"]["io_dtype"] == "int8"
    assert report["size_bytes"]["artifact"] < report["size_bytes"]["float32_tflite"] / 2
    assert report["inputs"]["model"]["sha256"] and report["inputs"]["data"]["sha256"]
    assert report["versions"]["tensorflow"] and report["versions"]["litert"]
    assert set(report["artifacts"]) == {"model.tflite", "report.json", "report.html"}


def test_default_recipe_rule_cpu(keras_model, tmp_path):
    with_data = hwquant.build(keras_model, data="random:20", out=tmp_path / "a")
    assert with_data.recipe["name"] == "int8-float-fallback"
    assert any("random" in w for w in with_data.report["warnings"])
    assert with_data.inputs["data"]["random"] is True
    without = hwquant.build(keras_model, out=tmp_path / "b")
    assert without.recipe["name"] == "dynamic-int8"
    assert "no representative data" in without.recipe["reasons"][0]


def test_legacy_h5_converts(h5_model, tmp_path):
    res = hwquant.build(h5_model, data="random:16", out=tmp_path)
    assert res.model["format"] == "h5"
    assert res.fidelity["outputs"]["output_0"]["cosine"] > 0.99


def test_two_signature_savedmodel_signature_keyed_npz(two_signature_savedmodel, tmp_path):
    data = tmp_path / "sig.npz"
    np.savez(data, **{"encode/x": models.feature_samples(30), "decode/code": models.feature_samples(30, 8)})
    res = hwquant.build(two_signature_savedmodel, recipe="int8-float-fallback", data=str(data), out=tmp_path / "o")
    assert {s["key"] for s in res.model["signatures"]} == {"encode", "decode"}
    assert set(res.fidelity["outputs"]) == {"encode/code", "decode/recon"}
    for m in res.fidelity["outputs"].values():
        assert m["snr_db"] > 15
    from hwquant.device.tflite_model import TfliteModel

    tm = TfliteModel((tmp_path / "o" / "cpu" / "model.tflite").read_bytes())
    assert set(tm.signatures) == {"encode", "decode"}
    assert {op.dtype for op in tm.ops if op.name == "FULLY_CONNECTED"} == {"int8"}  # both calibrated


def test_callable_data_in_every_guide_form(two_signature_savedmodel, keras_model, tmp_path, monkeypatch):
    (tmp_path / "repdata.py").write_text(
        textwrap.dedent("""
        import numpy as np
        rng = np.random.default_rng(0)
        def pairs():
            for _ in range(10):
                yield ("encode", {"x": rng.random((1, 16), dtype=np.float32)})
                yield ("decode", {"code": rng.random((1, 8), dtype=np.float32)})
        def as_list():
            for _ in range(10):
                yield [rng.random((1, 8, 8, 1), dtype=np.float32)]
        def as_dict():
            for _ in range(10):
                yield {"image": rng.random((8, 8, 1), dtype=np.float32)}   # batch axis optional
    """)
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    r = hwquant.build(two_signature_savedmodel, recipe="int8-float-fallback", data="repdata:pairs", out=tmp_path / "p")
    assert r.inputs["data"]["kind"] == "callable" and r.inputs["data"]["samples"] == 16
    for fn in ("as_list", "as_dict"):
        r = hwquant.build(keras_model, recipe="int8-only", data=f"repdata:{fn}", out=tmp_path / fn)
        assert r.recipe["name"] == "int8-only"


def test_npy_and_image_folder(keras_model, tmp_path):
    from PIL import Image

    np.save(tmp_path / "x.npy", models.keras_samples(12))
    r = hwquant.build(keras_model, data=str(tmp_path / "x.npy"), out=tmp_path / "a")
    assert r.inputs["data"]["kind"] == "npy"
    rng = np.random.default_rng(1)
    for cls in ("zero", "one"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8), "L").save(
                tmp_path / "imgs" / cls / f"{i}.png"
            )
    r = hwquant.build(keras_model, data=str(tmp_path / "imgs"), eval_fraction=0.5, out=tmp_path / "b")
    assert r.inputs["data"]["kind"] == "images" and r.inputs["data"]["labelled"]
    assert "accuracy" in r.fidelity["outputs"]["output_0"]


def test_image_normalization_and_size(tmp_path):
    from PIL import Image

    from hwquant.config.images import load_folder
    from hwquant.plugin.facts import BuildOptions, TensorSpec

    Image.fromarray(np.full((20, 30, 3), 255, np.uint8), "RGB").save(tmp_path / "a.png")
    spec = TensorSpec("img", (1, 10, 12, 3), "float32")
    arr, labels, _, _ = load_folder(tmp_path, spec, BuildOptions(model=tmp_path, mean=(127.5,), std=(127.5,)))
    assert arr.shape == (1, 10, 12, 3) and np.allclose(arr, 1.0) and labels is None
    arr, *_ = load_folder(tmp_path, spec, BuildOptions(model=tmp_path, image_size=(4, 5)))
    assert arr.shape == (1, 4, 5, 3) and np.allclose(arr, 1.0)


def test_tf1_savedmodel_falls_back_to_tf1_converter(tf1_savedmodel, tmp_path):
    np.savez(tmp_path / "d.npz", x=models.feature_samples(20))
    r = hwquant.build(tf1_savedmodel, recipe="int8-float-fallback", data=str(tmp_path / "d.npz"), out=tmp_path / "o")
    assert r.model["loader"] == "tf1-saved-model"
    assert any("TF2 converter rejected" in n for n in r.model["notes"])
    assert r.fidelity["outputs"]["probs"]["cosine"] > 0.99


def test_tf1_unliftable_savedmodel(tf1_unliftable_savedmodel, tmp_path):
    r = hwquant.build(tf1_unliftable_savedmodel, out=tmp_path)
    assert r.model["loader"] == "tf1-saved-model"


def test_dynamic_batch_savedmodel_is_made_static(single_signature_savedmodel, tmp_path):
    from hwquant.device.tflite_model import TfliteModel

    r = hwquant.build(single_signature_savedmodel, data="random:10", out=tmp_path)
    m = TfliteModel((tmp_path / "cpu" / "model.tflite").read_bytes())
    assert all(not t.is_dynamic for t in m.io()[0])
    assert "SHAPE" not in m.op_counts()
    assert any("batch dimension fixed" in n for n in r.model["notes"])


def _gather_out_of_range_savedmodel(path):
    """A real SavedModel that converts cleanly but whose GATHER gets indices past its table at run time."""
    tf = models._tf()

    class Gather(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.constant(np.arange(8, dtype=np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.gather(self.table, tf.cast(x * 100.0, tf.int32))}

    m = Gather()
    tf.saved_model.save(m, str(path), signatures=m.__call__)
    return path


@pytest.mark.slow
def test_verify_fails_build_when_artifact_cannot_invoke(tmp_path):
    """The artifact converts but LiteRT cannot invoke it: the verify stage fails the build with the
    interpreter's own message, exit 4 exactly, and writes nothing."""
    from click.testing import CliRunner

    from hwquant.cli.main import main

    model = _gather_out_of_range_savedmodel(tmp_path / "gather")
    r = CliRunner().invoke(
        main, ["build", str(model), "--target", "cpu", "--recipe", "float32", "--no-cache", "-o", str(tmp_path / "out")]
    )
    assert r.exit_code == 4, r.output
    assert "failed to invoke" in r.output and "gather index out of bounds" in r.output, r.output
    assert not (tmp_path / "out").exists()


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("linux only")


@pytest.mark.slow
def test_keras_export_aliases_convert_as_one_signature(keras_export_savedmodel, tmp_path):
    """model.export() writes 'serve' and 'serving_default' for one endpoint: one signature, MCU-ready."""
    r = hwquant.build(keras_export_savedmodel, target="mcu", data="random:20", out=tmp_path)
    assert [s["key"] for s in r.model["signatures"]] == ["serving_default"]
    assert "signature 'serve' is an alias of 'serving_default'; converted once" in r.model["notes"]


# -- the Python API: one target or several; a Keras model object and data in memory ------------------------
def _api_temp_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("hwquant-api-*"))


def test_build_takes_one_target_and_names_build_many_for_several(keras_model, tmp_path):
    with pytest.raises(hwquant.UsageError) as err:
        hwquant.build(keras_model, target="cpu,mcu", out=tmp_path)
    assert err.value.exit_code == 2 and "hwquant.build_many(model, 'cpu,mcu'" in err.value.hint
    with pytest.raises(hwquant.UsageError, match="must be a path or a Keras model"):
        hwquant.build(object(), out=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_build_many_takes_a_keras_object_and_arrays_and_returns_one_result_per_target(tmp_path):
    before = _api_temp_dirs()
    labels = np.arange(24) % models.N_CLASSES
    results = hwquant.build_many(
        models.build_keras_cnn(),
        ["cpu", "mcu"],
        data=models.keras_samples(64),
        eval_data={models.KERAS_INPUT: models.keras_samples(24, seed=1), "labels": labels},
        out=tmp_path,
    )
    assert list(results) == ["cpu", "mcu"]
    for folder, r in results.items():
        assert isinstance(r, BuildResult) and r.target_dir == tmp_path / folder and r.artifact_path.is_file()
        assert (r.inputs["data"]["kind"], r.inputs["data"]["samples"]) == ("npz", 64)
        assert r.inputs["eval_data"]["samples"] == 24 and r.inputs["eval_data"]["labelled"]
        assert "accuracy" in r.fidelity["outputs"][next(iter(r.fidelity["outputs"]))]
        report = (r.target_dir / "report.json").read_text()  # names the arguments, not removed temporary files
        assert "hwquant-api-" not in report and "hwquant-api-" not in json.dumps(r.report)
        assert r.inputs["model"]["path"].endswith("object given as model") and r.inputs["model"]["sha256"]
        assert r.inputs["data"]["source"] == "data= (numpy array (64, 8, 8, 1))"
    assert _api_temp_dirs() == before  # the saved model and the .npz files are gone


def test_build_takes_a_representative_dataset_generator_and_a_list_of_samples(keras_model, tmp_path):
    import tensorflow as tf

    x = models.keras_samples(30)

    def representative_dataset():  # the TFLite guide's own example, word for word
        for data in tf.data.Dataset.from_tensor_slices(x).batch(1).take(100):
            yield [tf.dtypes.cast(data, tf.float32)]

    r = hwquant.build(
        keras_model,
        data=representative_dataset,
        eval_data=[{models.KERAS_INPUT: s} for s in models.keras_samples(10, seed=2)],  # no batch axis
        recipe="int8-only",
        out=tmp_path,
    )
    assert isinstance(r, BuildResult) and r.recipe["name"] == "int8-only"
    assert r.inputs["data"]["samples"] == 30 and r.inputs["eval_data"]["samples"] == 10


def test_in_memory_data_errors_name_the_argument_not_a_temporary_file(keras_model, tmp_path):
    before = _api_temp_dirs()
    with pytest.raises(hwquant.UsageError, match="does not say which array feeds which input"):
        hwquant.build(keras_model, data=[[np.zeros((1, 2)), np.zeros((1, 2))]], out=tmp_path)
    with pytest.raises(hwquant.InputError) as err:
        hwquant.build(keras_model, data=np.zeros((5, 3), np.float32), out=tmp_path)
    assert "data= (numpy array (5, 3))" in err.value.message and "hwquant-api-" not in str(err.value)
    assert _api_temp_dirs() == before


def test_in_memory_data_is_written_deterministically_so_its_hash_follows_its_content(tmp_path):
    x = models.keras_samples(8)
    a = memory_data.write_npz(x, tmp_path / "a.npz")
    b = memory_data.write_npz(list(x), tmp_path / "b.npz")  # the same samples, as a list
    c = memory_data.write_npz(x + 1e-3, tmp_path / "c.npz")
    assert file_sha256(a) == file_sha256(b) != file_sha256(c)
    with np.load(a) as z:
        np.testing.assert_array_equal(z[memory_data.SINGLE], x)
