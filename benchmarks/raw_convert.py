"""The baseline: the raw TFLiteConverter, configured by hand the way the TFLite guide shows.

This is what a user writes without hwquant: load the Keras model, trace a batch-1 function,
set the converter's options for one recipe, feed the same calibration samples, write the file.
It is kept independent of hwquant on purpose (no hwquant.convert / hwquant.recipe imports), so
that the comparison measures hwquant's own overhead. Benchmarks may import TensorFlow.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _tf():
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def _configure(tf, c, recipe: str, samples: list[np.ndarray] | None) -> None:
    """Converter settings per recipe, spelled out (mirrors the TFLite post-training guide)."""

    def rep():
        for x in samples:
            yield [x]

    if recipe == "float32":
        return
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    if recipe == "dynamic-int8":
        return
    if recipe == "float16":
        c.target_spec.supported_types = [tf.float16]
        return
    c.representative_dataset = rep
    if recipe == "int8-float-fallback":
        return
    if recipe in ("int8-only", "int8-only/uint8"):
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io = tf.uint8 if recipe.endswith("uint8") else tf.int8
        c.inference_input_type = io
        c.inference_output_type = io
        return
    if recipe == "int16x8":
        c.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        return
    raise ValueError(f"no raw configuration for recipe {recipe!r}")


def _converter(tf, keras, model, input_name: str, export_dir: Path):
    """Keras 3's documented export (ExportArchive) with a static batch of 1, then from_saved_model.

    from_concrete_functions leaves Keras 3 variables as resources the calibrator cannot read, and
    from_keras_model keeps a dynamic batch; a batch-1 SavedModel is what a careful user writes.
    """
    spec = tf.TensorSpec([1, *model.inputs[0].shape[1:]], tf.float32, name=input_name)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serving_default", fn=lambda x: model(x, training=False), input_signature=[spec])
    archive.write_out(str(export_dir), verbose=False)
    return tf.lite.TFLiteConverter.from_saved_model(str(export_dir))


def load_samples(npz: Path, input_name: str) -> list[np.ndarray]:
    """Calibration samples with a batch dimension of 1, as representative_dataset yields them."""
    with np.load(npz) as z:
        a = z[input_name]
    return [a[i : i + 1].astype(np.float32) for i in range(a.shape[0])]


def convert(model_path: Path, recipe: str, calib_npz: Path | None, input_name: str, out: Path) -> dict:
    """One complete raw job (load, trace, convert, write); returns wall time and size."""
    tf = _tf()
    import keras

    t0 = time.perf_counter()
    model = keras.models.load_model(str(model_path), compile=False)
    c = _converter(tf, keras, model, input_name, out.parent / (out.stem + ".savedmodel"))
    needs = recipe not in ("float32", "dynamic-int8", "float16")
    _configure(tf, c, recipe, load_samples(calib_npz, input_name) if needs else None)
    content = c.convert()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    shutil.rmtree(out.parent / (out.stem + ".savedmodel"), ignore_errors=True)
    return {"recipe": recipe, "wall_s": time.perf_counter() - t0, "size_bytes": len(content), "path": str(out)}
