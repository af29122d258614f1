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
            h = tf.nn.relu(tf.matmul(x, self.w1))              # Dense
            h = tf.sqrt(h + 1.0) + tf.math.log(h + 1.0)        # sqrt / log
            h = tf.nn.relu(tf.matmul(h, self.w2))              # Dense
            return {"y": tf.matmul(h, self.w3)}                # Dense

    path = tmp_path_factory.mktemp("sqrtlog") / "saved"
    net = Net()
    tf.saved_model.save(net, str(path), signatures={"serving_default": net.__call__})
    np.savez(path.parent / "cal.npz", x=rng.uniform(0, 2, size=(40, 1, 6)).astype("float32").reshape(40, 6))
    return path


@pytest.mark.slow
def test_dense_sqrt_log_dense_builds_for_cpu_with_float_fallback(sqrt_log_savedmodel, tmp_path):
    r = CliRunner().invoke(main, ["build", str(sqrt_log_savedmodel), "--target", "cpu", "--recipe",
                                  "int8-float-fallback", "--data", str(sqrt_log_savedmodel.parent / "cal.npz"),
                                  "-o", str(tmp_path), "--no-cache"])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "cpu" / "report.json").read_text())
    ops = {(o["op"], o["dtype"]): o for o in report["ops"]["ops"]}
    assert ("SQRT", "int8") in ops and ("LOG", "int8") in ops, sorted(ops)
    assert all(o["placement"] == "target" for o in ops.values())
    assert report["verify"]["runtime"] == "LiteRT interpreter" and report["verify"]["samples"] > 0
    snr = [m["snr_db"] for m in report["fidelity"]["outputs"].values()]
    assert snr and all(s > 10 for s in snr), report["fidelity"]
