"""Train the bundled digits example: a tiny CNN on scikit-learn's 8x8 handwritten digits.

Real data that ships inside scikit-learn (no download). Writes, next to this script:

    model.keras       the trained Keras 3 model, input named "image" (1, 8, 8, 1) float32 in [0, 1]
    calibration.npz   {"image": (N, 8, 8, 1) float32}  representative samples for quantization
    eval.npz          {"image": (M, 8, 8, 1) float32, "labels": (M,) int64}  held-out, labelled

The three splits (train / calibration / eval) do not overlap. Seeds are fixed so a rerun on the
same TensorFlow version gives the same split and (on CPU) the same weights.

Usage:  python examples/digits/make_example.py [--out DIR] [--epochs N]
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

SEED = 0
INPUT_NAME = "image"
N_CALIBRATION = 256
EVAL_FRACTION = 0.35  # of the whole set held out from training: calibration + eval


def load_splits(seed: int = SEED):
    """Return (x_train, y_train), x_calib, (x_eval, y_eval), disjoint, pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]  # (1797, 8, 8, 1), pixel max is 16
    y = digits.target.astype(np.int64)
    x_train, x_held, y_train, y_held = train_test_split(x, y, test_size=EVAL_FRACTION, random_state=seed, stratify=y)
    x_calib, x_eval, _, y_eval = train_test_split(
        x_held, y_held, train_size=N_CALIBRATION, random_state=seed, stratify=y_held
    )
    return (x_train, y_train), x_calib, (x_eval, y_eval)


def build_model():
    import tensorflow as tf

    inputs = tf.keras.Input(shape=(8, 8, 1), name=INPUT_NAME)
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = tf.keras.layers.MaxPooling2D(2, name="pool")(x)
    x = tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv3")(x)
    x = tf.keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    outputs = tf.keras.layers.Dense(10, activation="softmax", name="probs")(x)
    return tf.keras.Model(inputs, outputs, name="digits_cnn")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args(argv)

    import tensorflow as tf

    random.seed(SEED)
    np.random.seed(SEED)
    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()

    (x_train, y_train), x_calib, (x_eval, y_eval) = load_splits()
    model = build_model()
    model.compile(
        optimizer=tf.keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, shuffle=True, verbose=0)
    _, train_acc = model.evaluate(x_train, y_train, verbose=0)
    _, eval_acc = model.evaluate(x_eval, y_eval, verbose=0)

    # Save an inference-only copy: same architecture and weights, no optimizer state (smaller file).
    inference = build_model()
    inference.set_weights(model.get_weights())
    args.out.mkdir(parents=True, exist_ok=True)
    inference.save(args.out / "model.keras")
    np.savez_compressed(args.out / "calibration.npz", **{INPUT_NAME: x_calib})
    np.savez_compressed(args.out / "eval.npz", **{INPUT_NAME: x_eval, "labels": y_eval})

    print(f"params: {model.count_params()}")
    print(f"split: train={len(x_train)} calibration={len(x_calib)} eval={len(x_eval)}")
    print(f"float accuracy: train={train_acc:.4f} eval={eval_acc:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
