"""Issue 10's reproduction: Dense -> sqrt/log -> Dense, float-fallback recipe, cpu target.

The old hand-written cpu table said LiteRT had no int8 SQRT or LOG kernel and refused the build
(exit 3) although LiteRT runs it; the table now holds only rows LiteRT proved, and LiteRT decides."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.cli.main import main


@pytest.fixture(scope="module")
def sqrt_log_savedmodel(tmp_path_factory):
    import tensorflow as tf

    rng = np.random.default_rng(0)

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.w1 = tf.Variable(rng.normal(size=(6, 8)).astype("float32"))
            self.w2 = tf.Variable(rng.normal(size=(8, 8)).astype("float32"))
            self.w3 = tf.Variable(rng.normal(size=(8, 3)).astype("float32"))

        @tf.function(input_signature=[tf.TensorSpec([1, 6], tf.float32, name="x")])
        def __call__(self, x):
            h = tf.nn.relu(tf.matmul(x, self.w1))  # Dense
            h = tf.sqrt(h + 1.0) + tf.math.log(h + 1.0)  # sqrt / log
            h = tf.nn.relu(tf.matmul(h, self.w2))  # Dense
            return {"y": tf.matmul(h, self.w3)}  # Dense

    path = tmp_path_factory.mktemp("sqrtlog") / "saved"
    net = Net()
    tf.saved_model.save(net, str(path), signatures={"serving_default": net.__call__})
    np.savez(path.parent / "cal.npz", x=rng.uniform(0, 2, size=(40, 1, 6)).astype("float32").reshape(40, 6))
    return path


@pytest.mark.slow
def test_dense_sqrt_log_dense_builds_for_cpu_with_float_fallback(sqrt_log_savedmodel, tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(sqrt_log_savedmodel),
            "--target",
            "cpu",
            "--recipe",
            "int8-float-fallback",
            "--data",
            str(sqrt_log_savedmodel.parent / "cal.npz"),
            "-o",
            str(tmp_path),
            "--no-cache",
        ],
    )
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "cpu" / "report.json").read_text())
    ops = {(o["op"], o["dtype"]): o for o in report["ops"]["ops"]}
    assert ("SQRT", "int8") in ops and ("LOG", "int8") in ops, sorted(ops)
    assert all(o["placement"] == "target" for o in ops.values())
    assert report["verify"]["runtime"] == "LiteRT interpreter" and report["verify"]["samples"] > 0
    snr = [m["snr_db"] for m in report["fidelity"]["outputs"].values()]
    assert snr and all(s > 10 for s in snr), report["fidelity"]


# TF functions whose int8-float-fallback conversion emits int8 kernels the old hand-written table lacked
# (SQRT, LOG, EXP) or that sit at its edges; x is [1, 8] float32.
_GRAPHS = {
    "sqrt": lambda tf, x: tf.sqrt(tf.abs(x) + 1.0),
    "log": lambda tf, x: tf.math.log(tf.abs(x) + 1.0),
    "exp": lambda tf, x: tf.exp(x),
    "rsqrt": lambda tf, x: tf.math.rsqrt(tf.abs(x) + 1.0),
    "softplus": lambda tf, x: tf.nn.softplus(x),
    "gelu": lambda tf, x: tf.nn.gelu(x),
    "top_k": lambda tf, x: tf.math.top_k(x, 2).values,
    "reduce_prod": lambda tf, x: tf.reduce_prod(x, axis=1, keepdims=True),
    "squared_difference": lambda tf, x: tf.math.squared_difference(x, x * 0.5),
}


@pytest.mark.slow
def test_every_op_the_converter_emits_is_a_cpu_row_that_litert_runs():
    import tensorflow as tf

    from hwquant import TfliteModel
    from hwquant_backends._litert.ops import SUPPORT
    from tests.helpers import opgen

    rng = np.random.default_rng(0)
    seen = set()
    for name, fn in _GRAPHS.items():
        f = tf.function(lambda x, fn=fn: fn(tf, x), input_signature=[tf.TensorSpec([1, 8], tf.float32)])
        c = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()])
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = lambda: ([rng.normal(size=(1, 8)).astype("float32")] for _ in range(16))
        model = c.convert()
        assert opgen.run_litert(model) is None, name
        for op in TfliteModel(model).ops:
            seen.add((op.name, op.dtype))
            assert op.dtype in SUPPORT.ops.get(op.name, ()), f"{name}: {op.name} {op.dtype} runs but is not a cpu row"
    assert {("SQRT", "int8"), ("LOG", "int8"), ("EXP", "int8")} <= seen
