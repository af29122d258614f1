"""hwquant inspect: IO with scale/zero point, op counts by type and dtype, quantization, bytes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hwquant.cli.runtime import inspect as inspect_cli
from hwquant.device.inspect import inspect_file
from tests.helpers import models


@pytest.fixture(scope="module")
def tfl(tflite_models):
    return tflite_models


def test_inspect_int8_model(tfl):
    info = inspect_file(tfl["int8-io"])
    sig = info["signatures"]["serving_default"]
    (inp,), (out,) = sig["inputs"], sig["outputs"]
    assert inp["name"] == models.KERAS_INPUT and inp["dtype"] == "int8" and inp["shape"] == [1, *models.KERAS_SHAPE]
    assert inp["scale"] > 0 and -128 <= inp["zero_point"] <= 127
    assert out["name"] == "output_0" and out["dtype"] == "int8" and out["scale"] == pytest.approx(1 / 256)
    ops = {(r["op"], r["dtype"]): r["count"] for r in info["ops"]}
    assert ops[("CONV_2D", "int8")] == 2 and ops[("FULLY_CONNECTED", "int8")] == 1
    assert info["op_total"] == sum(ops.values())
    q = info["quantization"]
    convw = [t for t in q["tensors"] if t["constant"] and t["dtype"] == "int8" and len(t["shape"]) == 4]
    assert {t["count"] for t in convw} == {4, 8}  # per-axis: one scale per output channel
    for t in convw:
        assert t["scheme"] == "per-axis" and t["axis"] == 0 and t["zero_point"] == 0
        assert 0 < t["scale_min"] <= t["scale_max"]
    acts = [t for t in q["tensors"] if not t["constant"]]
    assert acts and all(t["scheme"] == "per-tensor" for t in acts)
    b = info["bytes"]
    assert b["weights"] + b["graph"] == info["size_bytes"] == tfl["int8-io"].stat().st_size
    assert b["weights_by_dtype"]["int8"] > b["weights_by_dtype"].get("int32", 0)


def test_inspect_float16_model(tfl):
    info = inspect_file(tfl["float16"])
    assert info["quantization"]["tensors"] == []
    assert set(info["bytes"]["weights_by_dtype"]) >= {"float16"}
    assert any(r["op"] == "DEQUANTIZE" for r in info["ops"])
    inp = info["signatures"]["serving_default"]["inputs"][0]
    assert inp["dtype"] == "float32" and inp["scale"] is None and inp["zero_point"] is None
    f32 = inspect_file(tfl["float32"])
    assert info["bytes"]["weights"] < 0.6 * f32["bytes"]["weights"]


def test_inspect_cli_table_and_json(tfl):
    runner = CliRunner()
    res = runner.invoke(inspect_cli, [str(tfl["int8-io"])])
    assert res.exit_code == 0, res.output
    for text in ("Inputs and outputs", "Ops by type and dtype", "CONV_2D", "per-axis", "weights"):
        assert text in res.output
    res = runner.invoke(inspect_cli, [str(tfl["float32"]), "--json"])
    assert res.exit_code == 0
    assert json.loads(res.output)["signatures"]["serving_default"]["outputs"][0]["shape"] == [1, models.N_CLASSES]


def test_inspect_bad_files_exit_2(tmp_path):
    runner = CliRunner()
    res = runner.invoke(inspect_cli, [str(tmp_path / "missing.tflite")])
    assert res.exit_code == 2 and "no such file" in res.output
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    res = runner.invoke(inspect_cli, [str(junk)])
    assert res.exit_code == 2 and "not a TensorFlow Lite flatbuffer" in res.output


def test_runtime_side_never_imports_tensorflow(tfl, tmp_path):
    """inspect, bench, the click commands and the GPU backend's preflight load without TensorFlow."""
    code = f"""
import sys
from hwquant.cli.runtime import bench, inspect
from hwquant.device.inspect import inspect_file
from hwquant.device.bench import bench as run_bench, BenchOptions
from hwquant import CheckRequest
from hwquant_backends.gpu import GpuBackend
from hwquant.device.tflite_model import TfliteModel
import importlib.util
if importlib.util.find_spec('hwquant.cli'):  # the main CLI registers bench/inspect: it must stay TF-free too
    import hwquant.cli
inspect_file({str(tfl["int8-io"])!r})
run_bench([{str(tfl["float16"])!r}], BenchOptions(num_runs=2))
GpuBackend().check(TfliteModel.from_file({str(tfl["float16"])!r}), CheckRequest())
bad = [m for m in sys.modules if m == 'tensorflow' or m.startswith(('tensorflow.', 'keras', 'tf_keras'))]
assert not bad, bad
print('ok')
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-2000:]
