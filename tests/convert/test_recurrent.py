"""Recurrent Keras models build (issue 19 item 1) and native crashes are contained (item 2).

The builds run `hwquant build` in a child process: the converter's worker isolation is active
there (this pytest process has run TensorFlow, so it would run the steps in-process), and a crash
could never take the test session down. The models are tiny Keras 3 models trained one epoch on
synthetic labels.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.cli.main import main


def make(kind: str, path: Path, steps: int = 12, features: int = 6, units: int = 8, classes: int = 4) -> Path:
    """A small Keras 3 recurrent classifier, trained one epoch on synthetic labels."""
    import keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((steps, features), name="frames")
    if kind == "lstm":
        h = L.LSTM(units)(inp)
    elif kind == "kws_lstm":  # the keyword-spotting shape of issue 19
        h = L.LSTM(64)(inp)
    elif kind == "stacked_gru":
        h = L.GRU(units)(L.GRU(units, return_sequences=True)(inp))
    elif kind == "bilstm":
        h = L.Bidirectional(L.LSTM(units))(inp)
    elif kind == "simple_rnn":
        h = L.SimpleRNN(units)(inp)
    elif kind == "return_sequences":  # per-step outputs pooled: no final LSTM state
        h = L.GlobalAveragePooling1D()(L.LSTM(units, return_sequences=True)(inp))
    else:
        raise ValueError(kind)
    model = keras.Model(inp, L.Dense(classes, activation="softmax")(h))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, *inp.shape[1:])).astype(np.float32)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, rng.integers(0, classes, 32), epochs=1, batch_size=16, verbose=0)
    out = path / f"{kind}.keras"
    model.save(out)
    return out


def hwquant(*args, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from hwquant.cli.main import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def build(model: Path, out: Path, targets: str, tmp: Path) -> subprocess.CompletedProcess:
    tmp.mkdir(exist_ok=True)
    r = hwquant(
        "build", model, "--target", targets, "--data", "random:16", "-o", out, "--no-cache", env={"TMPDIR": str(tmp)}
    )
    assert r.returncode >= 0, f"hwquant died on a signal ({r.returncode}):\n{r.stderr[-3000:]}"
    assert not any(p.name.startswith("hwquant-load-") for p in tmp.iterdir()), "a temporary folder was left"
    return r


def report(out: Path, target: str) -> dict:
    return json.loads((out / target / "report.json").read_text())


# ------------------------------------------------------------------------------- the worker helper
WORKER_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    from hwquant.common.errors import InputError
    from hwquant.convert import worker

    def segv():
        os.kill(os.getpid(), signal.SIGSEGV)

    def bad_input():
        raise InputError("no such input 'x'", hint="name it")

    def bug():
        return {}["missing"]

    def pid():
        return os.getpid()

    out = {"isolated": worker.isolated(), "parent": os.getpid()}
    out["pid1"] = worker.call(pid, stage="s", tool="t")
    out["pid2"] = worker.call(pid, stage="s", tool="t")
    try:
        worker.call(segv, stage="calibrating", tool="the TFLite calibrator", about="the model's LSTM lstm layers")
    except worker.Crashed as exc:
        out["crash"] = [exc.exit_code, exc.message, exc.hint, exc.stage, exc.signal_name]
    try:
        worker.call(bad_input, stage="s", tool="t")
    except InputError as exc:
        out["input"] = [exc.exit_code, exc.message, exc.hint]
    try:
        worker.call(bug, stage="s", tool="t")
    except KeyError as exc:
        out["bug"] = [type(exc).__name__, str(exc.__cause__)]
    out["pid3"] = worker.call(pid, stage="s", tool="t")
    worker.stop()
    print(json.dumps(out))
    """
)


def test_worker_contains_a_native_crash_and_keeps_errors_typed():
    """A real SIGSEGV in the worker is a ToolchainError (exit 4) naming the stage and the signal;
    the next step gets a new worker; errors raised there come back with their class and fields."""
    r = subprocess.run([sys.executable, "-c", WORKER_SCRIPT], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["isolated"] is True
    assert out["pid1"] == out["pid2"] != out["parent"]  # one worker serves every step
    code, message, hint, stage, sig = out["crash"]
    assert code == 4 and stage == "calibrating" and sig == "SIGSEGV"
    # the crash site comes from the worker's faulthandler dump: the innermost Python frame
    assert re.fullmatch(
        r"the TFLite calibrator crashed \(SIGSEGV\) while calibrating \(in <string>:\d+ segv\); "
        r"the model's LSTM lstm layers",
        message,
    ), message
    assert "-v" in hint
    assert out["pid3"] not in (out["pid1"], out["parent"])  # a fresh worker after the crash
    assert out["input"] == [2, "no such input 'x'", "name it"]
    assert out["bug"][0] == "KeyError" and "Traceback" in out["bug"][1] and "def bug" not in out["bug"][1]


# ------------------------------------------------------------------------------- the rewrite itself
@pytest.mark.slow
def test_rebuild_matches_keras3_and_names_the_rewrites(tmp_path):
    import keras

    from hwquant.convert import recurrent

    model = keras.models.load_model(make("bilstm", tmp_path), compile=False)
    rw = recurrent.rebuild(model)
    assert [re.sub(r"_lstm\w*", "_lstm", r) for r in rw.rewrites] == [
        "LSTM forward_lstm -> UNIDIRECTIONAL_SEQUENCE_LSTM",
        "LSTM backward_lstm -> UNIDIRECTIONAL_SEQUENCE_LSTM",
    ], rw.rewrites
    assert rw.unrolled == []
    assert rw.model.inputs[0].shape[0] == 1  # batch fixed to 1
    assert recurrent.check_same(model, rw.model, "x") < 1e-5


def test_rebuild_keeps_keras3_activations_and_unrolls_what_cannot_fuse():
    """Keras 3's hard_sigmoid is not tf_keras's (relu6(x+3)/6 vs clip(0.2x+0.5)): the twin uses Keras 3's
    function, and an LSTM with it has no fused kernel, so it is unrolled (Sequential models too)."""
    import keras

    from hwquant.convert import recurrent

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((10, 4)),
            keras.layers.Conv1D(8, 3, padding="same", activation="relu"),
            keras.layers.LSTM(8, recurrent_activation="hard_sigmoid", return_sequences=True),
            keras.layers.Dropout(0.2),
            keras.layers.LSTM(8),
            keras.layers.Dense(3, activation="gelu"),
        ]
    )
    rw = recurrent.rebuild(model)
    assert [re.sub(r"lstm\w*", "lstm", r) for r in rw.rewrites] == [
        "LSTM lstm -> unrolled over 10 time steps",
        "LSTM lstm -> UNIDIRECTIONAL_SEQUENCE_LSTM",
    ], rw.rewrites
    assert len(rw.unrolled) == 1
    assert recurrent.check_same(model, rw.model, "x") < 1e-5


def test_rewrite_that_changes_the_function_is_a_bug_with_both_numbers(tmp_path):
    import keras

    from hwquant.common.errors import HwquantError
    from hwquant.convert import recurrent

    model = keras.models.load_model(make("lstm", tmp_path), compile=False)
    rw = recurrent.rebuild(model)
    w = rw.model.get_weights()
    rw.model.set_weights([w[0] * 1.5, *w[1:]])  # what a wrong weight mapping would do
    with pytest.raises(HwquantError) as info:
        recurrent.check_same(model, rw.model, "LSTM lstm -> UNIDIRECTIONAL_SEQUENCE_LSTM")
    err = info.value
    assert err.exit_code == 1
    assert "max |difference|" in err.message and "tolerance" in err.message and "LSTM lstm" in err.message


def test_dynamic_sequence_length_is_bad_input_naming_the_input(tmp_path):
    import keras

    inp = keras.Input((None, 6), name="frames")
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.GRU(4)(inp)))
    model.save(tmp_path / "dyn.keras")
    r = CliRunner().invoke(main, ["build", str(tmp_path / "dyn.keras"), "-o", str(tmp_path / "o"), "--no-cache"])
    assert r.exit_code == 2, r.output
    assert "'frames'" in r.output and "dynamic sequence length" in r.output and "GRU" in r.output, r.output
    assert "--input-shape frames=1x49x6" in r.output and "keras.Input((49, 6))" in r.output, r.output
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------- end to end
@pytest.mark.slow  # about 15 s alone (30 s on a loaded machine): over the quick selection's ~10 s
def test_lstm_builds_for_cpu(tmp_path):
    """A Keras 3 LSTM builds for cpu with the fused op, and the report says so."""
    r = build(make("lstm", tmp_path), tmp_path / "o", "cpu", tmp_path / "tmp")
    assert r.returncode == 0, r.stderr[-3000:]
    rep = report(tmp_path / "o", "cpu")
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in {row["op"] for row in rep["ops"]["ops"]}
    assert any(re.search(r"LSTM lstm\w* -> UNIDIRECTIONAL_SEQUENCE_LSTM", n) for n in rep["model"]["notes"]), rep[
        "model"
    ]


@pytest.mark.slow
def test_keyword_spotting_lstm_builds_for_cpu_and_mcu_and_runs_in_tflm(tmp_path):
    """Issue 19's model: Input(49, 10) -> LSTM(64) -> Dense(12, softmax); the int8 artifact is at
    most 1.5x its int8 weights, and the mcu one runs in the TFLM interpreter."""
    import keras

    path = make("kws_lstm", tmp_path, steps=49, features=10, classes=12)
    params = keras.models.load_model(path, compile=False).count_params()
    r = build(path, tmp_path / "o", "cpu,mcu", tmp_path / "tmp")
    assert r.returncode == 0, r.stderr[-3000:]
    mcu = report(tmp_path / "o", "mcu")
    assert mcu["ops"]["ops"][0]["op"] == "UNIDIRECTIONAL_SEQUENCE_LSTM"
    assert mcu["verify"]["mcu"]["agree"] and any("tflite-micro" in x for x in mcu["verify"]["mcu"]["runtimes"])
    size = (tmp_path / "o" / "mcu" / "model.tflite").stat().st_size
    assert size <= 1.5 * params, (size, params)
    assert not any("calibrate-once" in w for w in r.stderr.splitlines()), "the shared calibration fell back"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["stacked_gru", "bilstm", "simple_rnn", "return_sequences"])
def test_recurrent_forms_build_for_cpu_and_mcu_or_are_refused_naming_the_op(kind, tmp_path):
    r = build(make(kind, tmp_path), tmp_path / "o", "cpu,mcu", tmp_path / "tmp")
    targets = ["cpu", "mcu"]
    assert r.returncode in (0, 3), r.stderr[-3000:]
    if r.returncode == 3:
        assert "unsupported" in r.stderr, r.stderr[-3000:]
        return
    for target in targets:
        rep = report(tmp_path / "o", target)
        notes = " ".join(rep["model"]["notes"])
        assert "recurrent layer rewritten" in notes, notes
        if kind in ("stacked_gru", "simple_rnn"):  # no fused kernel: unrolled, and the report says what it cost
            assert "unrolled over 12 time steps" in notes and "the weights are stored once" in notes, notes
        else:
            assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in {row["op"] for row in rep["ops"]["ops"]}
    assert report(tmp_path / "o", "mcu")["verify"]["mcu"]["agree"]


@pytest.mark.slow
def test_bidirectional_lstm_hidden_state_quantization_agrees_with_its_output(tmp_path):
    """Bidirectional ties each LSTM's output to the concatenation's range; the quantizer left the
    output-state variable and the hidden intermediate at their own ranges, and TFLM and LiteRT read
    the hidden state with different ones (4 steps apart at the output, 80 inside). After alignment the
    three share one quantization and both runtimes agree on every tensor within one step."""
    import keras
    from tensorflow.lite.tools import flatbuffer_utils

    from hwquant.convert import converter
    from hwquant.device.tflite_model import TfliteModel
    from hwquant.plugin.recipe import PRESETS

    path = make("bilstm", tmp_path)
    loaded = converter.load(path)
    rng = np.random.default_rng(0)
    shape = (1, *keras.models.load_model(path, compile=False).inputs[0].shape[1:])
    samples = [{"frames": rng.standard_normal(shape).astype(np.float32)} for _ in range(16)]
    content = converter.convert(loaded, PRESETS["int8-only"], samples)
    obj = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    sg = obj.subgraphs[0]
    lstms = [op for op in sg.operators if flatbuffer_utils.opcode_to_name(obj, op.opcodeIndex).endswith("_LSTM")]
    assert len(lstms) == 2
    for op in lstms:
        out = sg.tensors[op.outputs[0]].quantization
        for t in (sg.tensors[op.inputs[18]], sg.tensors[op.intermediates[4]]):  # output state, hidden intermediate
            assert t.isVariable or t.name.decode().startswith("effective_hidden"), t.name
            assert list(t.quantization.scale) == list(out.scale), t.name
            assert list(t.quantization.zeroPoint) == list(out.zeroPoint), t.name
    from hwquant_backends._tflm import crosscheck

    model = TfliteModel(content, "bilstm")

    feeds = [("serving_default", {"frames": rng.standard_normal(shape).astype(np.float32)}) for _ in range(8)]
    result = crosscheck.compare(model, 2_000_000, feeds)
    assert result["agree"] and all(o["max_diff_steps"] <= 1 for o in result["outputs"].values()), result


@pytest.mark.slow
def test_native_crash_in_the_calibrator_is_exit_4_naming_the_stage(tmp_path):
    """A SavedModel of a Keras 3 LSTM (static batch) converts to a WHILE loop that crashes
    TensorFlow's calibrator (SIGSEGV): hwquant survives it, exit 4 naming the step and the loop."""
    import keras
    import tensorflow as tf

    model = keras.models.load_model(make("lstm", tmp_path), compile=False)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([1, 12, 6], tf.float32, name="frames")],
    )
    archive.write_out(str(tmp_path / "sm"), verbose=False)
    r = build(tmp_path / "sm", tmp_path / "o", "cpu", tmp_path / "tmp")
    assert r.returncode == 4, r.stderr[-3000:]
    assert "the TFLite calibrator crashed (SIGSEGV) while calibrating (in calibrator.py:" in r.stderr, r.stderr[-3000:]
    assert "WHILE" in r.stderr and ".keras" in r.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_unrolled_gru_builds_for_ethos_u(tmp_path):
    """An unrolled stacked GRU over 49 steps has ~1,500 ops: TFLM's per-op structures, not its activations,
    decide the host arena the ethos-u verification runs in (it was too small: exit 4 "could not allocate")."""
    r = build(make("stacked_gru", tmp_path, steps=49, features=10), tmp_path / "o", "ethos-u", tmp_path / "tmp")
    assert r.returncode == 0, r.stderr[-3000:]
    rep = report(tmp_path / "o", "ethos-u")
    assert rep["verify"]["ethos-u"]["agree"], rep["verify"]
    assert sum(rep["model"]["op_counts"].values()) > 1000, rep["model"]["op_counts"]
