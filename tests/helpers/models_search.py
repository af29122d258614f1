"""A classifier that uniform int8, dynamic range and int16x8 all break, for a known reason.

Trained on scikit-learn's 8x8 digits (real data, flattened to 64 features): dense 256 -> 256 ->
16 -> 64 -> 10. After training, the 16-wide layer ("narrow") gets a 17th output channel with zero
weights and a bias of 1e6, and the next layer ("wide") a zero row for it: the float model's outputs
do not change at all, but the activation tensor between "narrow" and "wide" is dominated by one
constant channel. Any per-tensor integer scale for that tensor (int8: 1e6/255, int16: 1e6/65535)
is far coarser than the other 16 channels' whole range, so they all quantize to zero and the
classifier collapses; dynamic range quantizes the same tensor on the fly and collapses too.
Keeping both sides of that tensor float (narrow and wide) restores the float accuracy.

Returns the .keras path plus calibration / eval npz files (disjoint from the training split).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

OUTLIER = 1e6
INPUT = "features"


def _layers(tf, narrow: int):
    inp = tf.keras.Input((64,), name=INPUT)
    h = tf.keras.layers.Dense(256, activation="relu", name="d1")(inp)
    h = tf.keras.layers.Dense(256, activation="relu", name="d2")(h)
    h = tf.keras.layers.Dense(narrow, activation="relu", name="narrow")(h)
    h = tf.keras.layers.Dense(64, activation="relu", name="wide")(h)
    out = tf.keras.layers.Dense(10, activation="softmax", name="probs")(h)
    return tf.keras.Model(inp, out)


def outlier_classifier(folder: Path, epochs: int = 12) -> tuple[Path, Path, Path]:
    import tensorflow as tf
    from sklearn.datasets import load_digits

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    x, y = (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)
    idx = np.random.default_rng(0).permutation(len(x))
    train, calib, held = idx[:1200], idx[1200:1456], idx[1456:]
    tf.keras.utils.set_random_seed(0)
    trained = _layers(tf, 16)
    trained.compile("adam", "sparse_categorical_crossentropy")
    trained.fit(x[train], y[train], epochs=epochs, batch_size=32, verbose=0)
    model = _layers(tf, 17)
    for name in ("d1", "d2", "probs"):
        model.get_layer(name).set_weights(trained.get_layer(name).get_weights())
    w, b = trained.get_layer("narrow").get_weights()
    model.get_layer("narrow").set_weights(
        [np.concatenate([w, np.zeros((w.shape[0], 1), np.float32)], 1), np.append(b, OUTLIER).astype(np.float32)]
    )
    w, b = trained.get_layer("wide").get_weights()
    model.get_layer("wide").set_weights([np.concatenate([w, np.zeros((1, w.shape[1]), np.float32)], 0), b])
    path = folder / "outlier.keras"
    model.save(path)
    np.savez(folder / "calib.npz", **{INPUT: x[calib]})
    np.savez(folder / "eval.npz", **{INPUT: x[held], "labels": y[held]})
    return path, folder / "calib.npz", folder / "eval.npz"
