"""Native crashes are contained (issue 19 item 2): the converter, LiteRT and TFLM run in one worker
process per build (hwquant.device.contain), and a crash there is exit 4 naming the tool, the step and
the signal, never the end of hwquant.

The crashing input is real: a classifier whose logits span about 1e-9, so its int8 SOFTMAX input scale
is below 2**-26, which TFLM's softmax (and LiteRT's reference softmax) reject with an abort (SIGABRT)
when the model is allocated. LiteRT's optimized kernels run it, so the cpu target builds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwquant.device import contain

# -------------------------------------------------------------------------------------- the model


def flat_logits_model(path: Path) -> Path:
    """Input(8) -> Dense(4) -> softmax with weights of 1e-9: logits that span ~1e-9 (an untrained model
    gone flat), so the converter gives the int8 softmax input a scale far below 2**-26."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    inp = keras.Input((8,), name="features")
    dense = keras.layers.Dense(4, activation="softmax", name="scores")
    model = keras.Model(inp, dense(inp))
    dense.set_weights([rng.standard_normal((8, 4)).astype(np.float32) * 1e-9, np.zeros(4, np.float32)])
    out = path / "flat.keras"
    model.save(out)
    return out


def flat_int8(path: Path) -> bytes:
    """The flat model converted to int8 (int8 IO) straight with the TFLiteConverter."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(tf.keras.models.load_model(flat_logits_model(path)))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    conv.representative_dataset = lambda: ([rng.random((1, 8), dtype=np.float32)] for _ in range(20))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def hwquant(*args: object, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process: this pytest process ran TensorFlow, the child has not (fork mode)."""
    return subprocess.run(
        [sys.executable, "-c", "from hwquant.cli.main import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HWQUANT_ISOLATE": "1"},
    )


def vela_available() -> bool:
    try:
        import ethosu.vela  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------------------ tests
def test_known_crash_names_the_softmax(tmp_path):
    """The flat model's int8 SOFTMAX is the op TFLM aborts on, and ``known_crashes`` names it."""
    from hwquant import TfliteModel
    from hwquant_backends._tflm import crashes

    model = TfliteModel(flat_int8(tmp_path), "flat")
    found = crashes.known_crashes(model)
    assert len(found) == 1 and found[0].startswith("SOFTMAX (op ") and "2**26" in found[0], found


@pytest.mark.slow
def test_a_real_crash_is_exit_4_and_the_other_targets_build(tmp_path):
    """mcu and ethos-u crash TFLM (SIGABRT) on the flat model; hwquant exits 4 naming the interpreter,
    the step, the signal and the op, cpu still builds and is reported, and no partial folder is left."""
    targets = "mcu,cpu" + (",ethos-u" if vela_available() else "")
    out = tmp_path / "out"
    r = hwquant(
        "build", flat_logits_model(tmp_path), "-t", targets, "--recipe", "int8-only", "--data", "random:32", "-o", out
    )
    assert r.returncode == 4, (r.returncode, r.stderr[-3000:])
    err = r.stderr
    assert "2 of 3 targets failed" in err or "1 of 2 targets failed" in err, err
    mcu = next(ln for ln in err.splitlines() if ln.strip().startswith("mcu (exit 4)"))
    assert "the TFLM interpreter crashed (SIGABRT) while" in mcu and "SOFTMAX" in mcu, mcu
    if vela_available():
        ethosu = next(ln for ln in err.splitlines() if ln.strip().startswith("ethos-u (exit 4)"))
        assert "crashed (SIGABRT) while cross-checking the model against LiteRT: allocating" in ethosu, ethosu
        assert "SOFTMAX" in ethosu, ethosu
    assert "left no partial artifact" in err
    cpu = json.loads((out / "cpu" / "report.json").read_text())
    assert (out / "cpu" / "model.tflite").is_file() and cpu["target"] == "cpu"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["cpu"], list(out.iterdir())


@pytest.mark.slow
def test_a_crash_in_the_cross_check_is_contained_in_process(tmp_path):
    """This pytest process already ran TensorFlow: its worker is a fresh interpreter (no fork), and a
    crash in the TFLM cross-check, called through the library, is a Crashed error, not the end of pytest."""
    import tensorflow as tf

    from hwquant import TfliteModel
    from hwquant_backends._tflm import crosscheck

    tf.constant(1.0) + 1.0  # the eager runtime runs in this process
    assert contain.start_method() == "exec"
    model = TfliteModel(flat_int8(tmp_path), "flat")
    samples = [("", {"features": np.zeros((1, 8), np.float32)})]
    with pytest.raises(contain.Crashed) as info:
        crosscheck.compare(model, 64 * 1024, samples)
    exc = info.value
    assert exc.exit_code == 4 and exc.signal_name == "SIGABRT"
    assert exc.message.startswith(
        "the TFLM interpreter crashed (SIGABRT) while cross-checking the model against LiteRT: "
        "allocating the model in a 65536-byte arena"
    ), exc.message
    assert "SOFTMAX" in exc.message and "no partial artifact" in (exc.hint or "")
    # the next request gets a new worker, which runs LiteRT's optimized kernels on the same model fine
    pid = contain.call(os.getpid, stage="s", tool="t")
    assert pid not in (os.getpid(), None)
    assert contain.call(os.getpid, stage="s", tool="t") == pid  # one worker serves every request


def test_exec_worker_where_tensorflow_already_ran():
    """A process that ran TensorFlow cannot fork safely: the worker is a fresh interpreter, kept."""
    import tensorflow as tf

    from hwquant.convert import worker

    tf.constant(1.0) + 1.0
    assert worker.isolated() and worker.start_method() == "exec"
    pid = worker.call(os.getpid, stage="s", tool="t")
    assert pid != os.getpid()
    worker.stop()  # a build's end: the fresh-interpreter worker is kept for the next build
    assert worker.call(os.getpid, stage="s", tool="t") == pid
    with pytest.raises(worker.Crashed) as info:
        worker.call(os.kill, pid, signal.SIGSEGV, stage="calibrating", tool="the TFLite calibrator")
    assert info.value.signal_name == "SIGSEGV" and info.value.exit_code == 4
    assert info.value.message.startswith("the TFLite calibrator crashed (SIGSEGV) while calibrating")
    assert worker.call(os.getpid, stage="s", tool="t") not in (pid, os.getpid())


def test_shared_arguments_cross_once():
    """A ``shared`` argument is sent with the first request and by key afterwards; the worker forgets it
    when the parent's object dies; objects without weak references are sent as they are."""
    from hwquant.config.data import DataSet

    data = DataSet([("", {"x": np.arange(4.0)})], "test", "npy", "0")
    s = contain.shared(data)
    assert isinstance(s, contain.Shared) and contain.shared(data) is s
    assert contain.shared(b"bytes") == b"bytes"
    assert contain.call(len, s, stage="s", tool="t") == 1
    w = contain._worker
    key = s.key
    assert w is not None and key in w.sent
    assert contain.call(len, s, stage="s", tool="t") == 1  # by key: the worker kept it
    del data, s
    import gc

    gc.collect()
    assert contain.call(len, [1, 2], stage="s", tool="t") == 2
    assert key not in w.sent


def test_in_process_without_isolation(monkeypatch):
    monkeypatch.setenv("HWQUANT_ISOLATE", "0")
    assert contain.start_method() == "in-process" and not contain.isolated()
    assert contain.call(os.getpid, stage="s", tool="t") == os.getpid()
    assert contain.call(len, contain.Shared([1, 2, 3]), stage="s", tool="t") == 3
