"""Tiny int8 .tflite models for the ethos-u tests, converted with the real TFLiteConverter.

Each maker returns the int8 flatbuffer (int8 inputs and outputs); weights come from fixed seeds.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def _convert(build, shape, int16: bool = False) -> bytes:
    import logging

    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input(shape, batch_size=1)
    model = tf.keras.Model(inputs, build(tf, inputs))
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    conv.representative_dataset = lambda: ([rng.random((1, *shape), np.float32)] for _ in range(8))
    conv.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        if int16
        else tf.lite.OpsSet.TFLITE_BUILTINS_INT8
    ]
    conv.inference_input_type = conv.inference_output_type = tf.int16 if int16 else tf.int8
    return conv.convert()


def conv_net(int16: bool = False) -> bytes:
    """conv -> relu -> conv: every op runs on the NPU."""

    def build(tf, x):
        x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        return tf.keras.layers.Conv2D(4, 3, padding="same")(x)

    return _convert(build, (8, 8, 4), int16)


def depth_to_space_net() -> bytes:
    """conv -> DEPTH_TO_SPACE -> conv: Vela leaves DEPTH_TO_SPACE on the CPU, TFLM has an int8 kernel."""

    def build(tf, x):
        x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        x = tf.keras.layers.Lambda(lambda t: tf.nn.depth_to_space(t, 2))(x)
        return tf.keras.layers.Conv2D(4, 3, padding="same")(x)

    return _convert(build, (8, 8, 4))


def reduce_prod_net() -> bytes:
    """dense -> REDUCE_PROD: Vela leaves REDUCE_PROD on the CPU and TFLM has no kernel for it."""

    def build(tf, x):
        x = tf.keras.layers.Dense(8, activation="sigmoid")(x)
        return tf.keras.layers.Lambda(lambda t: tf.reduce_prod(t, axis=-1, keepdims=True))(x)

    return _convert(build, (16,))
