"""hwquant bench: timing loop, stats, inputs, fidelity vs a reference, side-by-side JSON, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.cli.runtime import bench as bench_cli
from hwquant.device import metrics, runtime
from hwquant.device.bench import BenchOptions, bench, latency_stats, timed_runs
from hwquant.device.bench_render import rows
from tests.helpers import models


@pytest.fixture(scope="module")
def tfl(tflite_models):
    return tflite_models


@pytest.fixture(scope="module")
def data_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench_data") / "data.npz"
    rng = np.random.default_rng(1)
    np.savez(path, **{models.KERAS_INPUT: rng.random((12, *models.KERAS_SHAPE), dtype=np.float32)})
    return path


def _run(args):
    res = CliRunner().invoke(bench_cli, [str(a) for a in args])
    return res.exit_code, res.output


# -- metrics (shared with the verify stage) --------------------------------------------------------
def test_metrics_known_values():
    ref = np.array([[3.0, 4.0]])
    got = np.array([[3.0, 3.0]])
    assert metrics.max_abs_error(ref, got) == 1.0
    assert metrics.mean_abs_error(ref, got) == 0.5
    assert metrics.snr_db(ref, got) == pytest.approx(10 * math.log10(25.0))
    assert metrics.cosine(ref, got) == pytest.approx(21 / (5 * math.sqrt(18)))
    assert metrics.snr_db(ref, ref) == math.inf
    assert metrics.cosine(np.zeros(3), np.zeros(3)) == 1.0


def test_metrics_compare_top1_only_for_classifier_shapes():
    ref = {"p": [np.array([[0.1, 0.9]]), np.array([[0.8, 0.2]])], "v": [np.array([[1.0]]), np.array([[2.0]])]}
    got = {"p": [np.array([[0.2, 0.8]]), np.array([[0.4, 0.6]])], "v": [np.array([[1.0]]), np.array([[2.5]])]}
    out = metrics.compare(ref, got)
    assert out["p"]["top1_agreement"] == 0.5 and out["p"]["samples"] == 2
    assert "top1_agreement" not in out["v"]
    assert metrics.json_safe({"snr": math.inf, "x": [np.float32(1.5)]}) == {"snr": None, "x": [1.5]}


def test_quantize_dequantize_round_trip():
    detail = {"dtype": np.int8, "quantization": (0.5, -3), "quantization_parameters": {}}
    x = np.array([-70.0, -1.0, 0.0, 2.25, 70.0], np.float32)
    q = runtime.quantize(x, detail)
    assert q.dtype == np.int8 and q.tolist() == [-128, -5, -3, 2, 127]  # round half to even, clipped
    assert runtime.dequantize(q, detail).tolist() == [-62.5, -1.0, 0.0, 2.5, 65.0]
    fdetail = {"dtype": np.float32, "quantization": (0.0, 0)}
    # a float tensor takes real values as they are, both ways
    for out in (runtime.quantize(x, fdetail), runtime.dequantize(x, fdetail)):
        assert out.dtype == np.float32 and out.tolist() == x.tolist()
    assert runtime.quantize(x.astype(np.float64), fdetail).dtype == np.float32  # cast to the tensor's dtype


# -- the timing loop ---------------------------------------------------------------------------------
def test_timed_runs_calls_invoke_exactly_n_times_and_reports_chunks():
    calls, seen = [], []
    times = timed_runs(lambda: calls.append(1), 25, max_secs=60, chunk=10, on_chunk=seen.append)
    assert len(calls) == len(times) == 25 and seen == [10, 20, 25]
    assert all(t >= 0 for t in times)


def test_timed_runs_stops_at_max_secs():
    import time

    times = timed_runs(lambda: time.sleep(0.01), 10_000, max_secs=0.1, chunk=2)
    assert 2 <= len(times) < 100


def test_latency_stats_order():
    s = latency_stats([5_000_000, 1_000_000, 2_000_000, 3_000_000])
    assert s["count"] == 4 and s["min"] == 1.0 and s["max"] == 5.0 and s["mean"] == 2.75
    assert s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["max"]


# -- whole runs ----------------------------------------------------------------------------------------
def test_bench_side_by_side_json(tfl):
    code, out = _run([tfl["float32"], tfl["float16"], tfl["int8"], "--num-runs", 30, "--warmup-runs", 2, "--json"])
    assert code == 0, out
    report = json.loads(out)
    ms = report["models"]
    assert [m["model"] for m in ms] == [str(tfl[r]) for r in ("float32", "float16", "int8")]
    for m in ms:
        lat = m["latency_ms"]
        assert lat["count"] == 30 and m["warmup"]["count"] == 2
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert m["first_inference_ms"] > 0 and m["load_ms"] > 0 and m["init_ms"] > 0
        assert m["throughput_per_s"] == pytest.approx(1e3 / lat["mean"])
        assert m["peak_rss_mb"] > 10 and m["inputs"] == "random"
    assert ms[0]["vs_first"] == {"speedup": 1.0, "speedup_of": "median latency", "size_ratio": 1.0}
    assert ms[2]["vs_first"]["size_ratio"] == pytest.approx(tfl["int8"].stat().st_size / tfl["float32"].stat().st_size)
    assert ms[2]["vs_first"]["size_ratio"] < 0.6  # int8 weights
    assert report["runtime"]["runtime"].startswith(("ai-edge-litert", "tflite-runtime"))


def test_bench_fidelity_against_reference(tfl, data_npz):
    report = bench(
        [str(tfl["float32"]), str(tfl["float16"]), str(tfl["int8-io"])],
        BenchOptions(num_runs=5, data=str(data_npz), reference=str(tfl["float32"])),
    )
    f32, f16, i8 = (m["fidelity"]["outputs"]["output_0"] for m in report["models"])
    assert f32["snr_db"] == math.inf and f32["max_abs_error"] == 0.0 and f32["top1_agreement"] == 1.0
    assert f32["samples"] == 12
    assert f16["snr_db"] > 50 and f16["cosine"] > 0.9999
    assert 15 < i8["snr_db"] < f16["snr_db"] and i8["max_abs_error"] > 0 and 0 <= i8["top1_agreement"] <= 1
    assert report["models"][2]["inputs"] == f"data:{data_npz}"
    labels = [label for label, _ in rows(report)]
    assert "output_0: SNR" in labels and "speed-up vs first (median)" in labels and "output_0: top-1 agree" in labels
    assert json.dumps(metrics.json_safe(report), allow_nan=False)  # strict JSON: inf became null


def test_bench_npy_table_and_profile(tfl, tmp_path):
    npy = tmp_path / "one.npy"
    np.save(npy, np.random.default_rng(0).random(models.KERAS_SHAPE, dtype=np.float32))  # no batch dim
    code, out = _run([tfl["int8-io"], "--data", npy, "--num-runs", 3, "--profile", "--num-threads", 1])
    assert code == 0, out
    assert "int8-io.tflite" in out and "p99" in out and "peak RSS" in out
    assert "per-op profile" in out and "benchmark_model" in out


def test_bench_max_secs_stops_early(tfl):
    report = bench([str(tfl["float32"])], BenchOptions(num_runs=10_000_000, max_secs=0.3, warmup_runs=0))
    m = report["models"][0]
    assert m["stopped_by_max_secs"] and 0 < m["latency_ms"]["count"] < 10_000_000 and m["warmup"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "{bad_shape}"], "does not fit the model input"),
        (["--data", "{nan}"], "NaN"),
        (["--reference", "{model}"], "--reference needs --data"),
        (["--num-runs", "0"], "Invalid value for '--num-runs': 0 is not in the range 1<=x<=10000000"),
    ],
)
def test_bench_bad_input_exit_2(tfl, tmp_path, args, message):
    bad_shape, nan = tmp_path / "bad.npy", tmp_path / "nan.npz"
    np.save(bad_shape, np.zeros((1, 3, 3), np.float32))
    x = np.zeros((1, *models.KERAS_SHAPE), np.float32)
    x[0, 0, 0, 0] = np.nan
    np.savez(nan, image=x)
    args = [a.format(bad_shape=bad_shape, nan=nan, model=tfl["float32"]) for a in args]
    code, out = _run([tfl["float32"], *args])
    assert code == 2 and message in out


def test_bench_missing_and_corrupt_models(tmp_path):
    code, out = _run([tmp_path / "missing.tflite"])
    assert code == 2 and "no such file" in out
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer" * 10)
    code, out = _run([junk])
    assert code == 2 and "junk.tflite" in out


def test_bench_gpu_without_adapter_exits_4(tfl):
    from hwquant_backends.gpu.gpu_check import probe

    if probe()["available"]:
        pytest.skip("this machine has a GPU adapter; the no-adapter path cannot be shown here")
    code, out = _run([tfl["float16"], "--accelerator", "gpu", "--num-runs", 2])
    assert code == 4, out
    assert "no GPU adapter" in out and "hint:" in out and "Vulkan" in out


def test_side_by_side_columns_tell_same_named_models_apart():
    from hwquant.device.bench_render import column_labels

    assert column_labels(["b/cpu/model.tflite", "b/gpu/model.tflite"]) == ["cpu/model.tflite", "gpu/model.tflite"]
    assert column_labels(["a.tflite", "x/b.tflite"]) == ["a.tflite", "b.tflite"]


def _other_model(tmp_path, shape, outputs=10):
    """A float32 .tflite with input ``shape`` (batch 1) and ``outputs`` classes: a reference of another model."""
    tf = models._tf()
    x = tf.keras.Input(shape=shape, batch_size=1, name=models.KERAS_INPUT)
    y = tf.keras.layers.Dense(outputs)(tf.keras.layers.Flatten()(x))
    path = tmp_path / f"other-{'x'.join(map(str, shape))}-{outputs}.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(x, y)).convert())
    return path


def test_bench_reference_with_other_inputs_is_exit_2_naming_them(tfl, data_npz, tmp_path):
    other = _other_model(tmp_path, (4, 4, 1))
    code, out = _run([tfl["int8-io"], "--data", data_npz, "--reference", other, "--num-runs", 2])
    assert code == 2, out
    assert "its inputs (image [1, 4, 4, 1]) differ from the model's (image [1, 8, 8, 1])" in " ".join(out.split()), out


def test_bench_reference_with_other_outputs_is_exit_2(tfl, data_npz, tmp_path):
    other = _other_model(tmp_path, models.KERAS_SHAPE, outputs=3)
    code, out = _run([tfl["int8-io"], "--data", data_npz, "--reference", other, "--num-runs", 2])
    assert code == 2 and "outputs do not match" in out, out


def test_snr_of_an_output_holding_inf_or_nan_is_nan_not_an_exception():
    import math

    import numpy as np

    from hwquant.device.metrics import snr_db

    ref = np.ones(4, np.float32)
    assert math.isnan(snr_db(ref, np.array([1, np.inf, 1, 1], np.float32)))
    assert math.isnan(snr_db(ref, np.array([1, np.nan, 1, 1], np.float32)))
    assert snr_db(ref, ref) == math.inf
    assert snr_db(np.zeros(4), np.ones(4)) == -math.inf
    assert snr_db(np.full(4, 1e-160), np.full(4, 1e30)) == -math.inf  # the ratio underflows to 0


def test_speed_up_compares_medians_so_one_outlier_run_does_not_decide_it():
    from hwquant.device.bench import add_ratios, latency_stats

    steady = [1_000_000] * 20  # 1 ms per run
    one_outlier = [1_030_000] * 19 + [600_000_000]  # 3 % slower, and one run of 600 ms
    results = [
        {"latency_ms": latency_stats(steady), "size_bytes": 100},
        {"latency_ms": latency_stats(one_outlier), "size_bytes": 50},
    ]
    add_ratios(results)
    assert results[1]["vs_first"]["speedup"] == pytest.approx(1 / 1.03)
    assert results[1]["latency_ms"]["mean"] > 25 * results[0]["latency_ms"]["mean"]  # what the mean would have said
    assert results[1]["vs_first"]["size_ratio"] == 0.5


def test_bench_table_becomes_lists_at_80_columns_with_every_model_named_whole(tfl, tmp_path):
    """Three models with long folder names do not fit 80 columns side by side: each measure is then a
    list of `model: value` lines, no column folded or cut (at 200 columns it stays one table)."""
    from rich.console import Console

    from hwquant.device.bench_render import render

    paths = []
    for recipe in ("float32", "float16", "int8"):
        d = tmp_path / f"a_rather_long_build_folder_for_the_{recipe}_candidate_of_this_benchmark"
        d.mkdir()
        paths.append(d / "model.tflite")
        paths[-1].write_bytes(tfl[recipe].read_bytes())
    code, out = _run([*paths, "--num-runs", 5, "--warmup-runs", 1, "--json"])
    assert code == 0, out
    report = json.loads(out)
    narrow = Console(width=80, record=True, color_system=None, force_terminal=False)
    render(report, narrow)
    text = narrow.export_text()
    assert "…" not in text and "┃" not in text  # no table: lists
    for p in paths:
        label = f"{p.parent.name}/model.tflite"
        assert any(line.strip().startswith(f"{label}:") for line in text.splitlines()), text
    wide = Console(width=400, record=True, color_system=None, force_terminal=False)
    render(report, wide)
    assert "┃" in wide.export_text() or "│" in wide.export_text()
