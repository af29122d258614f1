"""Factories for tiny real models that tests convert, quantize and run.

Each factory writes one model under the path it is given and returns the path to hand to
`hwquant build` (a file for Keras formats, a directory for SavedModels). No training: weights come
from fixed seeds, so every build is fast and repeatable. Tests may import TensorFlow (only to build
models); the product code may not, except the hwquant.convert package.

Input / output names as the TFLite converter's signature runner sees them:

    factory                         signature key(s)          inputs                       outputs
    keras_cnn (.keras / .h5)        serving_default           image (1,8,8,1)              output_0 (1,10)
    keras_export_savedmodel         serving_default           image (1,8,8,1)              output_0 (1,10)
    single_signature_savedmodel     serving_default           features (1,16)              probs (1,4)
    two_signature_savedmodel        encode / decode           encode: x (1,16);            encode: code (1,8)
                                                              decode: code (1,8)           decode: recon (1,16)
    tf1_savedmodel_with_slots       serving_default           x (1,16)                     probs (1,4)
    tf1_savedmodel_unliftable       serving_default           x (1,16)                     probs (1,4)

Keras 3 names the TFLite output "output_0" whatever the Keras output layer is called; the input keeps
the name given to `keras.Input(name=...)`.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

SEED = 0
KERAS_INPUT = "image"
KERAS_SHAPE = (8, 8, 1)
N_CLASSES = 10
FEATURES = 16
TF1_CLASSES = 4


def _tf():
    import logging

    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    return tf


def _dense_weights(rng: np.random.Generator, n_in: int, n_out: int):
    """Glorot-uniform weights and small biases, float32."""
    limit = np.sqrt(6.0 / (n_in + n_out))
    w = rng.uniform(-limit, limit, size=(n_in, n_out)).astype(np.float32)
    b = rng.uniform(-0.1, 0.1, size=(n_out,)).astype(np.float32)
    return w, b


# --------------------------------------------------------------------------------------------- Keras
def build_keras_cnn(batch_size: int | None = None):
    """The uncompiled Keras model behind keras_cnn: conv -> pool -> conv -> flatten -> softmax."""
    tf = _tf()
    tf.keras.utils.set_random_seed(SEED)
    inputs = tf.keras.Input(shape=KERAS_SHAPE, batch_size=batch_size, name=KERAS_INPUT)
    x = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = tf.keras.layers.MaxPooling2D(2, name="pool")(x)
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    outputs = tf.keras.layers.Dense(N_CLASSES, activation="softmax", name="probs")(x)
    return tf.keras.Model(inputs, outputs, name="tiny_cnn")


def keras_cnn(path, fmt: str = "keras", batch_size: int | None = None) -> Path:
    """A tiny Keras CNN saved as `.keras` (Keras 3 zip) or legacy `.h5` (HDF5). Returns the file.

    `path` is a directory (the file is named tiny_cnn.<fmt>) or a file path ending in .keras/.h5.
    `batch_size=None` keeps a dynamic batch dimension; `batch_size=1` makes the input fully static.
    """
    if fmt not in ("keras", "h5"):
        raise ValueError(f"fmt must be 'keras' or 'h5', not {fmt!r}")
    path = Path(path)
    out = path if path.suffix in (".keras", ".h5") else path / f"tiny_cnn.{fmt}"
    out.parent.mkdir(parents=True, exist_ok=True)
    build_keras_cnn(batch_size).save(out)
    return out


def keras_export_savedmodel(path) -> Path:
    """The same CNN exported with Keras 3 `model.export()` (endpoints `serve` and `serving_default`)."""
    path = Path(path)
    build_keras_cnn().export(str(path), verbose=False)
    return path


# ----------------------------------------------------------------------------------- TF2 SavedModels
def single_signature_savedmodel(path, batch: int | None = None) -> Path:
    """A tf.Module with one `serving_default` signature: features (batch,16) -> probs (batch,4).

    Dense -> relu -> dense -> softmax; `batch=None` is dynamic, `batch=1` static.
    """
    tf = _tf()
    rng = np.random.default_rng(SEED)
    w1, b1 = _dense_weights(rng, FEATURES, 8)
    w2, b2 = _dense_weights(rng, 8, TF1_CLASSES)

    class Classifier(tf.Module):
        def __init__(self):
            super().__init__(name="classifier")
            self.w1, self.b1 = tf.Variable(w1), tf.Variable(b1)
            self.w2, self.b2 = tf.Variable(w2), tf.Variable(b2)

        @tf.function(input_signature=[tf.TensorSpec([batch, FEATURES], tf.float32, name="features")])
        def serve(self, features):
            h = tf.nn.relu(tf.matmul(features, self.w1) + self.b1)
            return {"probs": tf.nn.softmax(tf.matmul(h, self.w2) + self.b2)}

    module = Classifier()
    path = Path(path)
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def two_signature_savedmodel(path) -> Path:
    """A tf.Module with two signatures that have different inputs:

    encode: x (1,16) -> code (1,8)       dense + relu
    decode: code (1,8) -> recon (1,16)   dense + sigmoid
    """
    tf = _tf()
    rng = np.random.default_rng(SEED + 1)
    we, be = _dense_weights(rng, FEATURES, 8)
    wd, bd = _dense_weights(rng, 8, FEATURES)

    class AutoEncoder(tf.Module):
        def __init__(self):
            super().__init__(name="autoencoder")
            self.we, self.be = tf.Variable(we), tf.Variable(be)
            self.wd, self.bd = tf.Variable(wd), tf.Variable(bd)

        @tf.function(input_signature=[tf.TensorSpec([1, FEATURES], tf.float32, name="x")])
        def encode(self, x):
            return {"code": tf.nn.relu(tf.matmul(x, self.we) + self.be)}

        @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32, name="code")])
        def decode(self, code):
            return {"recon": tf.sigmoid(tf.matmul(code, self.wd) + self.bd)}

    module = AutoEncoder()
    path = Path(path)
    tf.saved_model.save(module, str(path), signatures={"encode": module.encode, "decode": module.decode})
    return path


# ----------------------------------------------------------------------------------- TF1 SavedModels
def _tf1_graph(with_train_signature: bool, with_unfed_signature: bool, steps: int = 3):
    """Build, train a few Adam steps and return (graph, session, signature_def_map). Graph mode only.

    Variables are TF1 reference variables (VariableV2), as TF 1.x saved them; Adam adds its slot
    variables (w/Adam, w/Adam_1, ...) and beta powers next to them.
    """
    tf = _tf()
    v1 = tf.compat.v1
    rng = np.random.default_rng(SEED + 2)
    w1, b1 = _dense_weights(rng, FEATURES, 8)
    w2, b2 = _dense_weights(rng, 8, TF1_CLASSES)
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(SEED)
        x = v1.placeholder(tf.float32, [1, FEATURES], name="x")
        label = v1.placeholder(tf.float32, [1, TF1_CLASSES], name="label")

        def var(name, value):
            return v1.get_variable(name, initializer=value, use_resource=False)

        h = tf.nn.relu(tf.matmul(x, var("w1", w1)) + var("b1", b1))
        logits = tf.matmul(h, var("w2", w2)) + var("b2", b2)
        probs = tf.nn.softmax(logits, name="probs")
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=label, logits=logits))
        train_op = v1.train.AdamOptimizer(1e-2).minimize(loss, global_step=v1.train.get_or_create_global_step())
        with tf.control_dependencies([train_op]):
            loss_after_step = tf.identity(loss, name="loss_after_step")

        session = v1.Session(graph=graph)
        session.run(v1.global_variables_initializer())
        xs = rng.uniform(0, 1, size=(steps, 1, FEATURES)).astype(np.float32)
        ys = np.eye(TF1_CLASSES, dtype=np.float32)[rng.integers(0, TF1_CLASSES, size=steps)][:, None]
        for xb, yb in zip(xs, ys):
            session.run(train_op, {x: xb, label: yb})

        info = v1.saved_model.build_tensor_info
        build = v1.saved_model.signature_def_utils.build_signature_def
        sigs = {"serving_default": v1.saved_model.predict_signature_def({"x": x}, {"probs": probs})}
        if with_train_signature:
            # A training signature: running it applies one Adam step to the variables and slots.
            sigs["train"] = build(
                inputs={"x": info(x), "label": info(label)},
                outputs={"loss": info(loss_after_step)},
                method_name="tensorflow/supervised/training",
            )
        if with_unfed_signature:
            # An eval signature whose loss needs `label`, which it forgot to list as an input.
            sigs["eval"] = build(
                inputs={"x": info(x)}, outputs={"loss": info(loss)}, method_name="tensorflow/supervised/eval"
            )
    return graph, session, sigs


def _save_tf1(path, **kwargs) -> Path:
    tf = _tf()
    v1 = tf.compat.v1
    path = Path(path)
    graph, session, sigs = _tf1_graph(**kwargs)
    with graph.as_default(), session:
        builder = v1.saved_model.Builder(str(path))
        builder.add_meta_graph_and_variables(session, [tf.saved_model.SERVING], signature_def_map=sigs)
        builder.save()
    return path


def tf1_savedmodel_with_slots(path) -> Path:
    """A TF1 (graph mode) SavedModel with reference variables, Adam slot variables and a `train`
    signature next to `serving_default` (x (1,16) -> probs (1,4)).

    tf.lite.TFLiteConverter.from_saved_model (TF2) loads it but `convert()` fails while lifting the
    variables ("Failed to prepare to lift variables ... 'tf.VariableV2' op expects all users to be
    'tf.Identity', but got user tf.ApplyAdam"); tf.compat.v1.lite.TFLiteConverter.from_saved_model
    converts `serving_default`, with or without a representative dataset.
    """
    return _save_tf1(path, with_train_signature=True, with_unfed_signature=False)


def tf1_savedmodel_unliftable(path) -> Path:
    """A TF1 SavedModel with an `eval` signature whose output depends on a placeholder it does not list.

    The TF2 loader rejects it already in `from_saved_model` (UnliftableError "A SavedModel signature
    needs an input for each placeholder the signature's outputs use ..."), even when asked only for
    `serving_default`; the TF1 converter converts `serving_default`.
    """
    return _save_tf1(path, with_train_signature=False, with_unfed_signature=True)


# ------------------------------------------------------------------------------------------ samples
def keras_samples(n: int, seed: int = SEED) -> np.ndarray:
    """n images shaped for keras_cnn, float32 in [0, 1], batch axis first."""
    return np.random.default_rng(seed).uniform(0, 1, size=(n, *KERAS_SHAPE)).astype(np.float32)


def feature_samples(n: int, width: int = FEATURES, seed: int = SEED) -> np.ndarray:
    """n feature rows (n, width), float32 in [0, 1]."""
    return np.random.default_rng(seed).uniform(0, 1, size=(n, width)).astype(np.float32)


# ----------------------------------------------------------------------------------- .tflite files
def convert_tflite(keras_path, recipe: str, out: Path) -> Path:
    """A keras_cnn file converted straight with the TFLiteConverter (no hwquant) as float32 / float16 /
    dynamic (dynamic-range int8) / int8 (int8 with float IO) / int8-io (integer only, int8 IO)."""
    tf = _tf()
    conv = tf.lite.TFLiteConverter.from_keras_model(tf.keras.models.load_model(keras_path))
    if recipe != "float32":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if recipe == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if recipe.startswith("int8"):
        rng = np.random.default_rng(0)
        conv.representative_dataset = lambda: ([rng.random((1, *KERAS_SHAPE), dtype=np.float32)] for _ in range(20))
    if recipe == "int8-io":
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int8
    out.write_bytes(conv.convert())
    return out


class ConvertedModels(dict):
    """recipe -> .tflite path of one Keras file, each converted on first use (``convert_tflite``)."""

    def __init__(self, keras_path: Path, folder: Path):
        super().__init__()
        self.keras_path, self.folder = keras_path, folder

    def __missing__(self, recipe: str) -> Path:
        path = self[recipe] = convert_tflite(self.keras_path, recipe, self.folder / f"{recipe}.tflite")
        return path
