"""Float ops left in an int8-only model (LayerNorm keeps NEG and QUANTIZE float32) on the integer-only
targets, each as its check requires (issue 18 item 4): mcu stops with exit 3 naming them and
--mcu-allow-float (they run only with it, on a board with an FPU); ethos-u and edgetpu run them on the
CPU, and the verdict lists them as fallback. Real converter, TFLM, Vela and the Edge TPU mapping."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.device.tflite_model import TfliteModel
from hwquant.plugin.facts import CheckRequest
from hwquant.plugin.manager import registry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def layernorm(tmp_path_factory):
    import tensorflow as tf

    d = tmp_path_factory.mktemp("ln")
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((16,), name="x")
    h = tf.keras.layers.LayerNormalization()(tf.keras.layers.Dense(16)(inp))
    tf.keras.Model(inp, tf.keras.layers.Dense(4)(h)).save(d / "ln.keras")
    np.savez(d / "d.npz", x=np.random.default_rng(0).normal(size=(250, 16)).astype(np.float32))
    return d / "ln.keras", d / "d.npz"


def _build(layernorm, out, target, *extra):
    model, data = layernorm
    args = ["build", str(model), "-t", target, "--data", str(data), "--out", str(out), "--no-cache", *extra]
    r = CliRunner().invoke(main, args)
    report = out / target / "report.json"
    return r, (json.loads(report.read_text()) if report.is_file() else None)


def test_mcu_refuses_float_ops_without_allow_float_naming_them_and_the_option(layernorm, tmp_path):
    r, rep = _build(layernorm, tmp_path / "o", "mcu")
    assert r.exit_code == 3, r.output
    text = " ".join(r.output.split())
    assert "2 op(s) cannot run on target 'mcu': NEG (float32; a float32 op" in text and "QUANTIZE (float32;" in text
    assert "--mcu-allow-float" in text and "Traceback" not in text
    assert rep is None  # nothing was written


def test_mcu_refuses_float_ops_on_a_board_without_fpu_even_when_allowed(layernorm, tmp_path):
    r, _ = _build(layernorm, tmp_path / "o", "mcu", "--mcu-allow-float", "--mcu-board", "rp2040")
    assert r.exit_code == 3 and "board 'rp2040' has no single-precision FPU" in " ".join(r.output.split())


def test_mcu_with_allow_float_builds_and_the_verdict_names_the_float_ops(layernorm, tmp_path):
    r, rep = _build(layernorm, tmp_path / "o", "mcu", "--mcu-allow-float", "--mcu-board", "cortex-m4")
    assert r.exit_code == 0, r.output
    assert rep["recipe"]["name"] == "int8-only" and rep["quantized"]["float_ops"] == ["NEG", "QUANTIZE"]
    assert "2 float ops remain: NEG, QUANTIZE (float32)" in r.output
    assert {(o["operator"], o["placement"]) for o in rep["ops"]["table"] if o["dtype"] == "float32"} == {
        ("NEG", "target"),
        ("QUANTIZE", "target"),
    }  # TFLM runs them (float32 kernels) on the FPU


def test_ethos_u_runs_the_float_ops_on_the_cortex_m_and_the_verdict_lists_them(layernorm, tmp_path):
    r, rep = _build(layernorm, tmp_path / "o", "ethos-u")
    assert r.exit_code == 0, r.output
    floats = {o["operator"]: o for o in rep["ops"]["table"] if o["dtype"] == "float32"}
    assert set(floats) == {"NEG", "QUANTIZE"} and all(o["placement"] == "fallback" for o in floats.values())
    assert all(o["status"] == "CPU (TFLM)" for o in floats.values())
    assert "2 float ops remain: NEG, QUANTIZE (float32)" in r.output
    line = next(x for x in r.output.splitlines() if "fall back to the Cortex-M (TFLM)" in x)
    assert "NEG (float32)" in line and "QUANTIZE (float32)" in line


def test_edgetpu_maps_the_float_ops_to_the_cpu(layernorm, tmp_path):
    """The Edge TPU compiler is not installed here: its mapping (the check every edgetpu build runs first)
    is asked about the int8-only artifact that the ethos-u build wrote."""
    r, _ = _build(layernorm, tmp_path / "o", "ethos-u")
    assert r.exit_code == 0, r.output
    model = TfliteModel((tmp_path / "o" / "ethos-u" / "model.tflite").read_bytes(), "artifact")
    report = registry().get("edgetpu").check(model, CheckRequest())
    floats = [v for v in report.verdicts if v.dtype == "float32"]
    assert {v.op for v in floats} == {"NEG", "QUANTIZE"} and all(v.placement == "fallback" for v in floats)
    from hwquant.report.verdict import block

    rep = {"target": "edgetpu", "recipe": {"name": "int8-only", "fields": {}}, "ops": {"table": report.table()}}
    line = next(x for x in block(rep) if "fall back to the host CPU" in x)
    assert "NEG (float32)" in line and "QUANTIZE (float32)" in line


def test_targets_that_built_beside_a_failed_one_record_their_gates(layernorm, tmp_path):
    """mcu refuses the float ops (exit 3) while cpu builds: cpu's report.json still records the gate's
    verdict, so `hwquant check` judges it as the build did, and the command keeps mcu's exit code."""
    model, data = layernorm
    out = tmp_path / "o"
    args = ["build", str(model), "-t", "cpu,mcu", "--data", str(data), "--out", str(out), "--no-cache"]
    r = CliRunner().invoke(main, [*args, "--max-size", "1"])
    assert r.exit_code == 3, r.output
    assert "gate failed: cpu" in " ".join(r.output.split()) and "max-size" in r.output
    assert not (out / "mcu").exists()
    gates = json.loads((out / "cpu" / "report.json").read_text())["gates"]
    assert gates["limits"] == {"max_size": 1} and gates["verdict"] == "fail", gates
    checked = CliRunner().invoke(main, ["check", str(out)])
    assert checked.exit_code == 5 and "max-size" in checked.output, checked.output
