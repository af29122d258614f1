"""The three benchmark models and their data, written to a work folder.

digits       the bundled example (examples/digits): real data, labelled eval set
mobilenetv2  keras.applications.MobileNetV2 224x224, random weights; batch-norm statistics settled
             by forward passes in training mode (momentum 0) on the same image distribution the
             calibration uses, so int8 ranges are realistic rather than those of a fresh init.
             The head outputs logits: a random-weight softmax over 1000 classes is almost uniform
             (every probability ~0.001, below one int8 step of 1/256), which would make every
             integer recipe look broken for a reason that has nothing to do with quantization.
audio        a small 1-D convolutional keyword-spotting-style model on 49x40 log-mel-like frames
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits"
ALL_RECIPES = ("float32", "dynamic-int8", "float16", "int8-float-fallback", "int8-only", "int16x8")


@dataclass
class Case:
    """One model with its data and how hard to push it."""

    name: str
    model: Path
    calibration: Path
    eval: Path
    input_name: str
    recipes: tuple[str, ...]
    build_repeats: int = 1
    latency_runs: int = 100
    latency_warmup: int = 10
    latency_max_secs: float = 10.0
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {}
        for key, p in (("calibration", self.calibration), ("eval", self.eval)):
            with np.load(p) as z:
                out[key] = int(z[self.input_name].shape[0])
        return out


def _seed(seed: int = 0) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def digits(work: Path, quick: bool) -> Case:
    d = work / "digits"
    d.mkdir(parents=True, exist_ok=True)
    for f in ("model.keras", "calibration.npz", "eval.npz"):
        shutil.copy2(DIGITS / f, d / f)
    return Case(
        "digits",
        d / "model.keras",
        d / "calibration.npz",
        d / "eval.npz",
        "image",
        ALL_RECIPES,
        build_repeats=1 if quick else 3,
        latency_runs=200 if quick else 1000,
        latency_warmup=20,
        latency_max_secs=5.0,
        notes=["bundled example: 256 calibration / 373 labelled eval images (real data)"],
    )


def _images(rng: np.random.Generator, n: int, size: int = 224) -> np.ndarray:
    """Smooth random 'images' in [-1, 1] (MobileNetV2's input range): low-res noise upsampled plus grain."""
    low = rng.uniform(-1, 1, (n, size // 16, size // 16, 3)).astype(np.float32)
    img = np.repeat(np.repeat(low, 16, axis=1), 16, axis=2)
    img += rng.normal(0, 0.15, img.shape).astype(np.float32)
    return np.clip(img, -1, 1).astype(np.float32)


def mobilenetv2(work: Path, quick: bool) -> Case:
    import keras

    _seed(1)
    d = work / "mobilenetv2"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    inp = keras.Input((224, 224, 3), name="image")
    model = keras.applications.MobileNetV2(weights=None, input_tensor=inp, classes=1000, classifier_activation=None)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [b.momentum for b in bns]
    for b in bns:
        b.momentum = 0.0  # moving statistics := the statistics of the last training-mode batch
    for _ in range(3):
        model([_images(rng, 16)], training=True)
    for b, m in zip(bns, saved):
        b.momentum = m
    model.save(d / "model.keras")
    n_cal, n_eval = (16, 8) if quick else (100, 20)
    np.savez(d / "calibration.npz", image=_images(rng, n_cal))
    np.savez(d / "eval.npz", image=_images(rng, n_eval))
    recipes = ("float32", "int8-only") if quick else ALL_RECIPES
    return Case(
        "mobilenetv2",
        d / "model.keras",
        d / "calibration.npz",
        d / "eval.npz",
        "image",
        recipes,
        build_repeats=1,
        latency_runs=10 if quick else 30,
        latency_warmup=2 if quick else 3,
        latency_max_secs=4.0 if quick else 8.0,
        notes=[
            f"random weights, batch-norm statistics settled on 3x16 random images; "
            f"{n_cal} calibration / {n_eval} eval synthetic images (smooth noise in [-1, 1])"
        ],
    )


def audio(work: Path, quick: bool) -> Case:
    import keras
    from keras import layers

    _seed(2)
    d = work / "audio"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    inp = keras.Input((49, 40), name="audio")  # 49 frames x 40 log-mel bins (1 s of speech)
    x = layers.Conv1D(32, 3, padding="same", activation="relu")(inp)
    x = layers.Conv1D(48, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv1D(64, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(64, activation="relu")(x)
    out = layers.Dense(12, activation="softmax")(x)
    model = keras.Model(inp, out, name="kws_conv1d")
    model.save(d / "model.keras")

    def frames(n):  # temporally correlated features, like log-mel energies
        base = rng.normal(0, 1, (n, 49, 40)).astype(np.float32)
        return (np.cumsum(base, axis=1) / np.sqrt(np.arange(1, 50))[None, :, None]).astype(np.float32)

    n_cal, n_eval = (64, 32) if quick else (200, 100)
    np.savez(d / "calibration.npz", audio=frames(n_cal))
    np.savez(d / "eval.npz", audio=frames(n_eval))
    return Case(
        "audio",
        d / "model.keras",
        d / "calibration.npz",
        d / "eval.npz",
        "audio",
        ALL_RECIPES,
        build_repeats=1 if quick else 3,
        latency_runs=200 if quick else 1000,
        latency_warmup=20,
        latency_max_secs=5.0,
        notes=[f"random weights; {n_cal} calibration / {n_eval} eval synthetic feature frames"],
    )


BUILDERS = {"digits": digits, "mobilenetv2": mobilenetv2, "audio": audio}
