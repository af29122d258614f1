"""Full-integer conversion of a Keras model as the int8-only recipe does it (tests build models with it)."""

from __future__ import annotations

import numpy as np


def convert(model, io: str = "int8") -> bytes:
    """TFLITE_BUILTINS_INT8 only, random calibration (shapes matter here, not accuracy), IO int8 or uint8."""
    import tensorflow as tf

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    shape = [1 if d is None else d for d in model.inputs[0].shape]
    rng = np.random.default_rng(0)
    c.representative_dataset = lambda: ([rng.random(shape, dtype=np.float32)] for _ in range(8))
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = c.inference_output_type = {"int8": tf.int8, "uint8": tf.uint8}[io]
    return c.convert()
