"""Overhead of `hwquant bench`'s timing loop over a bare LiteRT interpreter loop.

    python benchmarks/bench_overhead.py [--runs 2000] [--repeats 5] [--json OUT.json]

Builds two float models with TensorFlow (a microsecond-scale one, where any per-run overhead
shows most, and a millisecond-scale CNN), then for each, alternating R times:

  bare     interp.invoke() N times; wall time / N
  loop     hwquant.bench.timed_runs(invoke, N): wall time of the whole loop / N
  reported the mean and p50 latency hwquant bench reports (from its per-run clock reads)

and prints the medians and the ratios to bare (1.00 = no overhead). The per-run mean is
sensitive to preemption outliers on a loaded machine (one 4 ms tick in 2000 runs of 1 us
triples it); p50 is not. No assertions: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from hwquant.device import runtime
from hwquant.device.bench import BenchOptions, bench_model, timed_runs


def build_models(out: Path) -> dict[str, Path]:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    L = tf.keras.layers
    tiny = tf.keras.Sequential(
        [tf.keras.Input((8, 8, 1), batch_size=1), L.Conv2D(4, 3, activation="relu"), L.Flatten(), L.Dense(10)]
    )
    cnn = tf.keras.Sequential(
        [
            tf.keras.Input((64, 64, 3), batch_size=1),
            L.Conv2D(32, 3, strides=2, activation="relu"),
            L.Conv2D(64, 3, activation="relu"),
            L.Conv2D(64, 3, activation="relu"),
            L.GlobalAveragePooling2D(),
            L.Dense(10),
        ]
    )
    paths = {}
    for name, model in (("tiny", tiny), ("cnn64", cnn)):
        paths[name] = out / f"{name}.tflite"
        paths[name].write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return paths


def bare_loop(path: Path, n: int) -> float:
    """Mean seconds per invoke of the plainest possible loop."""
    interp = runtime.make_interpreter(path.read_bytes())
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], np.random.default_rng(0).random(d["shape"], dtype=np.float32))
    invoke = interp.invoke
    invoke()
    t0 = time.perf_counter()
    for _ in range(n):
        invoke()
    return (time.perf_counter() - t0) / n


def hwquant_loop(path: Path, n: int) -> float:
    """Mean seconds per run of hwquant's timing loop, measured from outside the loop."""
    interp = runtime.make_interpreter(path.read_bytes())
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], np.random.default_rng(0).random(d["shape"], dtype=np.float32))
    interp.invoke()
    t0 = time.perf_counter()
    timed_runs(interp.invoke, n, max_secs=1e9, chunk=max(1, n // 10))
    return (time.perf_counter() - t0) / n


def reported(path: Path, n: int) -> tuple[float, float]:
    """(mean, p50) seconds per run as `hwquant bench` reports them."""
    lat = bench_model(path, BenchOptions(num_runs=n, warmup_runs=1))["latency_ms"]
    return lat["mean"] / 1e3, lat["p50"] / 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = build_models(Path(tmp))
        results = {}
        for name, path in paths.items():
            n = args.runs if name == "tiny" else max(50, args.runs // 20)
            samples = {"bare": [], "loop": [], "mean": [], "p50": []}
            for _ in range(args.repeats):  # alternate so drift hits all alike
                samples["bare"].append(bare_loop(path, n))
                samples["loop"].append(hwquant_loop(path, n))
                mean, p50 = reported(path, n)
                samples["mean"].append(mean)
                samples["p50"].append(p50)
            med = {k: statistics.median(v) for k, v in samples.items()}
            results[name] = {
                "runs": n,
                "repeats": args.repeats,
                **{f"{k}_us": v * 1e6 for k, v in med.items()},
                **{f"{k}_over_bare": med[k] / med["bare"] for k in ("loop", "mean", "p50")},
            }
    for name, r in results.items():
        print(
            f"{name:6s} bare {r['bare_us']:9.2f} us | hwquant loop {r['loop_us']:9.2f} us (x{r['loop_over_bare']:.3f})"
            f" | reported mean {r['mean_us']:9.2f} us (x{r['mean_over_bare']:.3f}), p50 {r['p50_us']:9.2f} us"
            f" (x{r['p50_over_bare']:.3f})  [{r['runs']} runs, median of {r['repeats']}]"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
