"""A model zoo built in code (no downloads): the architectures people deploy on edge targets.

Each factory returns an untrained-then-briefly-trained Keras 3 model (one epoch on synthetic
labels, so batch-norm statistics and weights are not the initializer's), small enough that a build
for every target finishes in seconds to a minute. ``save(name, folder)`` writes ``<name>.keras``.

    python benchmarks/zoo.py OUT_DIR [NAME ...]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def _layers():
    import keras

    return keras, keras.layers


def ds_cnn_kws():
    """Depthwise-separable keyword-spotting CNN (DS-CNN): 49 frames x 10 MFCC."""
    keras, L = _layers()
    inp = keras.Input((49, 10, 1), name="mfcc")
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(32, (10, 4), strides=(2, 2), padding="same")(inp)))
    for _ in range(2):
        x = L.ReLU()(L.BatchNormalization()(L.DepthwiseConv2D(3, padding="same")(x)))
        x = L.ReLU()(L.BatchNormalization()(L.Conv2D(32, 1)(x)))
    return keras.Model(inp, L.Dense(12, activation="softmax")(L.GlobalAveragePooling2D()(x)), name="ds_cnn_kws")


def lstm_kws():
    """Issue 19's keyword-spotting LSTM: Input(49, 10) -> LSTM(64) -> Dense(12, softmax)."""
    keras, L = _layers()
    inp = keras.Input((49, 10), name="mfcc")
    return keras.Model(inp, L.Dense(12, activation="softmax")(L.LSTM(64)(inp)), name="lstm_kws")


def gru_kws():
    """Stacked GRU keyword spotter."""
    keras, L = _layers()
    inp = keras.Input((49, 10), name="mfcc")
    x = L.GRU(32)(L.GRU(32, return_sequences=True)(inp))
    return keras.Model(inp, L.Dense(12, activation="softmax")(x), name="gru_kws")


def bilstm():
    """Bidirectional LSTM over a sensor time series."""
    keras, L = _layers()
    inp = keras.Input((32, 6), name="imu")
    return keras.Model(inp, L.Dense(5, activation="softmax")(L.Bidirectional(L.LSTM(24))(inp)), name="bilstm")


def conv1d_audio():
    """1-D convolutional audio model on raw samples."""
    keras, L = _layers()
    inp = keras.Input((1024, 1), name="audio")
    x = inp
    for filters in (16, 32, 32):
        x = L.MaxPooling1D(4)(L.Conv1D(filters, 9, padding="same", activation="relu")(x))
    return keras.Model(inp, L.Dense(8, activation="softmax")(L.GlobalAveragePooling1D()(x)), name="conv1d_audio")


def attention():
    """A small attention block: MultiHeadAttention, LayerNormalization, Dense(gelu)."""
    keras, L = _layers()
    inp = keras.Input((16, 32), name="tokens")
    x = L.LayerNormalization()(inp + L.MultiHeadAttention(num_heads=2, key_dim=16)(inp, inp))
    x = L.LayerNormalization()(x + L.Dense(32)(L.Dense(64, activation="gelu")(x)))
    return keras.Model(inp, L.Dense(4, activation="softmax")(L.GlobalAveragePooling1D()(x)), name="attention")


def dense_autoencoder():
    """Dense autoencoder with a regression (linear) output: anomaly detection."""
    keras, L = _layers()
    inp = keras.Input((64,), name="features")
    x = L.Dense(32, activation="relu")(inp)
    x = L.Dense(8, activation="relu")(x)
    x = L.Dense(32, activation="relu")(x)
    return keras.Model(inp, L.Dense(64)(x), name="dense_autoencoder")


def unet():
    """A small U-Net: transposed convolution and concatenation (segmentation)."""
    keras, L = _layers()
    inp = keras.Input((32, 32, 1), name="image")
    c1 = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    c2 = L.Conv2D(16, 3, padding="same", activation="relu")(L.MaxPooling2D()(c1))
    u = L.Conv2DTranspose(8, 2, strides=2, padding="same")(c2)
    x = L.Conv2D(8, 3, padding="same", activation="relu")(L.Concatenate()([u, c1]))
    return keras.Model(inp, L.Conv2D(1, 1, activation="sigmoid")(x), name="unet")


def mobilenet_v3():
    """MobileNetV3-Small (hard-swish), 96x96, no pretrained weights."""
    keras, _ = _layers()
    return keras.applications.MobileNetV3Small(
        input_shape=(96, 96, 3), weights=None, classes=10, minimalistic=False, include_preprocessing=False
    )


def efficientnet_b0():
    """EfficientNet-B0 (swish, squeeze-excite), 96x96, no pretrained weights."""
    keras, _ = _layers()
    return keras.applications.EfficientNetB0(input_shape=(96, 96, 3), weights=None, classes=10)


def residual_cnn():
    """A small residual CNN."""
    keras, L = _layers()
    inp = keras.Input((32, 32, 3), name="image")
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
    for _ in range(2):
        y = L.Conv2D(16, 3, padding="same", activation="relu")(x)
        y = L.BatchNormalization()(L.Conv2D(16, 3, padding="same")(y))
        x = L.ReLU()(L.Add()([x, y]))
    return keras.Model(inp, L.Dense(10, activation="softmax")(L.GlobalAveragePooling2D()(x)), name="residual_cnn")


ZOO: dict[str, Callable] = {
    f.__name__: f
    for f in (
        ds_cnn_kws,
        lstm_kws,
        gru_kws,
        bilstm,
        conv1d_audio,
        attention,
        dense_autoencoder,
        unet,
        mobilenet_v3,
        efficientnet_b0,
        residual_cnn,
    )
}


def save(name: str, folder: Path) -> Path:
    """Build, train one epoch on synthetic labels, save ``folder/<name>.keras``."""
    keras, _ = _layers()
    keras.utils.set_random_seed(0)
    model = ZOO[name]()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, *model.inputs[0].shape[1:])).astype(np.float32)
    out_shape = model.outputs[0].shape
    if name in ("dense_autoencoder",):
        model.compile("adam", "mse")
        y = x
    elif name == "unet":
        model.compile("adam", "binary_crossentropy")
        y = (rng.random((32, *out_shape[1:])) > 0.5).astype(np.float32)
    else:
        model.compile("adam", "sparse_categorical_crossentropy")
        y = rng.integers(0, out_shape[-1], 32)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.keras"
    model.save(path)
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1])
    for name in sys.argv[2:] or ZOO:
        print(save(name, out))
